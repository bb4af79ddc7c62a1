"""`consentry pack`: a victim's sealed hash pack, made on their own device (part 4 builds it)."""

from __future__ import annotations

import click


@click.command("pack", short_help="Seal a hash pack of your photos for a matching service.")
def pack_cmd() -> None:
    """Placeholder: see docs/service-contract.md."""
