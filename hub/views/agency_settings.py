"""The agency admin's policy page (every field of hub.policy.AgencyPolicy)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from hub import services
from hub.access import agency_required
from hub.forms import AgencySettingsForm
from hub.models import Role

# Policy keys whose form field has another name (or that several fields make up).
CHANGE_LABELS = {"weights": "Priority weights", "max_upload_bytes": "Max upload size"}


def _changed_names(form: AgencySettingsForm, changes: dict) -> list[str]:
    """The changed settings as the form labels them, not as policy keys."""
    names = []
    for key in changes:
        if key in CHANGE_LABELS:
            names.append(CHANGE_LABELS[key])
        elif key in form.fields:
            names.append(str(form[key].label))
        else:
            names.append(key)
    return sorted(names, key=str.lower)


@require_http_methods(["GET", "POST"])
@agency_required(Role.ADMIN)
def agency_settings(request):
    policy = request.agency.policy
    form = AgencySettingsForm(request.POST or None, initial=AgencySettingsForm.initial_for(policy))
    if request.method == "POST" and form.is_valid():
        changes = services.agency_settings_update(
            agency=request.agency,
            values=form.policy_values(current=policy),
            actor=request.user,
            request=request,
        )
        if changes:
            messages.success(request, f"Saved: {', '.join(_changed_names(form, changes))}.")
        else:
            messages.info(request, "Nothing changed.")
        return redirect("hub:agency_settings")
    status = 400 if request.method == "POST" else 200
    return render(request, "hub/agency_settings.html", {"form": form}, status=status)
