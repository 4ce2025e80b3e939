"""Settings: Celery's at-least-once delivery, loud env parsing, documented variables."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_celery_is_at_least_once():
    from django.conf import settings

    from hub.celery import app

    conf = app.conf
    assert conf.task_serializer == "json" and conf.result_serializer == "json"
    assert list(conf.accept_content) == ["json"]
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    time_limit = conf.task_time_limit
    assert time_limit == settings.CELERY_TASK_TIME_LIMIT
    assert conf.broker_transport_options["visibility_timeout"] > time_limit
    assert conf.task_soft_time_limit is None or conf.task_soft_time_limit < time_limit


def _setup(tmp_path, **env):
    """Start Django in a fresh process with this environment; (returncode, stderr)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "CELERY_"))}
    base.update({"DJANGO_SETTINGS_MODULE": "hub.settings", "HUB_DATA_DIR": str(tmp_path)})
    base.update(env)
    proc = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('ok')"],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_defaults_start(tmp_path):
    code, out = _setup(tmp_path)
    assert code == 0, out


@pytest.mark.parametrize(
    "env, message",
    [
        ({"HUB_REQUIRE_2FA": "maybe"}, "HUB_REQUIRE_2FA='maybe' is not a boolean"),
        ({"HUB_REQUIRE_2FA": "false"}, "only together with HUB_DEMO=true"),
        ({"HUB_SESSION_IDLE_SECONDS": "half an hour"}, "HUB_SESSION_IDLE_SECONDS"),
        ({"HUB_FAILURE_WINDOW_SECONDS": "5"}, "must be at least 60"),
        (
            {"CELERY_TASK_TIME_LIMIT": "600", "CELERY_VISIBILITY_TIMEOUT": "300"},
            "CELERY_VISIBILITY_TIMEOUT=300 must be at least 601",
        ),
        ({"SECRET_KEY_FILE": "/nonexistent/secret"}, "SECRET_KEY_FILE"),
    ],
)
def test_bad_environment_fails_loudly(tmp_path, env, message):
    code, out = _setup(tmp_path, **env)
    assert code != 0
    assert "ImproperlyConfigured" in out and message in out, out


def test_two_factor_may_be_off_only_in_the_demo(tmp_path):
    code, out = _setup(tmp_path, HUB_REQUIRE_2FA="false", HUB_DEMO="true")
    assert code == 0, out


def test_secret_from_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s" * 60 + "\n")
    base_dir = tmp_path / "data"
    base = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    base.update(
        {
            "DJANGO_SETTINGS_MODULE": "hub.settings",
            "HUB_DATA_DIR": str(base_dir),
            "SECRET_KEY_FILE": str(secret),
        }
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.SECRET_KEY)",
        ],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.stdout.strip() == "s" * 60, proc.stderr


def test_every_declared_variable_is_in_the_readme():
    import hub.settings  # noqa: F401  (fills DECLARED)
    from hub.env import DECLARED

    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md does not exist yet: the configuration table cannot be checked")
    documented = set(re.findall(r"^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|", readme.read_text(), re.M))
    missing = sorted(set(DECLARED) - documented)
    assert not missing, f"Not in README.md's configuration table: {missing}"
