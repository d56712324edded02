"""API keys: stored hashed, the `stadtblick keys` command, the auth=disabled guard, closed metrics."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pytest
from auth_helpers import bearer, create_key
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.api.app import create_app
from service.auth import Role, keys
from service.cli import serve_cmd
from service.cli.main import main
from service.config import Settings, UnsafeConfiguration
from service.storage import Database
from service.storage.models import ApiKey, AuditEvent


def test_a_key_is_stored_only_as_its_digest(secure_client) -> None:
    with secure_client() as client:
        key = create_key(client, Role.GIS, "qgis")
        assert keys.key_id_of(key) is not None
        with client.app.state.service.database.session() as session:
            record = session.scalars(select(ApiKey)).one()
        assert record.digest == keys.digest(key) and key not in (record.digest, record.id, record.name)
        assert client.get("/info", headers=bearer(key)).status_code == 200
        tampered = key[:-1] + ("A" if key[-1] != "A" else "B")  # right id, wrong secret
        assert client.get("/info", headers=bearer(tampered)).status_code == 401


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out.strip().splitlines(), captured.err


def test_keys_command_creates_lists_and_revokes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    monkeypatch.setenv("STADTBLICK_DATABASE_URL", url)
    code, out, _ = _cli(capsys, "keys", "create", "--role", "inspector", "--name", "tablet-3")
    assert code == 0
    key = out[-1]  # the key is the last line of stdout
    assert keys.key_id_of(key) is not None

    code, _, err = _cli(capsys, "keys", "create", "--role", "gis", "--name", "tablet-3")
    assert code == 1 and "tablet-3" in err  # names are unique among active keys
    with pytest.raises(SystemExit):
        main(["keys", "create", "--role", "root", "--name", "x"])
    assert "invalid choice" in capsys.readouterr().err

    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = _cli(capsys, "keys", "list")
    listing = "\n".join(out)
    assert code == 0 and "tablet-3" in listing and "inspector" in listing and key not in listing

    app = create_app(Settings(auth="required", database_url=url, data_dir=tmp_path / "data", weights_dir=str(tmp_path)))
    with TestClient(app) as client:
        assert client.get("/v1/models", headers=bearer(key)).status_code == 200
        code, out, _ = _cli(capsys, "keys", "revoke", "tablet-3")
        assert code == 0 and keys.key_id_of(key) in out[-1]
        response = client.get("/v1/models", headers=bearer(key))  # effective at once, no restart
        assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")

    assert _cli(capsys, "keys", "revoke", "tablet-3")[0] == 1  # nothing active of that name any more
    code, out, _ = _cli(capsys, "keys", "create", "--role", "inspector", "--name", "tablet-3")
    assert code == 0  # a replacement may reuse the name
    with Database(url).session() as session:
        actions = [(e.action, e.actor) for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions == [("create", "command-line"), ("delete", "command-line"), ("create", "command-line")]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::"])
def test_auth_disabled_is_refused_off_loopback(tmp_path: Path, host: str, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(auth="disabled", host=host, data_dir=tmp_path, weights_dir=str(tmp_path))
    with pytest.raises(UnsafeConfiguration, match=r"127\.0\.0\.1"):
        create_app(settings)
    args = argparse.Namespace(host=host, port=None, log_level="warning")
    assert serve_cmd.run(args) == 2
    assert "refusing to start" in capsys.readouterr().err


def test_auth_disabled_on_loopback_warns_and_acts_as_admin(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        app = create_app(Settings(auth="disabled", host="localhost", data_dir=tmp_path, weights_dir=str(tmp_path)))
    assert any(r.levelno == logging.WARNING and "DISABLED" in r.getMessage() for r in caplog.records)
    with TestClient(app) as client:
        assert client.get("/v1/audit").status_code == 200


def test_metrics_can_be_closed_to_all_but_admins(secure_client) -> None:
    with secure_client(open_metrics=False) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=bearer(create_key(client, Role.GIS))).status_code == 403
        assert client.get("/metrics", headers=bearer(create_key(client, Role.ADMIN))).status_code == 200
        assert client.get("/healthz").status_code == 200  # health stays open
