from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from hub.access import two_factor_satisfied
from hub.audit import audit_record
from hub.middleware import SESSION_AGENCY_KEY
from hub.models import Agency, Invitation, Membership, Role
from hub.services import locked_usernames


def _url(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def _backlog(agency) -> dict | None:
    """The supervisor's teaser: items awaiting review and the oldest one's age. The
    evidence app may not be installed in every deployment of the platform pages."""
    try:
        from triage.models import EvidenceItem
        from triage.selectors import AWAITING_REVIEW
    except ImportError:  # pragma: no cover
        return None
    from django.db.models import Count, Min

    figures = EvidenceItem.objects.filter(
        agency=agency, review_state__in=AWAITING_REVIEW
    ).aggregate(n=Count("pk"), oldest=Min("queued_at"))
    return {"awaiting": figures["n"], "oldest": figures["oldest"]}


@require_http_methods(["GET"])
@login_required
def home(request):
    if not two_factor_satisfied(request.user):
        return redirect("hub:login_otp")
    membership = request.membership
    context: dict = {
        "cases_url": _url("triage:case_list"),
        "review_url": _url("triage:review"),
        "dashboard_url": _url("triage:dashboard"),
        "hashlists_url": _url("triage:hashlist_list"),
    }
    if membership is not None and membership.has_role(Role.SUPERVISOR):
        context["backlog"] = _backlog(request.agency)
    if membership is not None and membership.has_role(Role.ADMIN):
        members = Membership.objects.filter(agency=request.agency, is_active=True)
        context["n_members"] = members.count()
        context["n_pending_invitations"] = Invitation.objects.filter(
            agency=request.agency,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        ).count()
        context["n_locked"] = len(
            locked_usernames(members.values_list("user__username", flat=True))
        )
    if request.user.is_hub_operator:
        context["n_agencies"] = Agency.objects.count()
        context["n_suspended"] = Agency.objects.filter(is_active=False).count()
    return render(request, "hub/home.html", context)


@require_POST
@login_required
def switch_agency(request):
    if not two_factor_satisfied(request.user):
        return redirect("hub:login_otp")
    try:
        wanted = str(uuid.UUID(request.POST.get("agency", "")))
    except ValueError:
        raise Http404("Not found") from None
    membership = (
        Membership.objects.filter(
            user=request.user, is_active=True, agency__is_active=True, agency__uuid=wanted
        )
        .select_related("agency")
        .first()
    )
    if membership is None:
        raise Http404("Not found")
    request.session[SESSION_AGENCY_KEY] = str(membership.agency.uuid)
    audit_record("agency.switched", agency=membership.agency, actor=request.user, request=request)
    return redirect("hub:home")
