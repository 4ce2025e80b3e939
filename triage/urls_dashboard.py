"""URL patterns of the dashboard area (included by triage/urls.py)."""

urlpatterns: list = []
