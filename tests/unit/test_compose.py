"""compose.yml, deploy/Caddyfile and the Containerfile (issue 12, "Replicas and background work"):
the file parses, names the services of a scaled deployment with their health checks, and every
ORBSONIC_* variable it (or the image) sets is a real setting of orbsonic/config.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from orbsonic.config import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
SETTING_ENVS = {s.env for s in SETTINGS} | {"ORBSONIC_CONFIG", "ORBSONIC_DATABASE_URL", "ORBSONIC_VALKEY_URL"}


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yml").read_text(encoding="utf-8"))


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _test(service: dict[str, Any]) -> str:
    return " ".join(service["healthcheck"]["test"])


def test_compose_names_the_services_of_a_scaled_deployment() -> None:
    services = _compose()["services"]
    assert {"postgres", "pgbouncer", "valkey", "minio", "migrate", "api", "worker", "proxy"} <= set(services)
    assert services["migrate"]["command"] == ["orbsonic", "migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["worker"]["command"] == ["orbsonic", "worker"]
    assert services["api"]["command"][:2] == ["orbsonic", "serve"]
    replicas = re.fullmatch(r"\$\{\w+:-(\d+)\}", str(services["api"]["deploy"]["replicas"]))
    assert replicas and int(replicas.group(1)) >= 2
    for name in ("api", "worker"):  # after the one-shot migration
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["proxy"]["depends_on"]["api"]["condition"] == "service_healthy"


def test_every_long_running_service_has_a_health_check() -> None:
    services = _compose()["services"]
    assert "/readyz" in _test(services["api"])
    assert "/readyz" in _test(services["proxy"])
    assert "pg_isready" in _test(services["postgres"]) and "pg_isready" in _test(services["pgbouncer"])
    assert "ping" in _test(services["valkey"])
    assert "ready" in _test(services["minio"])
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text(encoding="utf-8")
    assert services["proxy"]["volumes"] == ["./deploy/Caddyfile:/etc/caddy/Caddyfile:ro"]
    assert re.search(r"reverse_proxy api:4040", caddyfile) and "health_uri /readyz" in caddyfile


def test_requests_go_through_pgbouncer_in_transaction_mode_and_sessions_go_direct() -> None:
    services = _compose()["services"]
    assert _env(services["pgbouncer"])["POOL_MODE"] == "transaction"
    for name in ("api", "worker", "migrate"):
        env = _env(services[name])
        assert "@pgbouncer:" in env["DATABASE_URL"]
        assert "@postgres:" in env["ORBSONIC_DATABASE_DIRECT_URL"]
        assert env["VALKEY_URL"].startswith("valkey://valkey:")
        assert env["ORBSONIC_JOB_WORKER"] == "false"  # the worker service runs the jobs
        assert env["ORBSONIC_SECRET_KEY"].startswith("${ORBSONIC_SECRET_KEY")  # one key for all


def test_every_orbsonic_variable_is_a_real_setting() -> None:
    for name in ("compose.yml", "Containerfile"):
        text = (ROOT / name).read_text(encoding="utf-8")
        used = set(re.findall(r"\bORBSONIC_[A-Z0-9_]+", text))
        assert used, name
        assert used <= SETTING_ENVS, (name, sorted(used - SETTING_ENVS))


def test_the_image_runs_unprivileged() -> None:
    text = (ROOT / "Containerfile").read_text(encoding="utf-8")
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^FROM .* AS build$", text, re.M)  # build tools stay in the build stage
