"""A flood of logins cannot make a web process run unbounded Argon2 checks at once (each
allocates about 100 MiB): at most HUB_PASSWORD_CHECKS_AT_ONCE; a login that cannot get a slot
in time is answered "busy" without checking the password or counting a failure."""

from __future__ import annotations

import threading
import time

import pytest
from axes.models import AccessAttempt
from django.urls import reverse

from hub import throttle
from tests.hub.helpers import events, post_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def one_slot(settings, monkeypatch):
    settings.HUB_PASSWORD_CHECKS_AT_ONCE = 1
    monkeypatch.setattr(throttle, "PASSWORD_WAIT_SECONDS", 0.2)


def test_a_login_without_a_free_slot_is_told_to_retry(client, ivan, one_slot):
    with throttle.password_check_slot():  # someone else's check is running
        response = post_login(client, "ivan")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert b"busy checking other sign-ins" in response.content
    assert "_auth_user_id" not in client.session
    # Nothing was checked, so nothing counts against the user.
    assert not AccessAttempt.objects.exists()
    assert not events(None, "auth.login_failed").exists()
    # Once the slot is free, the same login goes through to the second factor.
    assert post_login(client, "ivan").url == reverse("hub:login_otp")


def test_checks_at_once_never_exceed_the_setting(settings):
    settings.HUB_PASSWORD_CHECKS_AT_ONCE = 2
    running, most, busy = [0], [0], []
    lock = threading.Lock()

    def check():
        try:
            with throttle.password_check_slot(wait=5):
                with lock:
                    running[0] += 1
                    most[0] = max(most[0], running[0])
                time.sleep(0.05)
                with lock:
                    running[0] -= 1
        except throttle.PasswordChecksBusy:
            busy.append(1)

    threads = [threading.Thread(target=check) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 2 and not busy
