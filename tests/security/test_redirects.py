"""No open redirect: the two places that take a ``next`` address from the request (the login
and the review preferences form) only ever redirect within the site. Browsers read a
leading ``//`` or ``/\\`` as another host, so those count as off-site too."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import PASSWORD
from tests.security.conftest import otp_code

# Headers and CSRF do not depend on the database: checked once, in the SQLite run.
pytestmark = [pytest.mark.django_db, pytest.mark.db_independent]

HOSTILE = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "\\\\evil.example/",
    "/\\/evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
    " //evil.example/",
]


def _on_site(location: str) -> bool:
    # What a browser does with it: backslashes are slashes, leading blanks are dropped.
    seen = location.replace("\\", "/").lstrip(" \t\r\n")
    return seen.startswith("/") and not seen.startswith("//")


def test_login_next_stays_on_site(ivan):
    from django.test import Client

    for target in HOSTILE:
        client = Client()
        response = client.post(
            reverse("hub:login") + "?next=" + target,
            {"username": "ivan", "password": PASSWORD, "acknowledge": "on", "next": target},
        )
        assert response.status_code == 302 and response.url == reverse("hub:login_otp")
        # Each login needs a fresh code: a TOTP code is accepted once.
        TOTPDevice.objects.filter(user=ivan).update(last_t=-1)
        response = client.post(reverse("hub:login_otp"), {"code": otp_code(ivan)})
        assert response.status_code == 302, target
        assert _on_site(response.url), f"login redirected off-site to {response.url!r}"


def test_review_preferences_next_stays_on_site(client_for, ivan):
    client = client_for(ivan)
    for target in HOSTILE:
        response = client.post(reverse("triage:review_preferences"), {"blur": "on", "next": target})
        assert response.status_code == 302
        assert _on_site(response.url), f"preferences redirected off-site to {response.url!r}"


def test_a_site_path_is_kept(client_for, ivan):
    response = client_for(ivan).post(
        reverse("triage:review_preferences"), {"next": reverse("triage:case_list")}
    )
    assert response.status_code == 302 and response.url == reverse("triage:case_list")
