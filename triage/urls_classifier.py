"""URL patterns of the classifier area (included by triage/urls.py)."""

urlpatterns: list = []
