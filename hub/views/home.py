from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from hub.access import two_factor_satisfied
from hub.audit import audit_record
from hub.middleware import SESSION_AGENCY_KEY
from hub.models import Membership


@login_required
def home(request):
    if not two_factor_satisfied(request.user):
        return redirect("hub:login_otp")
    return render(request, "hub/home.html", {})


@require_POST
@login_required
def switch_agency(request):
    if not two_factor_satisfied(request.user):
        return redirect("hub:login_otp")
    wanted = request.POST.get("agency", "")
    membership = (
        Membership.objects.filter(
            user=request.user, is_active=True, agency__is_active=True, agency__uuid=wanted
        )
        .select_related("agency")
        .first()
        if wanted
        else None
    )
    if membership is None:
        raise Http404("Not found")
    request.session[SESSION_AGENCY_KEY] = str(membership.agency.uuid)
    audit_record("agency.switched", agency=membership.agency, actor=request.user, request=request)
    return redirect("hub:home")
