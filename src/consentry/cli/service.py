"""`consentry service`: the matching service for platforms (part 5 builds it out)."""

from __future__ import annotations

import click


@click.group("service", short_help="Run the matching service for platforms (hash banks, HMA API).")
def service_group() -> None:
    """The matching service (placeholder: see docs/service-contract.md)."""


def _app_factory() -> object:
    from consentry.matchapi.app import create_app

    return create_app
