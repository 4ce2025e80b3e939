"""Rate limits of the API, on DRF's throttles and the default cache.

Rates live here rather than in settings' DEFAULT_THROTTLE_RATES so the API owns them."""

from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle


class AuthFailureThrottle(SimpleRateThrottle):
    """Failed bearer-token attempts per client address. Checked before a token is even
    looked up, and only failures count, so a working client is never slowed down."""

    scope = "api_auth_failure"
    rate = "10/min"

    def get_cache_key(self, request, view=None):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def is_blocked(self, request) -> bool:
        self.key = self.get_cache_key(request)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        return len(self.history) >= self.num_requests

    def record_failure(self, request) -> None:
        if not hasattr(self, "history"):
            self.is_blocked(request)
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration)


class LookupThrottle(SimpleRateThrottle):
    """Hash lookups per user: a lookup is cheap for us but must not become an oracle
    that can be swept at machine speed."""

    scope = "api_lookup"
    rate = "60/min"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}
