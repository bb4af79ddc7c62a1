"""`consentry pack`: a victim's sealed hash pack, made on their own device.

The photos are read here and go nowhere: the pack holds their hashes and face templates only,
sealed to the matching service's public key (``services.matching.packs``)."""

from __future__ import annotations

from pathlib import Path

import click

from consentry.cli.common import EXIT_MISUSE, fail, plain
from consentry.services.matching.packs import MAX_PHOTOS, PackError, PackPhoto, make_pack

EXAMPLE = """\b
Examples:
  consentry service pack-key > service.key        # on the service (its operator)
  consentry pack me1.jpg me2.jpg --to service.key --consent consent.json --out my.pack

\b
The consent file (JSON or YAML), as enrollment takes it:
  {"consented_by": "Jane Doe", "consented_at": "2026-03-02",
   "scope": "block intimate images of me on this platform", "recorded_by": "Jane Doe"}
"""


def _key_text(value: str) -> str:
    """``--to``: the base64 key itself, or a file holding it."""
    path = Path(value)
    if len(value) != 44 or path.exists():
        try:
            return path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            fail(EXIT_MISUSE, f"--to: {value} is neither a base64 public key nor a readable file")
        except (OSError, UnicodeDecodeError) as exc:
            fail(EXIT_MISUSE, f"--to: cannot read {value}: {exc}")
    return value


@click.command(
    "pack",
    short_help="Seal a hash pack of your photos for a matching service.",
    epilog=EXAMPLE,
)
@click.argument("photos", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--to",
    "to",
    required=True,
    metavar="KEY",
    help="The service's public key (base64), or a file holding it.",
)
@click.option(
    "--consent",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Consent record (JSON or YAML): who consents, to what.",
)
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Pack file."
)
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
def pack_cmd(photos: tuple[Path, ...], to: str, consent: Path, out: Path, force: bool) -> None:
    """Hash PHOTOS on this device and seal the hashes for one matching service.

    The pack holds, per photo, its PDQ (with mirrored and rotated variants), MD5, SHA-256 and
    the largest face's template, and the consent record: no image, no thumbnail, no file name.
    Only the service holding the key's secret half can open it. Up to 1,000 photos."""
    if out.exists() and not force:
        fail(EXIT_MISUSE, f"{out} exists; use --force to replace it")
    if len(photos) > MAX_PHOTOS:
        fail(EXIT_MISUSE, f"{len(photos)} photos: a pack holds at most {MAX_PHOTOS}")
    key = _key_text(to)
    total = len(photos)

    def progress(photo: PackPhoto) -> None:
        held = ["hashes"] + (["PDQ"] if photo.pdq else []) + (["face"] if photo.face else [])
        note = f" ({photo.note})" if photo.note else ""
        click.echo(f"photo {photo.number}/{total}: {' + '.join(held)}{note}", err=True)

    try:
        built = make_pack(list(photos), key, consent, progress=progress)
    except PackError as exc:
        fail(EXIT_MISUSE, str(exc))
    try:
        out.write_bytes(built.blob)
    except OSError as exc:
        fail(EXIT_MISUSE, f"cannot write {out}: {exc.strerror or exc}")
    click.echo(
        f"pack {plain(out)}: {total} photo(s), {built.pdq_hashes} with PDQ, "
        f"{built.templates} face template(s); consent of {plain(built.consented_by)} "
        f"({len(built.blob):,} bytes, sealed)"
    )
