import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_login_page_shows_acknowledgement(client):
    response = client.get(reverse("hub:login"))
    assert response.status_code == 200
    assert b"Authorised use only" in response.content


def test_home_shows_active_agency(client_for, alice):
    response = client_for(alice).get(reverse("hub:home"))
    assert response.status_code == 200
    assert b"Demo Police" in response.content


def test_unverified_session_cannot_reach_home(client, alice):
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    response = client.get(reverse("hub:home"))
    assert response.status_code == 302
    assert response.url == reverse("hub:login_otp")
