"""docker-compose.yml and the Dockerfile name only things that exist in the project."""

from __future__ import annotations

import importlib
import shlex
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker", "inference", "beat")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _argv(command) -> list[list[str]]:
    """The commands a service runs: a list, or ``sh -c "a && b"`` split into each part."""
    if command is None:
        return []
    argv = command if isinstance(command, list) else shlex.split(command)
    if argv[:2] == ["sh", "-c"]:
        parts = []
        for chunk in argv[2].replace(";", "&&").split("&&"):
            if chunk.strip():
                parts.append(shlex.split(chunk))
        return parts
    return [argv]


def _all_commands(compose):
    for name, service in compose["services"].items():
        for argv in _argv(service.get("command")):
            yield name, argv


def test_services_exist_with_healthchecks(compose):
    services = compose["services"]
    for name in ("postgres", "redis", *APP_SERVICES):
        assert name in services, name
        check = services[name].get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"


def test_app_services_share_the_evidence_volume_and_production_env(compose):
    from hub.env import DECLARED

    for name in APP_SERVICES:
        service = compose["services"][name]
        assert any(v.startswith("evidence:") for v in service["volumes"]), name
        env = service["environment"]
        assert env["HUB_HTTPS"] == "true"
        assert "ALLOWED_HOSTS" in env and "CELERY_BROKER_URL" in env
        assert "SECRET_KEY_FILE" in env
        assert "DATABASE_URL" in env or "DATABASE_URL_FILE" in env
        assert env["HUB_EVIDENCE_ROOT"].startswith("/srv/hub")
        # Every variable is one the settings actually read (directly or as NAME_FILE).
        for var in env:
            base = var.removesuffix("_FILE")
            assert var in DECLARED or base in DECLARED, f"{name}: {var} is read by nothing"
    assert "evidence" in compose["volumes"]


def test_manage_py_commands_exist(compose):
    from django.core.management import get_commands

    commands = get_commands()
    seen = 0
    for name, argv in _all_commands(compose):
        if argv[:2] == ["python", "manage.py"]:
            assert argv[2] in commands, f"{name}: manage.py {argv[2]} does not exist"
            seen += 1
    assert seen >= 2  # migrate and collectstatic


def test_gunicorn_serves_the_wsgi_application(compose):
    targets = [argv[1] for _, argv in _all_commands(compose) if argv[0] == "gunicorn"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert targets, "nothing runs gunicorn"
    for target in targets:
        module, _, attr = target.partition(":")
        assert callable(getattr(importlib.import_module(module), attr or "application"))
        assert target in dockerfile


def test_celery_app_and_queues_exist(compose):
    from hub.celery import app

    queues = {q.name for q in app.conf.task_queues}
    consumed = set()
    kinds = set()
    for name, argv in _all_commands(compose):
        if argv[0] != "celery":
            continue
        assert argv[argv.index("-A") + 1] == "hub" == app.main, name
        kinds.add(argv[argv.index("-A") + 2])
        if "-Q" in argv:
            wanted = set(argv[argv.index("-Q") + 1].split(","))
            assert wanted <= queues, f"{name}: unknown queues {wanted - queues}"
            consumed |= wanted
    assert consumed == queues, f"queues nobody consumes: {queues - consumed}"
    assert kinds == {"worker", "beat"}
    for name in ("worker", "inference"):
        test = " ".join(compose["services"][name]["healthcheck"]["test"])
        assert "celery -A hub inspect ping" in test


def test_dockerfile_installs_the_project():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("#") or "FROM" in dockerfile
    assert "FROM python:3.11-slim" in dockerfile
    assert "pip install ." in dockerfile
