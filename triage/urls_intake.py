"""URL patterns of the intake area (included by triage/urls.py)."""

urlpatterns: list = []
