"""URL patterns of the api area (included by triage/urls.py)."""

urlpatterns: list = []
