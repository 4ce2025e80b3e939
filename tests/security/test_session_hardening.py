"""Session fixation and logout, through the real two-step login (password, then TOTP).

The idle and absolute session limits are tested in tests/hub/test_sessions.py and the
"password step alone reaches nothing" rule in tests/hub/test_smoke.py and
tests/api/test_tokens.py; this module covers what those do not: the session key changes
at each privilege step, a planted session id is dead after login, and a session ended by
logout is dead on the server for pages, the API and evidence bytes."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD
from tests.security.conftest import otp_code

pytestmark = pytest.mark.django_db

COOKIE = settings.SESSION_COOKIE_NAME
API_CASES = "/api/v1/cases/"


def _key(client) -> str:
    morsel = client.cookies.get(COOKIE)
    return morsel.value if morsel is not None else ""


def _alive(key: str) -> bool:
    return Session.objects.filter(session_key=key).exists()


def _password_step(client, user):
    response = client.post(
        reverse("hub:login"),
        {"username": user.username, "password": PASSWORD, "acknowledge": "on"},
    )
    assert response.status_code == 302 and response.url == reverse("hub:login_otp"), response
    return response


def _otp_step(client, user):
    response = client.post(reverse("hub:login_otp"), {"code": otp_code(user)})
    assert response.status_code == 302 and response.url == reverse("hub:home"), response
    return response


def _with_cookie(key: str) -> Client:
    """A fresh browser that presents only this session id."""
    other = Client()
    other.cookies[COOKIE] = key
    return other


def _is_login_redirect(response) -> bool:
    return response.status_code == 302 and response.url.startswith(settings.LOGIN_URL_PATH)


def test_a_planted_session_id_is_replaced_at_each_login_step(client, ivan):
    """An attacker plants a session he created (anonymous but stored, so the server knows
    the id). After the password step and again after the TOTP step the victim holds a new
    id, and every earlier id is gone from the server."""
    planted = SessionStore()
    planted["planted_by"] = "attacker"
    planted.create()
    client.cookies[COOKIE] = planted.session_key
    assert client.get(reverse("hub:login")).status_code == 200
    assert _key(client) == planted.session_key  # still the planted one before login

    _password_step(client, ivan)
    after_password = _key(client)
    assert after_password and after_password != planted.session_key
    assert not _alive(planted.session_key)

    response = _otp_step(client, ivan)
    after_otp = _key(client)
    assert after_otp and after_otp not in (planted.session_key, after_password)
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert not cookie["max-age"] and not cookie["expires"]  # gone when the browser closes
    assert not _alive(after_password)
    assert _alive(after_otp)
    assert client.get(reverse("hub:home")).status_code == 200

    # The attacker's copies of the earlier ids reach nothing.
    for stale in (planted.session_key, after_password):
        attacker = _with_cookie(stale)
        assert _is_login_redirect(attacker.get(reverse("hub:home")))
        assert attacker.get(API_CASES).status_code in (401, 403)


def test_an_unknown_session_id_chosen_by_an_attacker_is_never_adopted(client, ivan):
    chosen = "attackerchosen" + "0" * 18
    client.cookies[COOKIE] = chosen
    _password_step(client, ivan)
    _otp_step(client, ivan)
    assert _key(client) != chosen
    assert not _alive(chosen)
    assert _is_login_redirect(_with_cookie(chosen).get(reverse("hub:home")))


def test_logout_kills_the_session_on_the_server(client, ivan, evidence):
    """After logout, replaying the old cookie gets the login page for pages and evidence
    bytes, and 401/403 from the API; the session row is deleted."""
    item = evidence.the_item
    thumb = reverse("triage:item_thumb", kwargs={"item": item.uuid, "kind": "thumb"})
    original = reverse("triage:item_original", kwargs={"item": item.uuid})
    _password_step(client, ivan)
    _otp_step(client, ivan)
    key = _key(client)
    replay = _with_cookie(key)  # the attacker's copy of the cookie, taken before logout
    assert replay.get(thumb).status_code == 200
    assert replay.get(API_CASES).status_code == 200
    assert replay.get(reverse("triage:review")).status_code == 200

    response = client.post(reverse("hub:logout"))
    assert _is_login_redirect(response)
    assert not _alive(key)
    cleared = response.cookies.get(COOKIE)
    assert cleared is not None and cleared.value == "" and cleared["max-age"] == 0

    replay = _with_cookie(key)
    for url in (reverse("hub:home"), reverse("triage:review"), thumb, original):
        response = replay.get(url)
        assert _is_login_redirect(response), f"{url} after logout: {response.status_code}"
        assert not response.get("Content-Disposition")
    api = replay.get(API_CASES)
    assert api.status_code in (401, 403), api.status_code
    assert str(item.case.uuid).encode() not in api.content
    # Replaying does not bring the session back.
    assert not _alive(key)


def test_logout_needs_a_post(client_for, ivan):
    """A GET (an <img src="/logout/"> on another site) neither logs out nor errors."""
    client = client_for(ivan)
    assert client.get(reverse("hub:logout")).status_code == 405
    assert client.get(reverse("hub:home")).status_code == 200
