"""``python -m consentry``: the same command line as the ``consentry`` script."""

from consentry.cli.main import main

if __name__ == "__main__":
    main(prog_name="consentry")
