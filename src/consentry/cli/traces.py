"""`consentry traces`: traces of creation in a case's browser profiles (filled by issue 16)."""

from __future__ import annotations

import click


@click.group("traces")
def traces_group() -> None:
    """Traces of creation: visits to AI undress / face-swap services, and their downloads."""
