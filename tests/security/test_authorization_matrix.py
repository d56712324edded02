"""Every route × every role (and no, an unknown, a malformed, a revoked key) gives the status the
matrix in docs/security.md documents. The routes come from the app's own route table, so a
new route without a row in the matrix fails here (and a row for a removed route, too).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from auth_helpers import bearer, concrete, create_key, route_table
from fastapi.testclient import TestClient

from service.auth import ROLES, Role
from service.storage.api_keys import ApiKeyRepository

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
COLUMNS = ["open", *(r.value for r in ROLES)]


def documented_matrix() -> dict[str, dict[str, bool]]:
    """`METHOD /path` -> {column: allowed}, from the table between the matrix markers."""
    text = DOC.read_text(encoding="utf-8")
    table = text.split("<!-- matrix:start -->")[1].split("<!-- matrix:end -->")[0]
    header, *rows = [line for line in table.strip().splitlines() if line.startswith("|")]
    assert [c.strip() for c in header.strip("|").split("|")] == ["route", *COLUMNS], "matrix header changed"
    matrix = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        route = cells[0].strip("`")
        if set(route) <= {"-", " "}:
            continue  # the separator row
        matrix[route] = {col: cell.startswith("✓") for col, cell in zip(COLUMNS, cells[1:], strict=True)}
    return matrix


MATRIX = documented_matrix()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from service.api.app import create_app
    from service.config import Settings

    folder = tmp_path_factory.mktemp("matrix")
    (folder / "weights").mkdir()
    settings = Settings(
        auth="required", weights_dir=str(folder / "weights"), data_dir=folder / "data", rate_limit_per_minute=0
    )
    with TestClient(create_app(settings, load_in_background=False)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def identities(client: TestClient) -> dict[str, dict[str, str]]:
    """Headers per identity: a key of every role, none, a malformed, an unknown and a revoked key."""
    headers = {role.value: bearer(create_key(client, role)) for role in ROLES}
    revoked = create_key(client, Role.ADMIN, "revoked-admin")
    with client.app.state.service.database.transaction() as session:
        ApiKeyRepository(session).revoke("revoked-admin")
    return headers | {
        "none": {},
        "malformed": bearer("not-a-key"),
        "unknown": bearer("sbk_0123456789ab_" + "A" * 43),
        "revoked": bearer(revoked),
        "basic": {"Authorization": "Basic YWRtaW46YWRtaW4="},
    }


def test_every_route_has_a_matrix_row(client: TestClient) -> None:
    served = set(route_table(client.app))
    missing = sorted(served - MATRIX.keys())
    stale = sorted(MATRIX.keys() - served)
    assert not missing, f"routes without a row in the matrix of docs/security.md: {missing}"
    assert not stale, f"rows in docs/security.md for routes the app does not serve: {stale}"


@pytest.mark.parametrize("route", sorted(MATRIX))
def test_route_answers_each_identity_as_documented(
    client: TestClient, identities: dict[str, dict[str, str]], route: str
) -> None:
    method, path = route.split(" ", 1)
    allowed = MATRIX[route]
    url = concrete(path)
    for identity, headers in identities.items():
        response = client.request(method, url, headers=headers)
        status = response.status_code
        if allowed.get(identity):
            expectation = "allowed"
            ok = status not in (401, 403)
        elif identity in allowed:
            expectation = "403"
            ok = status == 403 and response.json()["error"]["code"] == "forbidden"
        elif allowed["open"]:
            expectation = "allowed (open route)"
            ok = status not in (401, 403)
        else:
            expectation = "401 with WWW-Authenticate: Bearer"
            ok = status == 401 and response.headers.get("www-authenticate", "").startswith("Bearer")
        assert ok, f"{route} as {identity}: expected {expectation}, got {status} {response.text[:200]}"


def test_storing_frames_needs_the_inspector_role(client: TestClient, identities: dict[str, dict[str, str]]) -> None:
    """Footnote 3: the desk may detect, not store."""
    response = client.post("/v1/detect?store=true", content=b"", headers=identities["desk"])
    assert response.status_code == 403
    assert client.post("/v1/detect?store=true", content=b"", headers=identities["inspector"]).status_code != 403
