"""Celery tasks of the classifier area. Thin: load by id, call a service.

``triage.classify.*`` tasks are routed to the "inference" queue (hub/celery.py)."""

from __future__ import annotations

from celery import shared_task

__all__ = ["classify_chunk", "sync_models"]


@shared_task(name="triage.classify.chunk")
def classify_chunk(item_ids: list[int]) -> None:
    from triage.classifier.service import classify_items
    from triage.models import EvidenceItem

    items = list(
        EvidenceItem.objects.filter(pk__in=item_ids).select_related("agency", "blob").order_by("pk")
    )
    classify_items(items)


@shared_task(name="triage.classify.sync_models")
def sync_models() -> None:
    from triage.classifier.registry import sync_shipped_models

    sync_shipped_models()
