"""How an API request becomes a person acting in one agency.

- ``BearerTokenAuthentication``: ``Authorization: Bearer <token>``. The token names the
  agency; the role is the user's current membership there.
- ``AgencySessionAuthentication``: the browser's session (CSRF enforced, second factor
  required); the agency is the active one chosen by ``hub.middleware``.

Either way ``request.agency`` and ``request.membership`` are set on the Django request, so
the tenancy chokepoint (``hub.access`` / ``triage.access``) works unchanged."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication

from hub import db_scope
from hub.access import two_factor_satisfied
from hub.models import Membership
from triage.api.throttling import AuthFailureThrottle
from triage.api.tokens import api_token_touch, token_hash
from triage.models.api import ApiToken


class BearerTokenAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        throttle = AuthFailureThrottle()
        if throttle.is_blocked(request):
            raise exceptions.Throttled(
                wait=throttle.wait(),
                detail="Too many failed token attempts from this address; wait and retry.",
            )
        try:
            return self._check(request, raw.strip())
        except exceptions.AuthenticationFailed:
            throttle.record_failure(request)
            raise

    def _check(self, request, raw: str):
        if not raw:
            raise exceptions.AuthenticationFailed("The Authorization header has no token.")
        token = (
            ApiToken.objects.select_related("user", "agency")
            .filter(token_hash=token_hash(raw))
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed(
                "This token is not valid: check it was copied whole, or create a new one."
            )
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This token was revoked: create a new one.")
        if token.expires_at <= timezone.now():
            raise exceptions.AuthenticationFailed("This token has expired: create a new one.")
        membership = (
            Membership.objects.select_related("agency")
            .filter(
                user=token.user_id,
                agency=token.agency_id,
                is_active=True,
                agency__is_active=True,
            )
            .first()
        )
        if not token.user.is_active or membership is None:
            raise exceptions.AuthenticationFailed(
                "The token's owner is no longer an active member of its agency."
            )
        api_token_touch(token)
        django_request = request._request
        django_request.agency = membership.agency
        django_request.membership = membership
        django_request.api_token = token
        db_scope.narrow_to(membership.agency)
        return token.user, token


class AgencySessionAuthentication(SessionAuthentication):
    """The browser session, with CSRF and the second factor. The agency was set by
    ``ActiveAgencyMiddleware``."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, _ = result
        if not two_factor_satisfied(user):
            return None
        return result
