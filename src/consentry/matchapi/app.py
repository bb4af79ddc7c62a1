"""The FastAPI application of the matching service (part 3 builds it out)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI


def create_app(service: object) -> FastAPI:
    raise NotImplementedError("the matching service's HTTP shell is being built (issue 15)")
