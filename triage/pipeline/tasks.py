"""Celery tasks of the pipeline area. Thin: they take ids only, call the runner, and queue
what comes next after commit. Idempotency lives in the runner's claims, not here."""

from __future__ import annotations

from celery import shared_task
from django.db.utils import InterfaceError, OperationalError

from hub import db_scope
from triage.models import EvidenceBatch
from triage.pipeline import runner

__all__ = ["pipeline_classify_chunk", "process_chunk", "reconcile", "start_batch"]

# Only a lost database connection is worth retrying here: the start is idempotent (a
# conditional status update). A chunk is not retried by Celery: its items stay claimed and
# the reconciler re-queues them after HUB_STUCK_AFTER_SECONDS.
TRANSIENT = (OperationalError, InterfaceError)


@shared_task(
    name="triage.pipeline.start_batch",
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    max_retries=5,
)
def start_batch(batch_id: int) -> None:
    runner.dispatch(runner.batch_start(batch_id))


@shared_task(name="triage.pipeline.chunk")
def process_chunk(batch_id: int, item_ids: list[int], start: int = 0) -> None:
    runner.dispatch(runner.run_segment(batch_id, item_ids, start))


# Not "triage.classify.chunk": the classifier area's own task (item ids only, no pipeline
# bookkeeping) already has that name. Any "triage.classify.*" name is routed to the
# inference queue by hub/celery.py.
@shared_task(name="triage.classify.pipeline_chunk")
def pipeline_classify_chunk(batch_id: int, item_ids: list[int], start: int) -> None:
    """The inference-queue hop: Classify, and anything after it on the same queue."""
    runner.dispatch(runner.run_segment(batch_id, item_ids, start))


@shared_task(name="triage.maintenance.reconcile")
def reconcile() -> dict:
    result = runner.reconcile()
    runner.dispatch(result["followups"])
    lost = dict(
        EvidenceBatch.objects.filter(id__in=result["lost_starts"]).values_list("id", "agency_id")
    )
    for batch_id, agency_id in lost.items():
        with db_scope.agency_scope(agency_id):  # the batch's own agency, never hub-wide
            start_batch.delay(batch_id)
    return {k: v for k, v in result.items() if k in ("requeued", "failed", "completed")}
