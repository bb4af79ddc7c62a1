"""schemathesis against the matching service's own OpenAPI document (/openapi.json): every
operation gets generated requests (valid and invalid), authenticated with a real admin key of
a real ``MatchingService``; no answer may be a 5xx, and every answer must conform to the
document (status code, content type, headers, body schema). Bounded: a few examples per
operation, the whole module well under 90 s on two cores."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from consentry.matchapi.app import create_app
from consentry.matchapi.port import MatchService
from consentry.services.matching.service import open_service
from consentry.services.matching.types import Caller, ServiceRole

from .matchapi_support import random_pdq

MAX_EXAMPLES = 6


@dataclass
class Fuzzed:
    app: Any
    token: str
    key_id: int


# The document does not depend on the service (only requests do), so it is read at import
# from an app over no service; the requests go to an app over a real one (the fixture).
# (schemathesis.pytest.from_fixture would be the lazy way; it breaks on pytest 9.)
schema = schemathesis.openapi.from_dict(create_app(cast(MatchService, object())).openapi())


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    home: Path = tmp_path_factory.mktemp("fuzzed-service")
    with open_service(home, start_sync=False) as service:
        admin = Caller.local()
        new = service.add_key(admin, ServiceRole.ADMIN, "schemathesis", rate_per_minute=0)
        # something to find: a bank with an item, so lookups and reads have real answers
        service.create_bank(admin, "FUZZ")
        service.add_content(admin, "FUZZ", [service.parse_signal("pdq", random_pdq(5))])
        yield Fuzzed(create_app(service), new.token, new.info.id)


@schema.parametrize()
# application/zip (a hashpack) has no serializer in schemathesis: its other media types are fuzzed
@pytest.mark.filterwarnings("ignore:Skipped test cases with unsupported payload media types")
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_5xx_and_answers_conform(case: schemathesis.Case, fuzzed: Fuzzed) -> None:
    params = case.path_parameters or {}
    if case.method == "DELETE" and str(params.get("key_id")) == str(fuzzed.key_id):
        params["key_id"] = fuzzed.key_id + 1_000_000  # the fuzzer must not disable its own key
    case.call_and_validate(
        app=fuzzed.app,
        headers={"Authorization": f"Bearer {fuzzed.token}"},
        checks=[
            checks.not_a_server_error,
            checks.status_code_conformance,
            checks.content_type_conformance,
            checks.response_headers_conformance,
            checks.response_schema_conformance,
        ],
    )
