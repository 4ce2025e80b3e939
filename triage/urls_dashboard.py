"""URL patterns of the dashboard area (included by triage/urls.py)."""

from django.urls import path

from triage.views import cases, dashboard, health

urlpatterns = [
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("cases/<uuid:case>/summary/", cases.case_summary, name="case_summary"),
    path("cases/<uuid:case>/close/", cases.case_close, name="case_close"),
    path("cases/<uuid:case>/reopen/", cases.case_reopen, name="case_reopen"),
    path("hub/health/", health.hub_health_view, name="hub_health"),
]
