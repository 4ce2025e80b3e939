"""A per-IP login throttle beside django-axes' per-username lockout, so one address
cannot spray passwords across many usernames."""

from __future__ import annotations

import contextlib
import threading
import time

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt, AccessFailureLog
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone


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


# --- Password checks at once --------------------------------------------------------------
#
# Every Argon2 check allocates about 100 MiB (Django's memory_cost) for a few hundred ms. The
# per-IP and per-username limits count failures, not concurrency: many addresses logging in
# at once could make a web process allocate gigabytes. So each process runs at most
# HUB_PASSWORD_CHECKS_AT_ONCE checks; a login that cannot get a slot within
# PASSWORD_WAIT_SECONDS is answered "busy" without checking (and without counting a failure).

PASSWORD_WAIT_SECONDS = 5.0
_slots: dict[int, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


class PasswordChecksBusy(Exception):
    """No slot for a password check came free in time."""


def _semaphore() -> threading.BoundedSemaphore:
    size = settings.HUB_PASSWORD_CHECKS_AT_ONCE
    with _slots_lock:
        if size not in _slots:
            _slots[size] = threading.BoundedSemaphore(size)
        return _slots[size]


@contextlib.contextmanager
def password_check_slot(wait: float | None = None):
    """Hold one of the process's password-check slots for the block (raises
    ``PasswordChecksBusy`` when none comes free within ``wait`` seconds)."""
    semaphore = _semaphore()
    if not semaphore.acquire(timeout=PASSWORD_WAIT_SECONDS if wait is None else wait):
        raise PasswordChecksBusy
    try:
        yield
    finally:
        semaphore.release()


# --- Per-username lockout: django-axes with a sliding failure window ----------------------
#
# django-axes keeps one cumulative counter per username and, with AXES_COOLOFF_TIME=None
# (the lock lasts until an admin lifts it), never forgets old failures. We want "5
# failures within HUB_FAILURE_WINDOW_SECONDS": before axes records a failure for an
# unlocked username, the counter is rewritten to the number of that username's failures
# still inside the window (from axes' own per-failure log). Once the limit is reached the
# counter is left alone, so the lock stays until ``axes.utils.reset`` (an admin's unlock),
# which also clears the failure log so old failures cannot re-lock at the next typo. The
# permanent record of every failure and lock is the hub's audit chain, not axes' tables.


def _failures_recorded(username: str) -> int:
    total = AccessAttempt.objects.filter(username=username).aggregate(
        n=Sum("failures_since_start")
    )["n"]
    return total or 0


class WindowedAxesHandler(AxesDatabaseHandler):
    """AXES_HANDLER: count only failures inside the window; audit failures and lockouts."""

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        username = get_client_username(request, credentials) if request is not None else None
        was_locked = False
        if username:
            was_locked = _failures_recorded(username) >= settings.AXES_FAILURE_LIMIT
            if not was_locked:
                self._forget_failures_outside_window(request, username)
        super().user_login_failed(sender, credentials, request, **kwargs)
        if username:
            newly_locked = bool(getattr(request, "axes_locked_out", False)) and not was_locked
            _audit_failure(request, username, was_locked=was_locked, newly_locked=newly_locked)

    def _forget_failures_outside_window(self, request, username: str) -> None:
        window_start = timezone.now() - timezone.timedelta(
            seconds=settings.HUB_FAILURE_WINDOW_SECONDS
        )
        recent = AccessFailureLog.objects.filter(username=username, attempt_time__gte=window_start)
        with transaction.atomic():
            AccessAttempt.objects.filter(username=username).delete()
            count = recent.count()
            if count:
                AccessAttempt.objects.create(
                    username=username,
                    ip_address=request.axes_ip_address,
                    user_agent=request.axes_user_agent,
                    http_accept=request.axes_http_accept,
                    path_info=request.axes_path_info,
                    attempt_time=recent.order_by("-attempt_time").first().attempt_time,
                    get_data="",
                    post_data="",
                    failures_since_start=count,
                )

    def reset_attempts(self, *, ip_address=None, username=None, ip_or_username=False) -> int:
        if username:
            AccessFailureLog.objects.filter(username=username).delete()
        return super().reset_attempts(
            ip_address=ip_address, username=username, ip_or_username=ip_or_username
        )

    def reset_user_attempts(self, request, credentials=None) -> int:
        username = get_client_username(request, credentials)
        if username:
            AccessFailureLog.objects.filter(username=username).delete()
        return super().reset_user_attempts(request, credentials)


def _audit_failure(request, username: str, *, was_locked: bool, newly_locked: bool) -> None:
    """Record a failed login in the hub chain and in the chain of every agency the
    username belongs to (an agency admin sees attacks on their users)."""
    from hub.audit import audit_record_for_person
    from hub.models import Membership

    agencies = [
        m.agency
        for m in Membership.objects.filter(user__username=username).select_related("agency")
    ]
    action = "auth.login_refused_locked" if was_locked else "auth.login_failed"
    data = {"username": username}
    about = {"agencies": agencies, "object_type": "User", "object_id": username}
    with transaction.atomic():
        audit_record_for_person(action, data=data, request=request, **about)
        if newly_locked:
            locked = {**data, "failure_limit": settings.AXES_FAILURE_LIMIT}
            audit_record_for_person("auth.locked_out", data=locked, request=request, **about)
