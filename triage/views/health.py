"""Hub health for hub operators: counts only, no evidence details."""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from hub import db_scope
from hub.access import operator_required
from triage.dashboard.health import QUEUES, hub_health


@operator_required
@require_http_methods(["GET"])
def hub_health_view(request):
    # Counts across every agency: the one place outside maintenance that needs them.
    with db_scope.all_agencies():
        health = hub_health()
    return render(
        request,
        "triage/dashboard/health.html",
        {
            "health": health,
            "queues": [(q, health["queues"].get(q)) for q in QUEUES],
        },
    )
