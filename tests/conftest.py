"""Personas in two agencies, and the service switches.

Demo Police: alice (admin), sam (supervisor), ivan and iris (investigators).
Other Force: oscar (investigator). Hugo is a hub operator with no agency.
A test acts as a person through ``login_as``; nobody is a superuser."""

from __future__ import annotations

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


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _evidence_root(settings, tmp_path):
    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    settings.UPLOAD_TEMP_ROOT = tmp_path / "uploads"
    settings.EVIDENCE_ROOT.mkdir()
    settings.UPLOAD_TEMP_ROOT.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(settings.UPLOAD_TEMP_ROOT)


def make_user(username: str, agency: Agency | None, role: str | None, **extra) -> User:
    user = User.objects.create_user(
        username=username, password=PASSWORD, email=f"{username}@example.test", **extra
    )
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
