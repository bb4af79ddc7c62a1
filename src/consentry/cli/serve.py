"""`consentry serve`: placeholder registered by the lead; the owner of this module replaces it."""

from __future__ import annotations

import click


@click.command("serve")
def serve_cmd() -> None:
    """(being built)"""
