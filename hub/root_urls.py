"""Root URL configuration: the platform (hub) and the evidence app (triage).
No public media URL exists: evidence is served only by authorised views.

Error pages are the templates ``403.html``, ``404.html`` and ``500.html`` (Django's default
handlers render them; 404 and 403 with the request context, so they carry the bar)."""

from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path


def favicon(request):
    """Browsers ask for /favicon.ico on their own (pages link the SVG one); answer with the
    static icon instead of a 404 in every log. Unnamed: not a page of the app."""
    return HttpResponsePermanentRedirect(static("favicon.ico"))


urlpatterns = [
    path("favicon.ico", favicon),
    path("", include("hub.urls")),
    path("", include("triage.urls")),
]
