"""URL patterns of the review area (included by triage/urls.py)."""

urlpatterns: list = []
