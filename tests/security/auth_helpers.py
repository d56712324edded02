"""Helpers of the security tests: keys, and the app's route table (what the matrix is checked against)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount

from service.auth import Role
from service.storage.api_keys import ApiKeyRepository

# Path parameters: values that pass validation (the answer may be 404; the matrix is about 401/403).
SAMPLES = {
    "{job_id}": "0b4f8c1e-0000-4000-8000-000000000000",
    "{frame_id}": "1",
    "{detection_id}": "1",
    "{item_id}": "1",
    "{collection_id}": "road_damage",
    "{feature_id}": "1",
    "*": "map.js",
}


def create_key(client: TestClient, role: Role, name: str | None = None) -> str:
    """A new key in the app's database; returns the secret."""
    with client.app.state.service.database.transaction() as session:
        return ApiKeyRepository(session).create(name or f"{role.value}-key", role)[1]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def route_table(app: FastAPI) -> Iterator[str]:
    """`METHOD /path` of every route the app serves, mounts as `GET /prefix/*`."""
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)  # FastAPI resolving included routers lazily
        pairs = [(c.path, c.original_route) for c in contexts()] if contexts else [(route.path, route)]
        for path, original in pairs:
            if isinstance(original, Mount):
                yield f"GET {path}/*"
                continue
            for method in sorted(original.methods - {"HEAD"}):
                yield f"{method} {path}"


def concrete(path: str) -> str:
    """The path with a sample value for each parameter."""
    for placeholder, value in SAMPLES.items():
        path = path.replace(placeholder, value)
    assert not re.search(r"[{}*]", path), f"add a sample value for the parameter in {path} (auth_helpers.SAMPLES)"
    return path
