"""URL patterns of the exports area (included by triage/urls.py)."""

urlpatterns: list = []
