from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from hub.models import Membership, Role, User
from hub.services import invitation_create
from tests.hub.helpers import events, post_login

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a long and unusual passphrase 42"


@pytest.fixture
def issued(demo_agency, alice):
    return invitation_create(
        agency=demo_agency, email="nina@demo.test", role=Role.INVESTIGATOR, actor=alice
    )


def _accept(client, token, username="nina", password=NEW_PASSWORD):
    return client.post(
        reverse("hub:invitation_accept", args=[token]),
        {"username": username, "password1": password, "password2": password},
    )


def test_new_user_accepts_then_enrols_at_first_login(issued, demo_agency):
    client = Client()
    page = client.get(reverse("hub:invitation_accept", args=[issued.token]))
    assert page.status_code == 200 and b"Join Demo Police" in page.content
    response = _accept(client, issued.token)
    assert response.status_code == 302 and response.url == reverse("hub:login")
    user = User.objects.get(username="nina")
    assert user.password.startswith("argon2")
    assert user.email == "nina@demo.test"
    assert Membership.objects.get(user=user, agency=demo_agency).role == Role.INVESTIGATOR
    issued.invitation.refresh_from_db()
    assert issued.invitation.accepted_by == user
    assert events(demo_agency, "invitation.accepted").get().actor == user
    # First login: password, then the enrolment page (no device yet).
    response = post_login(client, "nina", NEW_PASSWORD)
    assert response.url == reverse("hub:login_otp")
    assert b"Set up two-factor login" in client.get(reverse("hub:login_otp")).content


def test_invitation_is_single_use(issued):
    _accept(Client(), issued.token)
    response = _accept(Client(), issued.token, username="nina2")
    assert response.status_code == 410
    assert not User.objects.filter(username="nina2").exists()


def test_expired_invitation_is_refused(issued):
    issued.invitation.expires_at = timezone.now() - timedelta(seconds=1)
    issued.invitation.save()
    assert _accept(Client(), issued.token).status_code == 410
    assert not User.objects.filter(username="nina").exists()


def test_unknown_token_is_404(db):
    assert Client().get(reverse("hub:invitation_accept", args=["nope"])).status_code == 404


def test_weak_password_is_refused(issued):
    response = _accept(Client(), issued.token, password="password")
    assert response.status_code == 200
    assert b"too short" in response.content or b"too common" in response.content
    assert not User.objects.filter(username="nina").exists()
    issued.invitation.refresh_from_db()
    assert issued.invitation.accepted_at is None


def test_taken_username_is_refused(issued, ivan):
    response = _accept(Client(), issued.token, username="IVAN")
    assert b"taken" in response.content
    assert User.objects.filter(username__iexact="ivan").count() == 1


def test_existing_user_joins_another_agency(client_for, oscar, other_agency, otto, demo_agency):
    issued = invitation_create(
        agency=demo_agency, email="oscar@example.test", role=Role.SUPERVISOR, actor=otto
    )
    client = client_for(oscar)
    page = client.get(reverse("hub:invitation_accept", args=[issued.token]))
    assert b"logged in as <strong>oscar</strong>" in page.content
    response = client.post(reverse("hub:invitation_accept", args=[issued.token]))
    assert response.status_code == 302
    assert Membership.objects.get(user=oscar, agency=demo_agency).role == Role.SUPERVISOR
    # The new agency becomes the active one.
    assert b"Working in <strong>Demo Police</strong>" in client.get(reverse("hub:home")).content
    assert Membership.objects.filter(user=oscar).count() == 2
