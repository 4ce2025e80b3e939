"""Hub health for operators: queue depths, workers seen, failures and fixity.

Counts only: an operator runs the platform and sees no evidence details (no paths, no
names of files, no case references), only agency names next to numbers."""

from __future__ import annotations

import logging
import os
import threading
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from triage.models import Blob, EvidenceItem, ItemStatus

logger = logging.getLogger(__name__)

QUEUES = ("intake", "inference", "maintenance")
# kombu's Redis transport keeps one list per priority step: the queue's own key for
# priority 0, and "<queue>\x06\x16<step>" for the others (default steps 0, 3, 6, 9).
REDIS_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def queue_depths(broker_url: str | None = None, transport_options: dict | None = None) -> dict:
    """queue name -> number of waiting messages, or None when it cannot be known."""
    url = broker_url if broker_url is not None else settings.CELERY_BROKER_URL
    options = (
        transport_options
        if transport_options is not None
        else getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    )
    try:
        if url.startswith(("redis://", "rediss://")):
            return _redis_depths(url)
        if url.startswith("filesystem://"):
            return _filesystem_depths(options.get("data_folder_in"))
    except Exception:  # noqa: BLE001 — a broken broker shows as "unknown", never a 500
        logger.warning("hub health: could not read queue depths", exc_info=True)
    return dict.fromkeys(QUEUES)


def _redis_depths(url: str) -> dict:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        pipe = client.pipeline(transaction=False)
        for queue in QUEUES:
            for suffix in REDIS_PRIORITY_SUFFIXES:
                pipe.llen(queue + suffix)
        lengths = pipe.execute()
    finally:
        client.close()
    step = len(REDIS_PRIORITY_SUFFIXES)
    return {q: sum(lengths[i * step : (i + 1) * step]) for i, q in enumerate(QUEUES)}


def _filesystem_depths(folder) -> dict:
    """kombu's filesystem transport writes ``<ms>_<uuid>.<queue>.msg`` into the folder."""
    if not folder or not Path(folder).is_dir():
        return dict.fromkeys(QUEUES)
    counts = dict.fromkeys(QUEUES, 0)
    with os.scandir(folder) as entries:
        for entry in entries:
            queue = entry.name.partition(".")[2].removesuffix(".msg")
            if queue in counts and entry.name.endswith(".msg"):
                counts[queue] += 1
    return counts


# Transports where the page does not ask the workers: ``memory://`` lives in one process,
# so no worker can ever answer; ``filesystem://`` (the demo) polls its folders about once
# a second, so a ping round trip takes longer than the page should wait (the page took
# ~2 s and still said "unknown"). ``celery -A hub inspect ping`` asks them at leisure.
NO_PING_TRANSPORTS = frozenset({"filesystem", "memory"})


def workers_unavailable_reason(broker_url: str | None = None) -> str:
    """Why worker status cannot be shown with this broker ("" when it can be asked)."""
    url = broker_url if broker_url is not None else settings.CELERY_BROKER_URL
    kind = _broker_kind(url)
    if kind in NO_PING_TRANSPORTS:
        return f"worker status is not available with the {kind} broker (demo mode)"
    if not _supports_broadcast(kind):
        return f"worker status is not available with the {kind} broker (no broadcast)"
    return ""


def _supports_broadcast(kind: str) -> bool:
    """Remote control (ping) needs fanout exchanges; a transport that cannot be loaded
    here is given the benefit of the doubt (the ping's deadline still bounds it)."""
    try:
        from kombu.transport import resolve_transport
        from kombu.utils.imports import symbol_by_name

        transport = symbol_by_name(resolve_transport(kind))
        return "fanout" in transport.implements.exchange_type
    except Exception:  # noqa: BLE001 — unknown alias or missing client library
        return True


def workers_seen(timeout: float = 1.0, broker_url: str | None = None) -> list[str] | None:
    """Names of the Celery workers that answered a ping, or None when the broker could
    not be asked (at once for a transport in ``workers_unavailable_reason``). The ping
    runs in a daemon thread with a hard deadline, so a broker that hangs on connect
    cannot hold the page."""
    if workers_unavailable_reason(broker_url):
        return None
    result: dict = {}

    def ping():
        try:
            from hub.celery import app

            replies = app.control.inspect(timeout=timeout).ping() or {}
            result["workers"] = sorted(replies)
        except Exception:  # noqa: BLE001 — unreachable broker, unsupported transport
            result["workers"] = None

    thread = threading.Thread(target=ping, daemon=True, name="hub-health-ping")
    thread.start()
    thread.join(timeout + 1.0)
    return result.get("workers") if not thread.is_alive() else None


def failures_last_day(now=None) -> list[dict]:
    """Failed and errored items of the last 24 hours, counted per agency name."""
    now = now or timezone.now()
    since = now - timedelta(days=1)
    recent = Q(processed_at__gte=since) | Q(processed_at__isnull=True, created_at__gte=since)
    return list(
        EvidenceItem.objects.filter(recent, status__in=(ItemStatus.FAILED, ItemStatus.ERRORED))
        .order_by()
        .values("agency__name")
        .annotate(
            failed=Count("pk", filter=Q(status=ItemStatus.FAILED)),
            errored=Count("pk", filter=Q(status=ItemStatus.ERRORED)),
        )
        .order_by("agency__name")
    )


def fixity_failures() -> int:
    return Blob.objects.filter(fixity_ok=False).count()


def hub_health() -> dict:
    workers = workers_seen()
    return {
        "queues": queue_depths(),
        "workers": workers,
        "workers_note": workers_unavailable_reason() if workers is None else "",
        "failures": failures_last_day(),
        "fixity_failures": fixity_failures(),
        "broker": _broker_kind(settings.CELERY_BROKER_URL),
    }


def _broker_kind(url: str) -> str:
    """The transport only (never the URL, which may carry a password)."""
    return url.split("://", 1)[0] if "://" in url else "unknown"
