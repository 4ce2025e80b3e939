from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import logout
from django.utils.cache import add_never_cache_headers

from hub.models import Membership

SESSION_AGENCY_KEY = "active_agency"
SESSION_LOGIN_AT_KEY = "login_at"


class SessionLimitsMiddleware:
    """Ends a session 12 hours (HUB_SESSION_MAX_SECONDS) after login whatever the activity.
    The 30-minute idle limit is the cookie age, renewed on every request.

    Every response to a signed-in person (session or API token) is also marked
    ``Cache-Control: no-store, private`` unless the view already said ``no-store``: pages
    show evidence names, hashes and decisions, and downloads (hash lists, CSVs) carry
    them, so neither the browser's cache nor a proxy may keep a copy after logout."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            login_at = request.session.get(SESSION_LOGIN_AT_KEY)
            if login_at is None:
                request.session[SESSION_LOGIN_AT_KEY] = time.time()
            elif time.time() - login_at > settings.HUB_SESSION_MAX_SECONDS:
                from hub.audit import audit_record

                user = request.user
                logout(request)
                audit_record("auth.session_expired", agency=None, actor=user, request=None)
        response = self.get_response(request)
        # Read after the view: an API token authenticates inside the view.
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and "no-store" not in response.get("Cache-Control", "")
        ):
            add_never_cache_headers(response)
        return response


class ActiveAgencyMiddleware:
    """Sets ``request.agency`` and ``request.membership`` for the active agency.

    The active agency comes from the session and is re-validated on every request against
    the user's active memberships, so a deactivated membership or suspended agency loses
    access at once."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.agency = None
        request.membership = None
        if request.user.is_authenticated and request.user.is_active:
            memberships = Membership.objects.filter(
                user=request.user, is_active=True, agency__is_active=True
            ).select_related("agency")
            wanted = request.session.get(SESSION_AGENCY_KEY)
            chosen = None
            if wanted:
                chosen = memberships.filter(agency__uuid=wanted).first()
            if chosen is None:
                chosen = memberships.order_by("agency__name").first()
                if chosen is not None:
                    request.session[SESSION_AGENCY_KEY] = str(chosen.agency.uuid)
            if chosen is not None:
                request.membership = chosen
                request.agency = chosen.agency
        return self.get_response(request)


class MethodNotAllowedPageMiddleware:
    """A page, not an empty body, for a browser that GETs a POST-only URL (a bookmarked
    form action, say). The API keeps its JSON answers; the ``Allow`` header is kept."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code == 405
            and request.method == "GET"
            and not request.path.startswith("/api/")
            and not getattr(response, "streaming", False)
            and not response.content
        ):
            from django.shortcuts import render

            page = render(request, "405.html", status=405)
            if response.has_header("Allow"):
                page["Allow"] = response["Allow"]
            return page
        return response
