import hashlib
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from hub.models import Agency, Invitation, Role
from tests.hub.helpers import events, token_from

pytestmark = pytest.mark.django_db


def test_operator_lists_agencies(client_for, hugo, demo_agency, other_agency):
    response = client_for(hugo).get(reverse("hub:operator_agencies"))
    assert response.status_code == 200
    assert b"Demo Police" in response.content and b"Other Force" in response.content


def test_agency_admin_is_not_an_operator(client_for, alice):
    assert client_for(alice).get(reverse("hub:operator_agencies")).status_code == 403
    response = client_for(alice).post(
        reverse("hub:operator_agency_create"),
        {"name": "Rogue", "admin_email": "x@example.test"},
    )
    assert response.status_code == 403
    assert not Agency.objects.filter(name="Rogue").exists()


def test_create_agency_invites_first_admin_with_a_link_shown_once(client_for, hugo):
    client = client_for(hugo)
    before = timezone.now()
    response = client.post(
        reverse("hub:operator_agency_create"),
        {"name": "North Unit", "admin_email": "chief@north.test"},
    )
    assert response.status_code == 200
    token = token_from(response)
    agency = Agency.objects.get(name="North Unit")
    assert agency.slug == "north-unit"
    invitation = Invitation.objects.get(agency=agency)
    assert invitation.role == Role.ADMIN
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    # Only the hash is stored anywhere in the row.
    assert token not in str(Invitation.objects.filter(pk=invitation.pk).values().get())
    expected = before + timedelta(days=7)
    assert abs((invitation.expires_at - expected).total_seconds()) < 60
    # Never shown again.
    assert token.encode() not in client.get(reverse("hub:operator_agencies")).content
    assert events(None, "agency.created").get().object_id == str(agency.uuid)
    assert events(agency, "invitation.created").get().data["role"] == "admin"


def test_create_agency_refuses_duplicate_name(client_for, hugo, demo_agency):
    response = client_for(hugo).post(
        reverse("hub:operator_agency_create"),
        {"name": "demo police", "admin_email": "a@b.test"},
    )
    assert response.status_code == 200
    assert b"exists" in response.content
    assert Agency.objects.count() == 1


def test_suspended_agency_loses_access_until_reactivated(client_for, hugo, ivan, demo_agency):
    investigator = client_for(ivan)
    assert b"Demo Police" in investigator.get(reverse("hub:home")).content
    response = client_for(hugo).post(
        reverse("hub:operator_agency_suspend", args=[demo_agency.uuid])
    )
    assert response.status_code == 302
    demo_agency.refresh_from_db()
    assert not demo_agency.is_active
    # The same session, on its next request, has no agency any more.
    home = investigator.get(reverse("hub:home"))
    assert b"not a member of any agency" in home.content
    assert b"agency-strip" not in home.content
    assert events(None, "agency.suspended").get().data["is_active"] == {"old": True, "new": False}
    assert events(demo_agency, "agency.suspended").exists()

    client_for(hugo).post(reverse("hub:operator_agency_reactivate", args=[demo_agency.uuid]))
    assert b"Demo Police" in investigator.get(reverse("hub:home")).content
    assert events(None, "agency.reactivated").exists()


def test_suspended_agency_admin_cannot_reach_admin_pages(client_for, hugo, alice, demo_agency):
    client_for(hugo).post(reverse("hub:operator_agency_suspend", args=[demo_agency.uuid]))
    response = client_for(alice).get(reverse("hub:agency_users"))
    assert response.status_code == 302
    assert response.url == reverse("hub:home")


def test_operator_invites_another_admin(client_for, hugo, other_agency):
    response = client_for(hugo).post(
        reverse("hub:operator_agency_invite", args=[other_agency.uuid]),
        {"email": "second@other.test", "role": "admin"},
    )
    assert response.status_code == 200
    token_from(response)
    assert Invitation.objects.get(agency=other_agency).email == "second@other.test"
