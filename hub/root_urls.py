"""Root URL configuration: the platform (hub) and the evidence app (triage).
No public media URL exists: evidence is served only by authorised views."""

from django.urls import include, path

urlpatterns = [
    path("", include("hub.urls")),
    path("", include("triage.urls")),
]
