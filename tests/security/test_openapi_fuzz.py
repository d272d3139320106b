"""schemathesis against the coordinator's own OpenAPI, on a throwaway coordinator (real
HTTP server, real SQLite, the embedded broker).

Every operation is called with generated valid and invalid input, with the admin token
(schemathesis also replays each without it, and checks the refusal is declared): no
answer may be a 5xx, and every status, header and body must match what the schema
declares (401/403/404/422/429 included). Bounded: a fixed number of examples per
operation and a derandomised run, so it takes seconds and fails the same way twice.
Nothing is excluded: the API's one long job, training (``POST /models/train``), finds no
data in this empty store and answers 422 at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from edgewatch.coordinator.api import create_app
from edgewatch.coordinator.broker.embedded import EmbeddedBroker
from tests.support.coordinator import ApiServer, make_settings, serve

EXAMPLES = 25


def _spec() -> dict[str, object]:
    # The spec as the app generates it; building the app starts nothing (no lifespan).
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        spec: dict[str, object] = create_app(make_settings(Path(tmp), "embedded:0")).openapi()
        return spec


schema = schemathesis.openapi.from_dict(_spec())


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    broker = EmbeddedBroker(port=0)
    broker.start()
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    try:
        # A high failure limit: schemathesis sends many unauthenticated requests on purpose.
        yield from serve(make_settings(tmp, broker.url, auth_fail_limit=100_000))
    finally:
        broker.stop()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_as_its_schema_says(case: schemathesis.Case, live_api: ApiServer) -> None:
    case.call_and_validate(
        base_url=live_api.base_url,
        headers={"Authorization": f"Bearer {live_api.token}"},
        excluded_checks=[positive_data_acceptance] if _valid_but_refused(case) else None,
    )


def _valid_but_refused(case: schemathesis.Case) -> bool:
    """Requests valid by JSON Schema that the API refuses (422) on purpose:

    - an opaque ``cursor`` is a string by schema, but only one this API handed out works;
    - the sensor registry is strict like every wire payload: ``795.0`` is not the integer
      ``795`` to pydantic's strict mode, though JSON Schema counts it as one.
    - training refuses (422) a store with too little data of the type: this one is empty.
    Every other check (no 5xx, declared statuses, response schemas, negative data
    refused, auth not ignored) still runs on them.
    """
    path = case.operation.path
    if path == "/api/v1/readings":
        return "cursor" in (case.query or {})
    if path == "/api/v1/models/train":
        return True
    return path == "/api/v1/sensors" and case.method == "POST"
