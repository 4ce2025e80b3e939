import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from hub.middleware import SESSION_LOGIN_AT_KEY
from tests.hub.helpers import events

pytestmark = pytest.mark.django_db


def _session_row(client):
    return Session.objects.get(session_key=client.cookies[settings.SESSION_COOKIE_NAME].value)


def test_idle_limit_is_thirty_minutes_renewed_on_every_request(client_for, ivan):
    assert settings.SESSION_COOKIE_AGE == 30 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    client = client_for(ivan)
    row = _session_row(client)
    Session.objects.filter(pk=row.pk).update(expire_date=timezone.now() + timedelta(minutes=1))
    assert client.get(reverse("hub:home")).status_code == 200
    renewed = _session_row(client).expire_date - timezone.now()
    assert timedelta(minutes=29) < renewed <= timedelta(minutes=30)


def test_idle_session_ends(client_for, ivan):
    client = client_for(ivan)
    Session.objects.filter(pk=_session_row(client).pk).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    response = client.get(reverse("hub:home"))
    assert response.status_code == 302 and response.url.startswith(reverse("hub:login"))


def test_session_ends_twelve_hours_after_login_whatever_the_activity(client_for, ivan):
    assert settings.HUB_SESSION_MAX_SECONDS == 12 * 60 * 60
    client = client_for(ivan)
    assert client.get(reverse("hub:home")).status_code == 200
    session = client.session
    session[SESSION_LOGIN_AT_KEY] = time.time() - settings.HUB_SESSION_MAX_SECONDS + 60
    session.save()
    assert client.get(reverse("hub:home")).status_code == 200  # 11h59m: still fine
    session = client.session
    session[SESSION_LOGIN_AT_KEY] = time.time() - settings.HUB_SESSION_MAX_SECONDS - 1
    session.save()
    response = client.get(reverse("hub:home"))
    assert response.status_code == 302 and response.url.startswith(reverse("hub:login"))
    assert events(None, "auth.session_expired").get().actor == ivan
