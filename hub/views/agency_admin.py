"""The agency admin's Users page: members, roles, invitations, second factors, lockouts."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from hub import services
from hub.access import agency_required, get_scoped_or_404, scoped
from hub.forms import InviteForm, RoleForm
from hub.models import Invitation, Membership, Role
from hub.views.operator import invitation_link


def _users_context(request, invite_form=None) -> dict:
    memberships = list(
        scoped(request, Membership.objects.select_related("user")).order_by(
            "-is_active", "user__username"
        )
    )
    locked = services.locked_usernames(m.user.username for m in memberships)
    with_device = set(
        Membership.objects.filter(
            pk__in=[m.pk for m in memberships], user__totpdevice__confirmed=True
        ).values_list("pk", flat=True)
    )
    for m in memberships:
        m.is_locked = m.user.username in locked
        m.has_second_factor = m.pk in with_device
    invitations = scoped(request, Invitation.objects.select_related("invited_by")).filter(
        accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    )
    return {
        "memberships": memberships,
        "invitations": invitations.order_by("-created_at"),
        "invite_form": invite_form or InviteForm(),
        "roles": Role.choices,
    }


@require_http_methods(["GET"])
@agency_required(Role.ADMIN)
def agency_users(request):
    return render(request, "hub/agency_users.html", _users_context(request))


@require_http_methods(["GET", "POST"])
@agency_required(Role.ADMIN)
def agency_invite(request):
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        issued = services.invitation_create(
            agency=request.agency,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            actor=request.user,
            request=request,
        )
        # Rendered, not redirected: the token is in this response and nowhere else.
        return render(
            request,
            "hub/invitation_issued.html",
            {
                "agency": request.agency,
                "invitation": issued.invitation,
                "link": invitation_link(request, issued.token),
                "back_url": reverse("hub:agency_users"),
            },
        )
    status = 400 if request.method == "POST" else 200
    return render(request, "hub/agency_users.html", _users_context(request, form), status=status)


def _membership(request, membership):
    return get_scoped_or_404(request, Membership.objects.select_related("user"), uuid=membership)


def _run(request, action, success: str):
    try:
        action()
    except (services.ServiceError, ValidationError) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.success(request, success)
    return redirect("hub:agency_users")


@require_POST
@agency_required(Role.ADMIN)
def membership_role(request, membership):
    membership = _membership(request, membership)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a valid role.")
        return redirect("hub:agency_users")
    role = form.cleaned_data["role"]
    return _run(
        request,
        lambda: services.membership_set_role(
            membership=membership, role=role, actor=request.user, request=request
        ),
        f"{membership.user.username} is now {Role(role).label.lower()}.",
    )


@require_POST
@agency_required(Role.ADMIN)
def membership_deactivate(request, membership):
    membership = _membership(request, membership)
    return _run(
        request,
        lambda: services.membership_set_active(
            membership=membership, active=False, actor=request.user, request=request
        ),
        f"{membership.user.username} no longer has access to this agency.",
    )


@require_POST
@agency_required(Role.ADMIN)
def membership_reactivate(request, membership):
    membership = _membership(request, membership)
    return _run(
        request,
        lambda: services.membership_set_active(
            membership=membership, active=True, actor=request.user, request=request
        ),
        f"{membership.user.username} has access again.",
    )


@require_POST
@agency_required(Role.ADMIN)
def membership_reset_2fa(request, membership):
    membership = _membership(request, membership)
    return _run(
        request,
        lambda: services.second_factor_reset(
            membership=membership, actor=request.user, request=request
        ),
        f"{membership.user.username} will set up a new authenticator at their next login.",
    )


@require_POST
@agency_required(Role.ADMIN)
def membership_unlock(request, membership):
    membership = _membership(request, membership)
    return _run(
        request,
        lambda: services.user_unlock(membership=membership, actor=request.user, request=request),
        f"{membership.user.username} can log in again.",
    )


@require_POST
@agency_required(Role.ADMIN)
def invitation_revoke(request, invitation):
    invitation = get_scoped_or_404(request, Invitation.objects.all(), uuid=invitation)
    return _run(
        request,
        lambda: services.invitation_revoke(
            invitation=invitation, actor=request.user, request=request
        ),
        f"The invitation for {invitation.email} is revoked.",
    )
