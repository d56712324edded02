"""Property-based fuzzing of every operation against the service's own OpenAPI schema
(schemathesis, in-process over ASGI): no input gives a 5xx, and every response with a
documented status matches its documented schema. An admin key is sent so requests reach the
handlers (the authorisation matrix covers the other identities).

Budget: EXAMPLES per operation and mode, ≥ 500 requests in all (checked), about a minute on
two busy cores.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from auth_helpers import bearer, create_key
from fastapi.testclient import TestClient
from helpers import jpeg_bytes, need, synthetic_photo
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from service.api.app import create_app
from service.auth import Role
from service.config import Settings

schemathesis = need("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance  # noqa: E402

EXAMPLES = 25  # per operation and generation mode (valid / invalid inputs)
MIN_REQUESTS = 500
UNAVAILABLE = {"anonymiser_unavailable"}
BACK_PRESSURE = "busy"  # documented 503 + Retry-After when the job queue is full (docs/security.md)
JPEG = {"Content-Type": "image/jpeg"}


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory, tiny_weights: Path) -> Iterator[tuple[object, dict]]:
    """The app with one real detector and a few stored frames, started once for all operations."""
    folder = tmp_path_factory.mktemp("fuzz")
    config = Settings(
        auth="required",
        weights_dir=str(tiny_weights),
        data_dir=folder / "data",
        inference_workers=1,
        rate_limit_per_minute=0,
        max_upload_bytes=256 * 1024,
        max_batch_bytes=512 * 1024,
    )
    app = create_app(config, load_in_background=False)
    with TestClient(app) as client:  # runs the lifespan: schema migrated, models loaded
        headers = bearer(create_key(client, Role.ADMIN, "fuzzer"))
        for seed in range(3):  # frames 1..3 exist, so generated ids also reach stored images
            photo = jpeg_bytes(synthetic_photo(120, 160, seed=seed))
            stored = client.post("/v1/detect?store=true&lat=52.5&lon=13.4", content=photo, headers=headers | JPEG)
            assert stored.status_code == 200, stored.text
        yield schemathesis.openapi.from_asgi("/openapi.json", app), headers


def no_server_error(ctx: object, response: object, case: object) -> None:
    """schemathesis' `not_a_server_error`, except two documented 503s: a missing optional part (this app
    has no anonymisation model installed, docs/privacy.md) and back-pressure, which must say when to retry."""
    if response.status_code == 503:
        code = response.json()["error"]["code"]
        if code in UNAVAILABLE or (code == BACK_PRESSURE and response.headers.get("retry-after")):
            return
    not_a_server_error(ctx, response, case)


def fuzz(operation: object, mode: object, headers: dict[str, str]) -> int:
    """Run EXAMPLES generated cases of one operation; returns how many requests were sent."""
    sent = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        database=None,
    )
    def run(case: object) -> None:
        nonlocal sent
        sent += 1
        case.call_and_validate(
            headers=headers, checks=[no_server_error, response_schema_conformance, status_code_conformance]
        )

    run()
    return sent


def test_no_input_breaks_the_service(fuzz_target: tuple[object, dict]) -> None:
    """Valid (positive) and invalid (negative) inputs for every operation; all failures are reported."""
    schema, headers = fuzz_target
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    failures, sent = [], 0
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            try:
                sent += fuzz(operation, mode, headers)
            except Unsatisfiable:
                pass  # nothing to make invalid: an operation without parameters or body
            except Exception as exc:  # collect, so one run shows every broken operation
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
    assert sent >= MIN_REQUESTS, f"only {sent} generated requests"
    print(f"fuzzing: {sent} requests to {len(operations)} operations")
