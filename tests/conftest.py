"""Personas in two agencies, and the service switches.

Demo Police: alice (admin), sam (supervisor), ivan and iris (investigators).
Other Force: oscar (investigator). Hugo is a hub operator with no agency.
A test acts as a person through ``login_as``; nobody is a superuser."""

from __future__ import annotations

import functools
import os
import socket

import pytest
from django.core.cache import cache
from django_otp.plugins.otp_totp.models import TOTPDevice

from hub.models import Agency, Membership, Role, User

PASSWORD = "correct horse battery staple"
CI = os.environ.get("CI", "").lower() == "true"


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def redis_url() -> str:
    return os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def require_redis() -> str:
    """Skip (or, in CI, fail) when Redis is not reachable."""
    url = redis_url()
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    if not _port_open(host or "127.0.0.1", int(port or 6379)):
        msg = f"Redis is not reachable at {url}; start it or set TEST_REDIS_URL"
        if CI:
            pytest.fail(f"CI=true but {msg}")
        pytest.skip(msg)
    return url


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """After the test database is migrated (as the owner role): test code sees every
    agency, as an operator's shell does; with ``HUB_DB_APP_ROLE`` set (the PostgreSQL
    run), connections switch to that role so row-level security binds every request,
    live server and worker of the suite."""
    from hub import db_scope

    db_scope.set_process_default(db_scope.ALL)
    with django_db_blocker.unblock():
        db_scope.arm()
    yield
    with django_db_blocker.unblock():
        db_scope.disarm()


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _evidence_root(settings, tmp_path):
    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    settings.UPLOAD_TEMP_ROOT = tmp_path / "uploads"
    settings.HUB_REGISTERED_MODELS_DIR = tmp_path / "models"
    settings.EVIDENCE_ROOT.mkdir()
    settings.UPLOAD_TEMP_ROOT.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(settings.UPLOAD_TEMP_ROOT)


def password_hash() -> str:
    """PASSWORD hashed once per test process and hasher setting (Argon2 unless a test
    overrides PASSWORD_HASHERS): every persona logs in with a real hash of the configured
    kind, but the suite does not spend a third of a second of Argon2 on every user it
    creates (minutes over the whole suite)."""
    from django.conf import settings

    return _password_hash(tuple(settings.PASSWORD_HASHERS))


@functools.cache
def _password_hash(hashers: tuple[str, ...]) -> str:
    from django.contrib.auth.hashers import make_password

    return make_password(PASSWORD)


def make_user(username: str, agency: Agency | None, role: str | None, **extra) -> User:
    user = User.objects.create_user(
        username=username, password=None, email=f"{username}@example.test", **extra
    )
    user.password = password_hash()
    user.save(update_fields=["password"])
    if agency is not None and role is not None:
        Membership.objects.create(user=user, agency=agency, role=role)
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    return user


@pytest.fixture
def demo_agency(db):
    return Agency.objects.create(name="Demo Police", slug="demo-police")


@pytest.fixture
def other_agency(db):
    return Agency.objects.create(name="Other Force", slug="other-force")


@pytest.fixture
def alice(demo_agency):
    return make_user("alice", demo_agency, Role.ADMIN, first_name="Alice")


@pytest.fixture
def sam(demo_agency):
    return make_user("sam", demo_agency, Role.SUPERVISOR, first_name="Sam")


@pytest.fixture
def ivan(demo_agency):
    return make_user("ivan", demo_agency, Role.INVESTIGATOR, first_name="Ivan")


@pytest.fixture
def iris(demo_agency):
    return make_user("iris", demo_agency, Role.INVESTIGATOR, first_name="Iris")


@pytest.fixture
def oscar(other_agency):
    return make_user("oscar", other_agency, Role.INVESTIGATOR, first_name="Oscar")


@pytest.fixture
def otto(other_agency):
    """Admin of the other agency."""
    return make_user("otto", other_agency, Role.ADMIN, first_name="Otto")


@pytest.fixture
def hugo(db):
    return make_user("hugo", None, None, is_hub_operator=True, first_name="Hugo")


def login_as(client, user):
    """Log in with the second factor verified, as django_otp.login would."""
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def client_for(client, django_user_model):
    """``client_for(user)`` returns a test client logged in (with 2FA) as that user."""
    from django.test import Client

    def make(user):
        return login_as(Client(), user)

    return make


# --- Celery ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _celery_eager():
    """Unit and HTTP tests run tasks in-process (queued on commit: wrap the request in
    ``django_capture_on_commit_callbacks(execute=True)``). Real-worker tests use
    ``celery_worker_process`` instead."""
    from hub.celery import app

    # With the CELERY settings namespace, the namespaced key is the one Celery reads.
    app.conf.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.CELERY_TASK_EAGER_PROPAGATES = True
    yield
    app.conf.CELERY_TASK_ALWAYS_EAGER = False


def _test_database_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] or "postgres"
    if s.get("PASSWORD"):
        auth += f":{s['PASSWORD']}"
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class WorkerProcess:
    """A real ``celery worker`` subprocess on Redis, sharing the test database: of the
    project's app (``-A hub``) or of another app module, named ``name`` (node name)."""

    def __init__(self, env: dict, log_path, app_module: str = "hub", name: str | None = None):
        self.env = env
        self.log_path = log_path
        self.app_module = app_module
        self.name = name or f"test-{os.getpid()}-{id(self)}"
        self.proc = None
        self._log = None

    def start(self, concurrency: int = 2, queues: str = "intake,inference,maintenance"):
        import subprocess
        import sys
        from pathlib import Path

        celery_bin = str(Path(sys.executable).with_name("celery"))
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed by kill/stop)
        self.proc = subprocess.Popen(
            [
                celery_bin,
                "-A",
                self.app_module,
                "worker",
                "-Q",
                queues,
                "-c",
                str(concurrency),
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"{self.name}@%h",
                "--loglevel",
                "INFO",
            ],
            env=self.env,
            cwd=Path(__file__).resolve().parents[1],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()

    def kill(self, sig=None):
        """SIGKILL the whole worker (main process and its pool children)."""
        import signal

        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig or signal.SIGKILL)
            self.proc.wait(timeout=30)
        self._close_log()

    def stop(self):
        import signal

        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except Exception:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._close_log()

    def log(self) -> str:
        try:
            return open(self.log_path, encoding="utf-8", errors="replace").read()[-8000:]
        except OSError:
            return ""


def wait_until(predicate, timeout: float = 60, interval: float = 0.2, message: str = ""):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s: {message}")


@pytest.fixture
def celery_worker_process(transactional_db, settings, tmp_path):
    """Factory for real worker processes on Redis (db 15, flushed). Needs the test
    database to be shared, hence ``transactional_db``. Marks: use ``services``."""
    import redis

    from hub.celery import app

    url = require_redis()
    redis.Redis.from_url(url).flushdb()
    app.close()
    import celery._state

    celery._state._register_app(app)  # close() deregisters; lazily imported tasks still bind
    # An earlier eager test may have left a producer bound to another transport.
    app.amqp._producer_pool = None
    app.conf.CELERY_BROKER_URL = url
    app.conf.CELERY_TASK_ALWAYS_EAGER = False
    env = {
        **os.environ,
        "CELERY_BROKER_URL": url,
        "DATABASE_URL": _test_database_url(),
        "HUB_DATA_DIR": str(tmp_path / "worker-data"),
        "HUB_EVIDENCE_ROOT": str(settings.EVIDENCE_ROOT),
        "HUB_UPLOAD_TEMP_ROOT": str(settings.UPLOAD_TEMP_ROOT),
        "HUB_REGISTERED_MODELS_DIR": str(settings.HUB_REGISTERED_MODELS_DIR),
        "HUB_STUCK_AFTER_SECONDS": str(getattr(settings, "HUB_STUCK_AFTER_SECONDS", 900)),
    }
    workers = []

    def make(**env_overrides):
        worker = WorkerProcess({**env, **env_overrides}, tmp_path / f"worker{len(workers)}.log")
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.stop()
    app.close()
    celery._state._register_app(app)
    app.conf.CELERY_BROKER_URL = "memory://"


# --- Browser --------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        msg = f"Debian's chromium is not installed at {CHROMIUM} (make browser-deps)"
        if CI:
            pytest.fail(f"CI=true but {msg}")
        pytest.skip(msg)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread, which makes Django refuse
    # ORM calls (including the test database flush) unless told this is intended.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    yield pg
    context.close()


ARTIFACTS = os.path.join(os.path.dirname(__file__), "artifacts")


def screenshot(page, name: str) -> str:
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, f"{name}.png")
    page.screenshot(path=path, full_page=True)
    return path


def browser_login(page, live_server, user):
    """Put a logged-in, 2FA-verified session cookie into the browser (fast path for tests
    that are not about login itself)."""
    from django.conf import settings as dj_settings
    from django.test import Client

    client = login_as(Client(), user)
    cookie = client.cookies[dj_settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [{"name": dj_settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}]
    )


# --- The PostgreSQL run repeats only what the database can change ----------------------

DATABASE_FIXTURES = frozenset(
    {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback"}
)


def pytest_addoption(parser):
    parser.addoption(
        "--database-tests-only",
        action="store_true",
        help="deselect tests that use no database and no service (pure functions, media "
        "decoding, settings parsing): `make test-postgres` passes it, because they already "
        "ran, identically, in the SQLite run",
    )


def uses_database(item) -> bool:
    return bool(
        DATABASE_FIXTURES & set(item.fixturenames)
        or "live_server" in item.fixturenames
        or item.get_closest_marker("django_db")
        or item.get_closest_marker("services")
    )


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--database-tests-only"):
        return
    kept = [item for item in items if uses_database(item)]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if not uses_database(i)])
        items[:] = kept
