"""Routes of the platform (hub app) for the cross-agency walk."""

from __future__ import annotations

from tests.routes import Route

# Pages every signed-in person may open, the hub operator (who has no agency) included.
OPERATOR_ALLOWED = {"hub:home", "hub:logout"}


def build(world) -> None:
    from hub.models import Role
    from hub.services import invitation_create
    from tests.conftest import make_user

    world.member = make_user("olga", world.agency, Role.INVESTIGATOR)
    world.membership = world.member.memberships.get(agency=world.agency)
    issued = invitation_create(
        agency=world.agency, email="new@other.test", role=Role.INVESTIGATOR, actor=world.admin
    )
    world.invitation = issued.invitation
    world.invitation_token = issued.token


def _membership(world):
    return {"membership": world.membership.uuid}


def _invitation(world):
    return {"invitation": world.invitation.uuid}


def _agency(world):
    return {"agency": world.agency.uuid}


ROUTES = {
    "hub:home": Route(methods=("GET",)),
    "hub:login": Route(public=True),
    "hub:login_otp": Route(public=True, notes="The second login step; redirects to login."),
    "hub:logout": Route(methods=("POST",)),
    "hub:switch_agency": Route(methods=("POST",), notes="Only the caller's own memberships."),
    "hub:invitation_accept": Route(
        public=True, kwargs=lambda w: {"token": w.invitation_token}, notes="Token is the key."
    ),
    "hub:agency_users": Route(role="admin", methods=("GET",)),
    "hub:agency_invite": Route(role="admin"),
    "hub:membership_role": Route(kwargs=_membership, role="admin", methods=("POST",)),
    "hub:membership_deactivate": Route(kwargs=_membership, role="admin", methods=("POST",)),
    "hub:membership_reactivate": Route(kwargs=_membership, role="admin", methods=("POST",)),
    "hub:membership_reset_2fa": Route(kwargs=_membership, role="admin", methods=("POST",)),
    "hub:membership_unlock": Route(kwargs=_membership, role="admin", methods=("POST",)),
    "hub:invitation_revoke": Route(kwargs=_invitation, role="admin", methods=("POST",)),
    "hub:agency_settings": Route(role="admin"),
    "hub:audit_log": Route(role="admin", methods=("GET",)),
    "hub:audit_export": Route(role="admin", methods=("GET",)),
    "hub:operator_agencies": Route(role="operator", methods=("GET",)),
    "hub:operator_agency_create": Route(role="operator"),
    "hub:operator_agency_invite": Route(kwargs=_agency, role="operator"),
    "hub:operator_agency_suspend": Route(kwargs=_agency, role="operator", methods=("POST",)),
    "hub:operator_agency_reactivate": Route(kwargs=_agency, role="operator", methods=("POST",)),
}
