"""`consentry user`: placeholder registered by the lead; the owner of this module replaces it."""

from __future__ import annotations

import click


@click.group("user")
def user_group() -> None:
    """(being built)"""
