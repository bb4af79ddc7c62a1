"""`consentry requests`: placeholder registered by the lead; the owner of this module replaces it."""

from __future__ import annotations

import click


@click.group("requests")
def requests_group() -> None:
    """(being built)"""
