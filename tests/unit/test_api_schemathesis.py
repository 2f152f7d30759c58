"""Schemathesis over the API's OpenAPI: no server error, every answer fits the schema."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ledger.treasury.view import BankDetails, MemoryTreasuryView
from tests.unit.test_api import build, seeded

# The live feed streams forever: it is tested on its own (tests/unit/test_api.py, tests/e2e).
app = build(seeded(), min_block_wait_seconds=0.0)
app.state.treasury = MemoryTreasuryView(BankDetails("FR7630006000011234567890189", "Monnaie du 3e"))
schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/v1/feed")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_never_fails_and_always_answers_as_documented(case: schemathesis.Case) -> None:
    case.call_and_validate(
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ]
    )
