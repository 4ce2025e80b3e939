"""URL patterns of the matching area (included by triage/urls.py)."""

urlpatterns: list = []
