from datetime import timedelta

import pytest
from axes.models import AccessFailureLog
from django.urls import reverse
from django.utils import timezone

from tests.hub.helpers import events, post_login

pytestmark = pytest.mark.django_db

WRONG = "not the password"


def test_five_failures_lock_the_username_until_an_admin_unlocks(client, ivan, demo_agency):
    for _ in range(4):
        response = post_login(client, "ivan", WRONG)
        assert response.status_code == 200 and b"not correct" in response.content
    response = post_login(client, "ivan", WRONG)
    assert response.status_code == 403 and b"Account locked" in response.content
    # No cool-off: the right password is refused too, much later.
    response = post_login(client, "ivan")
    assert response.status_code == 403 and b"Account locked" in response.content


def test_other_usernames_are_not_locked(client, ivan, iris):
    for _ in range(5):
        post_login(client, "ivan", WRONG)
    assert post_login(client, "iris").url == reverse("hub:login_otp")


def test_failures_and_lockout_are_audited_in_hub_and_agency_chains(client, ivan, demo_agency):
    for _ in range(5):
        post_login(client, "ivan", WRONG)
    for chain in (None, demo_agency):
        assert events(chain, "auth.login_failed").count() == 5
        locked = events(chain, "auth.locked_out").get()
        assert locked.object_id == "ivan" and locked.data["failure_limit"] == 5
    post_login(client, "ivan")
    assert events(demo_agency, "auth.login_refused_locked").count() == 1


def test_unknown_username_is_audited_in_the_hub_chain_only(client, demo_agency):
    post_login(client, "mallory", WRONG)
    assert events(None, "auth.login_failed").get().data == {"username": "mallory"}
    assert not events(demo_agency).exists()


def _age_failures(username, seconds):
    AccessFailureLog.objects.filter(username=username).update(
        attempt_time=timezone.now() - timedelta(seconds=seconds)
    )


def test_failures_older_than_the_window_do_not_count(client, ivan, settings):
    settings.HUB_FAILURE_WINDOW_SECONDS = 900
    for _ in range(4):
        post_login(client, "ivan", WRONG)
    _age_failures("ivan", 901)
    for _ in range(4):
        assert post_login(client, "ivan", WRONG).status_code == 200
    # 4 recent failures: the right password still works.
    assert post_login(client, "ivan").url == reverse("hub:login_otp")


def test_failures_inside_the_window_accumulate(client, ivan, settings):
    settings.HUB_FAILURE_WINDOW_SECONDS = 900
    for _ in range(3):
        post_login(client, "ivan", WRONG)
    _age_failures("ivan", 600)  # 10 minutes ago: still inside
    post_login(client, "ivan", WRONG)
    assert post_login(client, "ivan", WRONG).status_code == 403


def test_success_resets_the_count(client, ivan):
    for _ in range(4):
        post_login(client, "ivan", WRONG)
    assert post_login(client, "ivan").status_code == 302
    client.logout()
    for _ in range(4):
        assert post_login(client, "ivan", WRONG).status_code == 200
