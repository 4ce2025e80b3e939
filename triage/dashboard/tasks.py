"""Celery tasks of the dashboard. Thin: call the function."""

from __future__ import annotations

from celery import shared_task

__all__ = ["compact_rollup"]


@shared_task(name="triage.dashboard.compact_rollup")
def compact_rollup() -> int | None:
    """Fold the daily rollup's deltas into it (hub-wide, every minute from beat); at
    once a no-op on SQLite, or while another compactor runs. Returns the keys merged."""
    from django.db import connections

    from triage.dashboard import rollup

    return rollup.compact(connections["default"])
