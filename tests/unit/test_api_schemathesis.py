"""Schemathesis over the API's OpenAPI with every check (`--checks all`): no server error, every
answer fits the schema, the schema allows exactly what the API takes (positive data accepted,
negative data refused). Bounded examples, so it runs in CI.

The private routes are exercised signed in as Alice (a session swapped in with
dependency_overrides): her own data answers 200, anyone else's 403. One status is accepted for
valid data besides schemathesis' defaults: 425, the answer to a valid `min_block` the indexer has
not reached yet (the server's state, not a refusal of the input; documented on each route).
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config._checks import PositiveDataAcceptanceConfig

from ledger.treasury.view import BankDetails, MemoryTreasuryView
from tests.unit.test_api import ALICE, build, seeded, signed_in

load_all_checks()
# The live feed streams forever: it is tested on its own (tests/unit/test_api.py, tests/e2e).
app = signed_in(build(seeded(), min_block_wait_seconds=0.0), ALICE)
app.state.treasury = MemoryTreasuryView(BankDetails("FR7630006000011234567890189", "Monnaie du 3e"))
schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/v1/feed")
schema.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(
    expected_statuses=["2xx", "3xx", "401", "403", "404", "409", "425", "429", "5xx"]
)
ALL_CHECKS = CHECKS.get_all()


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_never_fails_and_always_answers_as_documented(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=ALL_CHECKS)
