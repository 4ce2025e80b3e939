import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from hub.models import Invitation, Membership, Role
from tests.conftest import make_user
from tests.hub.helpers import events, post_login, token_from

pytestmark = pytest.mark.django_db


def _m(user, agency):
    return Membership.objects.get(user=user, agency=agency)


def test_admin_lists_members_supervisor_may_not(client_for, alice, sam, ivan):
    response = client_for(alice).get(reverse("hub:agency_users"))
    assert response.status_code == 200
    for name in (b"alice", b"sam", b"ivan"):
        assert name in response.content
    assert client_for(sam).get(reverse("hub:agency_users")).status_code == 403
    assert client_for(ivan).get(reverse("hub:agency_users")).status_code == 403


def test_members_of_other_agencies_are_not_listed(client_for, alice, oscar):
    assert b"oscar" not in client_for(alice).get(reverse("hub:agency_users")).content


def test_invite_with_role_shows_link_once(client_for, alice, demo_agency):
    client = client_for(alice)
    response = client.post(
        reverse("hub:agency_invite"), {"email": "new@demo.test", "role": "supervisor"}
    )
    assert response.status_code == 200
    token = token_from(response)
    invitation = Invitation.objects.get(agency=demo_agency)
    assert invitation.role == Role.SUPERVISOR
    listing = client.get(reverse("hub:agency_users")).content
    assert b"new@demo.test" in listing and token.encode() not in listing
    assert events(demo_agency, "invitation.created").get().actor == alice


def test_invite_validates(client_for, alice):
    response = client_for(alice).post(
        reverse("hub:agency_invite"), {"email": "nope", "role": "boss"}
    )
    assert response.status_code == 400
    assert not Invitation.objects.exists()


def test_change_role_is_audited_with_old_and_new(client_for, alice, ivan, demo_agency):
    membership = _m(ivan, demo_agency)
    response = client_for(alice).post(
        reverse("hub:membership_role", args=[membership.uuid]), {"role": "supervisor"}
    )
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.SUPERVISOR
    event = events(demo_agency, "membership.role_changed").get()
    assert event.data["role"] == {"old": "investigator", "new": "supervisor"}
    assert event.actor == alice and event.object_id == str(membership.uuid)


def test_last_admin_cannot_demote_or_deactivate_themselves(client_for, alice, demo_agency):
    membership = _m(alice, demo_agency)
    client = client_for(alice)
    client.post(reverse("hub:membership_role", args=[membership.uuid]), {"role": "investigator"})
    client.post(reverse("hub:membership_deactivate", args=[membership.uuid]))
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN and membership.is_active
    assert b"last active admin" in client.get(reverse("hub:agency_users")).content
    assert not events(demo_agency, "membership.role_changed").exists()


def test_admin_may_step_down_when_another_admin_exists(client_for, alice, demo_agency):
    make_user("ada", demo_agency, Role.ADMIN)
    membership = _m(alice, demo_agency)
    client_for(alice).post(
        reverse("hub:membership_role", args=[membership.uuid]), {"role": "supervisor"}
    )
    membership.refresh_from_db()
    assert membership.role == Role.SUPERVISOR


def test_deactivate_and_reactivate(client_for, alice, ivan, demo_agency):
    membership = _m(ivan, demo_agency)
    investigator = client_for(ivan)
    client_for(alice).post(reverse("hub:membership_deactivate", args=[membership.uuid]))
    membership.refresh_from_db()
    assert not membership.is_active
    assert b"not a member of any agency" in investigator.get(reverse("hub:home")).content
    event = events(demo_agency, "membership.deactivated").get()
    assert event.data["is_active"] == {"old": True, "new": False}
    client_for(alice).post(reverse("hub:membership_reactivate", args=[membership.uuid]))
    assert b"Demo Police" in investigator.get(reverse("hub:home")).content
    assert events(demo_agency, "membership.reactivated").exists()


def test_reset_second_factor_forces_re_enrolment(client_for, alice, ivan, demo_agency):
    investigator = client_for(ivan)
    assert investigator.get(reverse("hub:home")).status_code == 200
    client_for(alice).post(reverse("hub:membership_reset_2fa", args=[_m(ivan, demo_agency).uuid]))
    assert not TOTPDevice.objects.filter(user=ivan).exists()
    # The verified session is no longer verified: straight to enrolment.
    response = investigator.get(reverse("hub:home"))
    assert response.status_code == 302 and response.url == reverse("hub:login_otp")
    assert b"Set up two-factor login" in investigator.get(reverse("hub:login_otp")).content
    assert events(demo_agency, "user.second_factor_reset").get().data["devices_removed"] == 1


def test_unlock_lifts_a_lockout(client, client_for, alice, ivan, demo_agency):
    for _ in range(5):
        post_login(client, "ivan", "wrong password!")
    assert post_login(client, "ivan").status_code == 403  # locked, even with the password
    page = client_for(alice).get(reverse("hub:agency_users")).content
    assert b'data-testid="locked"' in page
    client_for(alice).post(reverse("hub:membership_unlock", args=[_m(ivan, demo_agency).uuid]))
    response = post_login(client, "ivan")
    assert response.status_code == 302 and response.url == reverse("hub:login_otp")
    assert events(demo_agency, "user.unlocked").get().data["user"] == "ivan"


def test_revoke_invitation(client_for, alice, demo_agency):
    client = client_for(alice)
    token = token_from(
        client.post(reverse("hub:agency_invite"), {"email": "x@demo.test", "role": "investigator"})
    )
    invitation = Invitation.objects.get()
    client.post(reverse("hub:invitation_revoke", args=[invitation.uuid]))
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    from django.test import Client

    assert Client().get(reverse("hub:invitation_accept", args=[token])).status_code == 410
    assert events(demo_agency, "invitation.revoked").exists()


def test_other_agencys_membership_is_404(client_for, alice, oscar, other_agency):
    membership = _m(oscar, other_agency)
    for name in ("membership_role", "membership_deactivate", "membership_reset_2fa"):
        response = client_for(alice).post(reverse(f"hub:{name}", args=[membership.uuid]))
        assert response.status_code == 404, name
    assert TOTPDevice.objects.filter(user=oscar).exists()
