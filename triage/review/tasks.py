"""Celery tasks of the review area. Thin: load by id, call a service."""

from __future__ import annotations

from celery import shared_task

__all__ = ["prioritise", "release_expired_leases"]


@shared_task(name="triage.review.prioritise")
def prioritise(item_ids: list[int]) -> None:
    """Recompute priority, auto-grade and groups for items whose signals changed (e.g. an
    agency changed its weights or sampling rate)."""
    from triage.models import EvidenceItem
    from triage.review.service import prioritise_items

    prioritise_items(list(EvidenceItem.objects.filter(id__in=item_ids)))


@shared_task(name="triage.review.release_expired_leases")
def release_expired_leases() -> int:
    """Tidy-up only: the queue already treats an expired lease as free."""
    from triage.review.service import release_expired_leases as release

    return release()
