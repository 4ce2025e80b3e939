"""The agency admin's policy page (every field of hub.policy.AgencyPolicy)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from hub import services
from hub.access import agency_required
from hub.forms import AgencySettingsForm
from hub.models import Role


@require_http_methods(["GET", "POST"])
@agency_required(Role.ADMIN)
def agency_settings(request):
    initial = AgencySettingsForm.initial_for(request.agency.policy)
    form = AgencySettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        changes = services.agency_settings_update(
            agency=request.agency,
            values=form.policy_values(),
            actor=request.user,
            request=request,
        )
        if changes:
            messages.success(request, f"Saved: {', '.join(sorted(changes))}.")
        else:
            messages.info(request, "Nothing changed.")
        return redirect("hub:agency_settings")
    status = 400 if request.method == "POST" else 200
    return render(request, "hub/agency_settings.html", {"form": form}, status=status)
