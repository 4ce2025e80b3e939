"""A per-IP login throttle beside django-axes' per-username lockout, so one address
cannot spray passwords across many usernames."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache


def _key(request) -> str:
    return f"login-fail-ip:{request.META.get('REMOTE_ADDR', '')}"


def note_ip_failure(request) -> None:
    now = time.time()
    window = settings.HUB_FAILURE_WINDOW_SECONDS
    stamps = [t for t in cache.get(_key(request), []) if now - t < window]
    stamps.append(now)
    cache.set(_key(request), stamps, window)


def ip_throttled(request) -> bool:
    now = time.time()
    window = settings.HUB_FAILURE_WINDOW_SECONDS
    stamps = [t for t in cache.get(_key(request), []) if now - t < window]
    return len(stamps) >= settings.HUB_IP_LOGIN_LIMIT
