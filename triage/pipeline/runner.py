"""Runs the stages over chunks of items, with claims, guarded transitions and completion
counted from the database. Used by the Celery tasks and, inline, by ``process_batch_now``.

Claims. Items are claimed with conditional updates. The first hop takes PENDING items
(``status=RUNNING, claimed_at=now, attempts+1``); later hops (after a queue change, e.g.
Classify on the inference queue) take items whose ``stage`` is the stage before theirs.
The claim sets ``stage`` to ``"@<stage>"`` (in progress) and ``claimed_at`` to a fresh
timestamp, which then acts as the lease: every later write of that hop is conditional on
it, so a hop that lost its lease (the reconciler re-queued its items) writes nothing."""

from __future__ import annotations

import logging
import traceback
from collections import deque
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from triage.models import EvidenceBatch, EvidenceItem, ItemStatus
from triage.pipeline.stages import STAGE_NAMES, STAGES, StageFailed, StageRefused, StageSkipped

log = logging.getLogger(__name__)

ACTIVE = (ItemStatus.PENDING, ItemStatus.RUNNING)
# Fields a stage may have set on the instance before ending early: kept with the ending.
KEEP_ON_END = ("media_type", "media_kind", "width", "height")
REASON_MAX = 2000


@dataclass(frozen=True)
class FollowUp:
    """Work to queue next: these items, starting at stage index ``start``."""

    batch_id: int
    item_ids: tuple[int, ...]
    start: int

    @property
    def queue(self) -> str:
        return STAGES[self.start].queue


def chunked(ids, size: int | None = None):
    size = size or settings.HUB_CHUNK_SIZE
    ids = list(ids)
    return [tuple(ids[i : i + size]) for i in range(0, len(ids), size)]


# --- claims --------------------------------------------------------------------------


def claim(item_ids, start: int):
    """Claim the items for a hop starting at ``start``; return ``(items, lease)``."""
    now = timezone.now()
    qs = EvidenceItem.objects.filter(id__in=list(item_ids))
    marker = "@" + STAGE_NAMES[start]
    if start == 0:
        qs.filter(status=ItemStatus.PENDING).update(
            status=ItemStatus.RUNNING, claimed_at=now, attempts=F("attempts") + 1, stage=marker
        )
    else:
        qs.filter(status=ItemStatus.RUNNING, stage=STAGE_NAMES[start - 1]).update(
            claimed_at=now, stage=marker
        )
    items = list(
        EvidenceItem.objects.filter(
            id__in=list(item_ids), status=ItemStatus.RUNNING, claimed_at=now, stage=marker
        )
        .select_related("blob", "agency", "case")
        .order_by("id")
    )
    return items, now


def _leased(ids, lease):
    return EvidenceItem.objects.filter(
        id__in=list(ids), status=ItemStatus.RUNNING, claimed_at=lease
    )


def _end(item: EvidenceItem, lease, status: str, reason: str = "", tb: str = "") -> None:
    fields = {f: getattr(item, f) for f in KEEP_ON_END}
    _leased([item.id], lease).update(
        status=status,
        failure_reason=reason[:REASON_MAX],
        error_traceback=tb,
        processed_at=timezone.now(),
        **fields,
    )


def _ending(item, lease, stage, exc: BaseException) -> bool:
    """Apply one stage ending; True when the item goes on to the next stage."""
    if isinstance(exc, StageSkipped):
        return True
    if isinstance(exc, StageRefused):
        _end(item, lease, ItemStatus.REFUSED, str(exc))
    elif isinstance(exc, StageFailed):
        _end(item, lease, ItemStatus.FAILED, str(exc))
    else:
        tb = "".join(traceback.format_exception(exc))
        reason = f"unexpected error in the {stage.name} stage: {type(exc).__name__}: {exc}"
        log.error("item %s errored in %s\n%s", item.id, stage.name, tb)
        _end(item, lease, ItemStatus.ERRORED, reason, tb)
    return False


# --- running -------------------------------------------------------------------------


def run_segment(batch_id: int, item_ids, start: int = 0) -> list[FollowUp]:
    """Claim the items and run every stage from ``start`` that shares its queue. Returns
    the follow-ups to queue: the next hop, and the chunks of new archive members."""
    items, lease = claim(item_ids, start)
    if not items:
        return []
    followups: list[FollowUp] = []
    queue = STAGES[start].queue
    finished_all = True
    for index in range(start, len(STAGES)):
        stage = STAGES[index]
        if stage.queue != queue:
            followups.append(FollowUp(batch_id, tuple(i.id for i in items), index))
            finished_all = False
            break
        able, endings = [], {}
        for item in items:
            try:
                if stage.able_to_run(item):
                    able.append(item)
            except Exception as exc:
                endings[item.id] = exc
        if able:
            try:
                endings.update(stage.run_chunk(able))
            except Exception as exc:  # a stage bug outside its per-item handling
                endings.update({i.id: exc for i in able})
        items = [i for i in items if i.id not in endings or _ending(i, lease, stage, endings[i.id])]
        if items:
            _leased([i.id for i in items], lease).update(stage=stage.name)
        if not items:
            finished_all = False
            break
    if items:
        # Keep what the stages learnt on the instances (the sniffed type of an archive or
        # of a file no stage decodes); the values are deterministic, so no lease needed.
        EvidenceItem.objects.bulk_update(items, list(KEEP_ON_END))
    if finished_all:
        _leased([i.id for i in items], lease).update(
            status=ItemStatus.DONE, processed_at=timezone.now()
        )
    if start == 0:
        children = EvidenceItem.objects.filter(
            parent_id__in=list(item_ids), status=ItemStatus.PENDING
        ).values_list("id", flat=True)
        followups.extend(FollowUp(batch_id, c, 0) for c in chunked(children.order_by("id")))
    batch_check_complete(batch_id)
    return followups


def batch_start(batch_id: int, from_statuses=(EvidenceBatch.Status.QUEUED,)) -> list[FollowUp]:
    """QUEUED -> PROCESSING (once), and the chunks of its pending items."""
    changed = EvidenceBatch.objects.filter(id=batch_id, status__in=from_statuses).update(
        status=EvidenceBatch.Status.PROCESSING, started_at=timezone.now()
    )
    if not changed:
        return []
    ids = EvidenceItem.objects.filter(
        batch_id=batch_id, status=ItemStatus.PENDING, parent__isnull=True
    ).order_by("id")
    followups = [FollowUp(batch_id, c, 0) for c in chunked(ids.values_list("id", flat=True))]
    batch_check_complete(batch_id)
    return followups


def batch_check_complete(batch_id: int) -> bool:
    """Mark the batch COMPLETE when no item is pending or running (counted from the DB,
    after this worker's writes committed: whoever finishes last sees everything)."""
    if EvidenceItem.objects.filter(batch_id=batch_id, status__in=ACTIVE).exists():
        return False
    from hub.audit import audit_record

    with transaction.atomic():
        changed = EvidenceBatch.objects.filter(
            id=batch_id, status=EvidenceBatch.Status.PROCESSING
        ).update(status=EvidenceBatch.Status.COMPLETE, finished_at=timezone.now())
        if changed:
            batch = EvidenceBatch.objects.select_related("agency").get(id=batch_id)
            counts = dict(batch.items.order_by().values_list("status").annotate(n=Count("id")))
            audit_record("batch.completed", agency=batch.agency, obj=batch, data={"items": counts})
    return bool(changed)


def dispatch(followups: list[FollowUp]) -> None:
    """Queue the follow-ups after the current transaction commits (ids only)."""
    from triage.pipeline import tasks

    for f in followups:
        task = tasks.pipeline_classify_chunk if f.queue == "inference" else tasks.process_chunk
        args = (f.batch_id, list(f.item_ids), f.start)
        transaction.on_commit(lambda task=task, args=args: task.delay(*args))


def run_inline(followups: list[FollowUp]) -> None:
    """Run follow-ups (and everything they lead to) in this process, no broker."""
    todo = deque(followups)
    while todo:
        f = todo.popleft()
        todo.extend(run_segment(f.batch_id, f.item_ids, f.start))


# --- the reconciler -------------------------------------------------------------------


def resume_index(stage: str) -> int:
    """The stage index to resume an interrupted item at."""
    if stage.startswith("@"):
        return STAGE_NAMES.index(stage[1:]) if stage[1:] in STAGE_NAMES else 0
    if stage in STAGE_NAMES:
        return min(STAGE_NAMES.index(stage) + 1, len(STAGES) - 1)
    return 0


def reconcile(stuck_after_seconds: int | None = None) -> dict:
    """Re-queue work stuck past its time (a worker died or a message was lost), fail
    items that crashed too often, and finish batches whose last chunk vanished. Returns
    ``FollowUp``s queued (or run by the caller) and counts."""
    stuck_after = (
        settings.HUB_STUCK_AFTER_SECONDS if stuck_after_seconds is None else stuck_after_seconds
    )
    now = timezone.now()
    cutoff = now - timedelta(seconds=stuck_after)
    max_attempts = settings.HUB_MAX_ATTEMPTS
    followups: list[FollowUp] = []
    requeued = failed = 0
    by_hop: dict[tuple[int, int], list[int]] = {}

    stuck = EvidenceItem.objects.filter(status=ItemStatus.RUNNING, claimed_at__lt=cutoff)
    for item_id, batch_id, stage, attempts, claimed_at in stuck.values_list(
        "id", "batch_id", "stage", "attempts", "claimed_at"
    ):
        guard = EvidenceItem.objects.filter(
            id=item_id, status=ItemStatus.RUNNING, claimed_at=claimed_at
        )
        if attempts >= max_attempts:
            failed += guard.update(
                status=ItemStatus.FAILED,
                failure_reason=(
                    f"crashed its parser {attempts} times (the worker died or hit the time "
                    f"limit while processing it, last in the {stage.lstrip('@') or 'first'} "
                    "stage); not retried again"
                ),
                processed_at=now,
            )
            continue
        index = resume_index(stage)
        if index == 0:
            changed = guard.update(status=ItemStatus.PENDING, stage="", claimed_at=now)
        else:
            changed = guard.update(
                stage=STAGE_NAMES[index - 1], claimed_at=now, attempts=F("attempts") + 1
            )
        if changed:
            requeued += 1
            by_hop.setdefault((batch_id, index), []).append(item_id)

    # Pending items of a batch where nothing happened for a whole period: their chunk's
    # message was lost (or is held by a dead worker until the broker's visibility timeout).
    idle_batches = (
        EvidenceBatch.objects.filter(status=EvidenceBatch.Status.PROCESSING)
        .annotate(
            last_claim=Max("items__claimed_at"),
            last_done=Max("items__processed_at"),
        )
        .filter(Q(last_claim__isnull=True) | Q(last_claim__lt=cutoff))
        .filter(Q(last_done__isnull=True) | Q(last_done__lt=cutoff))
        .filter(started_at__lt=cutoff)
        .values_list("id", flat=True)
    )
    for batch_id in idle_batches:
        pending = EvidenceItem.objects.filter(batch_id=batch_id, status=ItemStatus.PENDING).exclude(
            id__in=[i for (b, s), ids in by_hop.items() if b == batch_id for i in ids]
        )
        ids = list(pending.order_by("id").values_list("id", flat=True))
        if ids:
            by_hop.setdefault((batch_id, 0), []).extend(ids)
            requeued += len(ids)

    for (batch_id, index), ids in sorted(by_hop.items()):
        followups.extend(FollowUp(batch_id, c, index) for c in chunked(sorted(ids)))

    # Batches whose start message was lost, and batches that are in fact finished.
    lost_starts = list(
        EvidenceBatch.objects.filter(
            status=EvidenceBatch.Status.QUEUED, created_at__lt=cutoff
        ).values_list("id", flat=True)
    )
    completed = 0
    for batch_id in EvidenceBatch.objects.filter(
        status=EvidenceBatch.Status.PROCESSING
    ).values_list("id", flat=True):
        completed += batch_check_complete(batch_id)
    return {
        "followups": followups,
        "lost_starts": lost_starts,
        "requeued": requeued,
        "failed": failed,
        "completed": completed,
    }
