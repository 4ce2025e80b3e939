"""Hub operator pages: onboard agencies, invite their first admin, suspend them.

Operators administer the platform, not agency data: these pages show agencies and
memberships counts, never evidence."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from hub import services
from hub.access import operator_required
from hub.forms import AgencyCreateForm, InviteForm
from hub.models import Agency, Role


def invitation_link(request, token: str) -> str:
    return request.build_absolute_uri(reverse("hub:invitation_accept", args=[token]))


@require_http_methods(["GET"])
@operator_required
def operator_agencies(request):
    agencies = Agency.objects.annotate(
        n_members=Count("memberships", filter=Q(memberships__is_active=True), distinct=True),
        n_admins=Count(
            "memberships",
            filter=Q(memberships__is_active=True, memberships__role=Role.ADMIN),
            distinct=True,
        ),
    ).order_by("name")
    return render(request, "hub/operator_agencies.html", {"agencies": agencies})


def _issued(request, agency, issued):
    # Rendered, not redirected: the token is in this response and nowhere else.
    return render(
        request,
        "hub/invitation_issued.html",
        {
            "agency": agency,
            "invitation": issued.invitation,
            "link": invitation_link(request, issued.token),
            "back_url": reverse("hub:operator_agencies"),
        },
    )


@require_http_methods(["GET", "POST"])
@operator_required
def operator_agency_create(request):
    form = AgencyCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        agency, issued = services.agency_create(
            name=form.cleaned_data["name"],
            slug=form.cleaned_data["slug"],
            admin_email=form.cleaned_data["admin_email"],
            actor=request.user,
            request=request,
        )
        return _issued(request, agency, issued)
    return render(request, "hub/operator_agency_create.html", {"form": form})


@require_http_methods(["GET", "POST"])
@operator_required
def operator_agency_invite(request, agency):
    """Invite another admin (e.g. when the first link expired)."""
    agency = get_object_or_404(Agency, uuid=agency)
    form = InviteForm(request.POST or None, initial={"role": Role.ADMIN})
    if request.method == "POST" and form.is_valid():
        issued = services.invitation_create(
            agency=agency,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            actor=request.user,
            request=request,
        )
        return _issued(request, agency, issued)
    return render(request, "hub/operator_agency_invite.html", {"agency": agency, "form": form})


@require_POST
@operator_required
def operator_agency_suspend(request, agency):
    agency = get_object_or_404(Agency, uuid=agency)
    services.agency_set_active(agency=agency, active=False, actor=request.user, request=request)
    messages.success(request, f"{agency.name} is suspended. Its users cannot log in.")
    return redirect("hub:operator_agencies")


@require_POST
@operator_required
def operator_agency_reactivate(request, agency):
    agency = get_object_or_404(Agency, uuid=agency)
    services.agency_set_active(agency=agency, active=True, actor=request.user, request=request)
    messages.success(request, f"{agency.name} is active again.")
    return redirect("hub:operator_agencies")
