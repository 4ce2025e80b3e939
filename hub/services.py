"""Platform writes: agencies, invitations, memberships, second factors, lockouts, policy.

Every function here is keyword-only and writes its audit row inside the same
``transaction.atomic()`` as the change, so the change and its record commit together."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from hub.audit import audit_record
from hub.models import Agency, Invitation, Membership, Role, User

INVITATION_DAYS = 7


class ServiceError(Exception):
    """A refused write, with a message for a person to read."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- Agencies (hub operators) -----------------------------------------------------------


@dataclass(frozen=True)
class IssuedInvitation:
    """An invitation together with its token. The token exists only here: the database
    keeps its SHA-256, so it can be shown once and never again."""

    invitation: Invitation
    token: str


def agency_create(
    *, name: str, slug: str, admin_email: str, actor: User, request=None
) -> tuple[Agency, IssuedInvitation]:
    """Create an agency and invite its first admin."""
    with transaction.atomic():
        agency = Agency.objects.create(name=name, slug=slug)
        audit_record(
            "agency.created",
            agency=None,
            actor=actor,
            obj=agency,
            data={"name": name, "slug": slug},
            request=request,
        )
        audit_record("agency.created", agency=agency, actor=actor, obj=agency, data={"name": name})
        issued = invitation_create(
            agency=agency, email=admin_email, role=Role.ADMIN, actor=actor, request=request
        )
    return agency, issued


def agency_set_active(*, agency: Agency, active: bool, actor: User, request=None) -> Agency:
    """Suspend or reactivate an agency. A suspended agency's users lose access at once
    (``ActiveAgencyMiddleware`` re-checks ``is_active`` on every request)."""
    with transaction.atomic():
        agency = Agency.objects.select_for_update().get(pk=agency.pk)
        if agency.is_active == active:
            return agency
        old = agency.is_active
        agency.is_active = active
        agency.save(update_fields=["is_active"])
        action = "agency.reactivated" if active else "agency.suspended"
        data = {"is_active": {"old": old, "new": active}}
        audit_record(action, agency=None, actor=actor, obj=agency, data=data, request=request)
        audit_record(action, agency=agency, actor=actor, obj=agency, data=data, request=request)
    return agency


# --- Invitations --------------------------------------------------------------------------


def invitation_create(
    *,
    agency: Agency,
    email: str,
    role: str,
    actor: User,
    days: int = INVITATION_DAYS,
    request=None,
) -> IssuedInvitation:
    if role not in Role.values:
        raise ServiceError(f"Unknown role {role!r}.")
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        invitation = Invitation.objects.create(
            agency=agency,
            email=email,
            role=role,
            token_hash=hash_token(token),
            invited_by=actor,
            expires_at=timezone.now() + timedelta(days=days),
        )
        audit_record(
            "invitation.created",
            agency=agency,
            actor=actor,
            obj=invitation,
            data={"email": email, "role": role, "expires_at": invitation.expires_at},
            request=request,
        )
    return IssuedInvitation(invitation, token)


def invitation_for_token(token: str) -> Invitation | None:
    """The invitation a token opens, usable or not (None when no such token)."""
    if not token or len(token) > 200:
        return None
    return Invitation.objects.select_related("agency").filter(token_hash=hash_token(token)).first()


def invitation_revoke(*, invitation: Invitation, actor: User, request=None) -> Invitation:
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.accepted_at is not None:
            raise ServiceError("This invitation has already been accepted.")
        if invitation.revoked_at is not None:
            return invitation
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(
            "invitation.revoked",
            agency=invitation.agency,
            actor=actor,
            obj=invitation,
            data={"email": invitation.email, "role": invitation.role},
            request=request,
        )
    return invitation


def _claim_invitation(token: str) -> Invitation:
    """Lock the invitation row and check it is still usable (single use, not expired)."""
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("agency")
        .filter(token_hash=hash_token(token))
        .first()
    )
    if invitation is None:
        raise ServiceError("This invitation link is not valid.")
    if invitation.accepted_at is not None:
        raise ServiceError("This invitation has already been used.")
    if invitation.revoked_at is not None:
        raise ServiceError("This invitation has been revoked.")
    if invitation.expires_at <= timezone.now():
        raise ServiceError("This invitation has expired. Ask for a new one.")
    if not invitation.agency.is_active:
        raise ServiceError("This agency is suspended.")
    return invitation


def _join(invitation: Invitation, user: User, request) -> Membership:
    membership, created = Membership.objects.get_or_create(
        user=user, agency=invitation.agency, defaults={"role": invitation.role}
    )
    old = None if created else {"role": membership.role, "is_active": membership.is_active}
    if not created:
        membership.role = invitation.role
        membership.is_active = True
        membership.save(update_fields=["role", "is_active"])
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_record(
        "invitation.accepted",
        agency=invitation.agency,
        actor=user,
        obj=invitation,
        data={
            "username": user.username,
            "membership": str(membership.uuid),
            "old": old,
            "new": {"role": membership.role, "is_active": True},
        },
        request=request,
    )
    return membership


def invitation_accept_new_user(
    *, token: str, username: str, password: str, request=None
) -> Membership:
    """Create the user (Argon2 password, Django's validators) and their membership.
    The second factor is enrolled at the first login."""
    with transaction.atomic():
        invitation = _claim_invitation(token)
        if User.objects.filter(username__iexact=username).exists():
            raise ServiceError("That username is taken. Choose another.")
        candidate = User(username=username, email=invitation.email)
        validate_password(password, user=candidate)
        candidate.set_password(password)
        candidate.save()
        audit_record(
            "user.created",
            agency=None,
            actor=candidate,
            obj=candidate,
            data={"via": "invitation", "agency": invitation.agency.slug},
            request=request,
        )
        return _join(invitation, candidate, request)


def invitation_accept_existing_user(*, token: str, user: User, request=None) -> Membership:
    """A logged-in user joins the invitation's agency."""
    with transaction.atomic():
        invitation = _claim_invitation(token)
        return _join(invitation, user, request)


# --- Memberships -------------------------------------------------------------------------


def _active_admins(agency: Agency):
    return Membership.objects.filter(
        agency=agency, role=Role.ADMIN, is_active=True, user__is_active=True
    )


def _refuse_last_admin(membership: Membership) -> None:
    others = _active_admins(membership.agency).exclude(pk=membership.pk)
    if membership.role == Role.ADMIN and membership.is_active and not others.exists():
        raise ServiceError("This is the agency's last active admin. Make someone else admin first.")


def membership_set_role(
    *, membership: Membership, role: str, actor: User, request=None
) -> Membership:
    if role not in Role.values:
        raise ServiceError(f"Unknown role {role!r}.")
    with transaction.atomic():
        # Lock every admin row of the agency so two admins cannot demote each other at once.
        list(_active_admins(membership.agency).select_for_update())
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        if membership.role == role:
            return membership
        if role != Role.ADMIN:
            _refuse_last_admin(membership)
        old = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        audit_record(
            "membership.role_changed",
            agency=membership.agency,
            actor=actor,
            obj=membership,
            data={"user": membership.user.username, "role": {"old": old, "new": role}},
            request=request,
        )
    return membership


def membership_set_active(
    *, membership: Membership, active: bool, actor: User, request=None
) -> Membership:
    with transaction.atomic():
        list(_active_admins(membership.agency).select_for_update())
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        if membership.is_active == active:
            return membership
        if not active:
            _refuse_last_admin(membership)
        membership.is_active = active
        membership.save(update_fields=["is_active"])
        audit_record(
            "membership.reactivated" if active else "membership.deactivated",
            agency=membership.agency,
            actor=actor,
            obj=membership,
            data={
                "user": membership.user.username,
                "is_active": {"old": not active, "new": active},
            },
            request=request,
        )
    return membership


def second_factor_reset(*, membership: Membership, actor: User, request=None) -> int:
    """Delete the member's TOTP devices: they enrol a new one at their next login.
    A session verified with a deleted device is no longer verified (django-otp finds no
    device), so the member is sent to the enrolment step at once."""
    user = membership.user
    with transaction.atomic():
        count, _ = TOTPDevice.objects.filter(user=user).delete()
        audit_record(
            "user.second_factor_reset",
            agency=membership.agency,
            actor=actor,
            obj=user,
            data={"user": user.username, "devices_removed": count},
            request=request,
        )
    return count


def user_unlock(*, membership: Membership, actor: User, request=None) -> int:
    """Lift a django-axes lockout of the member's username."""
    from axes.utils import reset

    username = membership.user.username
    with transaction.atomic():
        removed = reset(username=username)
        audit_record(
            "user.unlocked",
            agency=membership.agency,
            actor=actor,
            obj=membership.user,
            data={"user": username, "attempt_records_removed": removed},
            request=request,
        )
    return removed


def locked_usernames(usernames) -> set[str]:
    """Which of these usernames django-axes currently locks out (one query)."""
    from axes.models import AccessAttempt
    from django.conf import settings
    from django.db.models import Sum

    rows = (
        AccessAttempt.objects.filter(username__in=list(usernames))
        .values("username")
        .annotate(n=Sum("failures_since_start"))
    )
    return {r["username"] for r in rows if r["n"] >= settings.AXES_FAILURE_LIMIT}


# --- Agency policy ------------------------------------------------------------------------


def agency_settings_update(*, agency: Agency, values: dict, actor: User, request=None) -> dict:
    """Store validated policy values; audit every field that changed (old and new)."""
    with transaction.atomic():
        agency = Agency.objects.select_for_update().get(pk=agency.pk)
        before = agency.policy.as_dict()
        stored = dict(agency.settings or {})
        stored.update(values)
        agency.settings = stored
        after = agency.policy.as_dict()  # validates by constructing the policy
        changes = {k: {"old": before[k], "new": after[k]} for k in after if before[k] != after[k]}
        if not changes:
            return {}
        agency.save(update_fields=["settings"])
        audit_record(
            "agency.settings_changed",
            agency=agency,
            actor=actor,
            obj=agency,
            data={"changes": changes},
            request=request,
        )
    return changes
