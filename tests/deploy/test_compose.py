"""deploy/compose.yaml agrees with the code it runs: commands the CLI accepts, settings the service
reads (and accepts), one database and one frame store for every process, a start order whose
health checks exist, a proxy that reaches every API replica. No Docker engine is needed; where
Caddy is installed its own validator checks the proxy's configuration too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from sqlalchemy.engine import make_url

from service.api.app import create_app
from service.cli.main import build_parser
from service.config import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
STADTBLICK = [name for name, service in SERVICES.items() if service.get("image") == "stadtblick:local"]
# What `docker compose up` is given in the tests; everything else takes the file's defaults.
ENVIRONMENT = {"POSTGRES_PASSWORD": "secret"}


def interpolate(value: object) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?message}` with ENVIRONMENT, `$$` as `$`."""

    def replace(match: re.Match[str]) -> str:
        name, kind, rest = match.group(1), match.group(2), match.group(3)
        if name in ENVIRONMENT:
            return ENVIRONMENT[name]
        assert kind != ":?", f"compose needs {name}: {rest}"
        return rest or ""

    return re.sub(r"\$\{(\w+)(:[-?])?([^}]*)\}", replace, str(value)).replace("$$", "$")


def environment(name: str) -> dict[str, str]:
    return {key: interpolate(value) for key, value in SERVICES[name].get("environment", {}).items()}


def test_the_file_runs_the_processes_of_a_scaled_out_installation() -> None:
    assert {"db", "migrate", "api", "worker", "proxy"} <= set(SERVICES)
    assert set(STADTBLICK) == {"migrate", "api", "worker"}
    assert SERVICES["api"]["deploy"]["replicas"] == 2 and SERVICES["worker"]["deploy"]["replicas"] == 2
    assert SERVICES["db"]["image"].startswith("postgis/postgis:")


@pytest.mark.parametrize("name", STADTBLICK)
def test_commands_are_ones_the_cli_accepts(name: str) -> None:
    program, *argv = SERVICES[name]["command"]
    assert program == "stadtblick"
    parser = build_parser()
    parser.parse_args(argv)  # exits (SystemExit) for an unknown command or option


@pytest.mark.parametrize("name", STADTBLICK)
def test_every_setting_is_one_the_service_reads_and_accepts(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The service ignores unknown STADTBLICK_ variables: a misspelt one would silently not apply."""
    env = environment(name)
    known = {f"STADTBLICK_{field.upper()}" for field in Settings.model_fields}
    unknown = {key for key in env if key.startswith("STADTBLICK_") and key not in known}
    assert not unknown, f"not settings of service.config.Settings: {unknown}"
    for key in [key for key in os.environ if key.startswith("STADTBLICK_")]:
        monkeypatch.delenv(key)  # the tests' own settings (tests/conftest.py)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()  # raises for a value the service would refuse
    settings.check_auth_binding(settings.host)  # keys required: any bind address is allowed
    assert settings.auth == "required"


def test_every_process_shares_one_database_and_one_frame_store() -> None:
    urls = {environment(name)["STADTBLICK_DATABASE_URL"] for name in STADTBLICK}
    assert len(urls) == 1
    url = make_url(urls.pop())
    db = environment("db")
    assert url.drivername == "postgresql+psycopg" and url.host == "db" and url.port == 5432
    assert (url.username, url.password, url.database) == (db["POSTGRES_USER"], "secret", db["POSTGRES_DB"])
    for name in STADTBLICK:
        data_dir = environment(name)["STADTBLICK_DATA_DIR"]
        assert SERVICES[name]["volumes"] == [f"frames:{data_dir}"]
        assert environment(name).get("STADTBLICK_FRAME_STORE") == environment("api").get("STADTBLICK_FRAME_STORE")
    assert "frames" in COMPOSE["volumes"]


def test_migrations_run_once_before_replicas_and_workers_start() -> None:
    assert SERVICES["migrate"]["command"][1:] == ["db", "upgrade"] and SERVICES["migrate"]["restart"] == "no"
    assert SERVICES["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    for name in ("api", "worker"):
        assert SERVICES[name]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}


def test_services_waited_for_as_healthy_have_a_health_check() -> None:
    for name, service in SERVICES.items():
        for dependency, how in service.get("depends_on", {}).items():
            assert dependency in SERVICES, f"{name} depends on a service that does not exist: {dependency}"
            if how["condition"] == "service_healthy":
                check = SERVICES[dependency].get("healthcheck", {})
                assert check.get("test") and not check.get("disable"), f"{dependency} has no health check"


def test_api_health_check_asks_the_readiness_route_on_the_served_port() -> None:
    probe = " ".join(SERVICES["api"]["healthcheck"]["test"])
    url = urlsplit(re.search(r"https?://[^'\"\s]+", probe).group(0))  # type: ignore[union-attr]
    assert url.port == int(environment("api")["STADTBLICK_PORT"])
    assert url.path == "/readyz" and url.path in create_app(Settings(auth="disabled")).openapi()["paths"]


def test_proxy_reaches_every_api_replica_and_only_it_is_published() -> None:
    proxy = SERVICES["proxy"]
    mount = next(v for v in proxy["volumes"] if v.endswith(":/etc/caddy/Caddyfile:ro"))
    caddyfile = (DEPLOY / mount.split(":")[0]).read_text()
    upstream = re.search(r"dynamic a \{\s*name (\S+)\s*port (\d+)", caddyfile)
    assert upstream is not None, "the proxy should find the replicas by DNS name (scales with --scale)"
    assert upstream.group(1) == "api" and upstream.group(2) == environment("api")["STADTBLICK_PORT"]
    published = interpolate(proxy["ports"][0]).split(":")
    public_url = urlsplit(environment("api")["STADTBLICK_PUBLIC_URL"])
    assert published[-1] == "80" and public_url.port == int(published[0])
    assert [name for name, service in SERVICES.items() if service.get("ports")] == ["proxy"]
    assert COMPOSE["networks"]["backend"]["internal"] is True
    assert {name for name, s in SERVICES.items() if "edge" in s.get("networks", [])} == {"proxy"}


def test_the_image_is_the_service_stage_of_the_dockerfile_without_torch() -> None:
    build = SERVICES["api"]["build"]
    dockerfile = (DEPLOY / build["context"] / "Dockerfile").read_text()
    stage = dockerfile.split(f" AS {build['target']}\n", 1)[1].split("\nFROM ", 1)[0]
    assert re.search(r"pip install \.(\s|$)", stage) and "[train]" not in stage


def test_caddy_accepts_the_proxy_configuration() -> None:
    if shutil.which("caddy") is None:
        if os.environ.get("CI"):  # scripts/test.sh installs it: in CI a skip would hide a broken install step
            pytest.fail("caddy is not installed (scripts/test.sh: apt-get install caddy)")
        pytest.skip("Caddy is not installed (apt-get install caddy)")
    result = subprocess.run(
        ["caddy", "validate", "--adapter", "caddyfile", "--config", str(DEPLOY / "Caddyfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
