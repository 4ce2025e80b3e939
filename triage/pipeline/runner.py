"""Runs the stages over chunks of items, with claims, guarded transitions and completion
counted from the database. Used by the Celery tasks and, inline, by ``process_batch_now``.

Claims. Items are claimed with conditional updates. The first hop takes PENDING items
(``status=RUNNING, claimed_at=now, attempts+1``); later hops (after a queue change, e.g.
Classify on the inference queue) take items whose ``stage`` is the stage before theirs.
The claim sets ``stage`` to ``"@<stage>"`` (in progress) and ``claimed_at`` to a fresh
timestamp, which then acts as the lease: every later write of that hop is conditional on
it, so a hop that lost its lease (the reconciler re-queued its items) writes nothing.

Stage markers. While a hop runs, ``stage`` is ``"@<stage in progress>"``; between hops
(queued for the next one) it is the bare name of the last stage completed. The
reconciler tells the two apart: an item in progress past its time was being processed
by a worker that died (an attempt that crashed); an item between hops is only waiting
in a queue, which may be long, and is re-queued only when its batch has stalled."""

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
from triage.pipeline.stages import (
    STAGE_NAMES,
    STAGES,
    StageFailed,
    StageRefused,
    StageSkipped,
    is_transient,
)

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
                if is_transient(exc):
                    raise  # the database, not the items: abandon the hop (see reconcile)
                endings.update({i.id: exc for i in able})
            lost = next((e for e in endings.values() if is_transient(e)), None)
            if lost is not None:
                raise lost
        items = [i for i in items if i.id not in endings or _ending(i, lease, stage, endings[i.id])]
        if not items:
            finished_all = False
            break
        following = STAGES[index + 1] if index + 1 < len(STAGES) else None
        if following is not None:
            # In progress at the next stage of this hop, or done with this one and waiting
            # for the hop on another queue.
            marker = "@" + following.name if following.queue == queue else stage.name
            _leased([i.id for i in items], lease).update(stage=marker)
    if items:
        # Keep what the stages learnt on the instances (the sniffed type of an archive or
        # of a file no stage decodes); the values are deterministic, so no lease needed.
        EvidenceItem.objects.bulk_update(items, list(KEEP_ON_END))
    if finished_all:
        _leased([i.id for i in items], lease).update(
            status=ItemStatus.DONE, stage=STAGE_NAMES[-1], processed_at=timezone.now()
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
    from hub import db_scope
    from triage.pipeline import tasks

    # A task carries the scope it is queued in. Work queued by a hub-wide task (the
    # reconciler) is narrowed to its batch's agency, so pipeline tasks never run hub-wide.
    agencies: dict[int, int] = {}
    if followups and db_scope.current() == db_scope.ALL:
        agencies = dict(
            EvidenceBatch.objects.filter(id__in={f.batch_id for f in followups}).values_list(
                "id", "agency_id"
            )
        )

    def send(task, args, agency_id):
        if agency_id is None:
            task.delay(*args)
        else:
            with db_scope.agency_scope(agency_id):
                task.delay(*args)

    for f in followups:
        task = tasks.pipeline_classify_chunk if f.queue == "inference" else tasks.process_chunk
        args = (f.batch_id, list(f.item_ids), f.start)
        agency_id = agencies.get(f.batch_id)
        transaction.on_commit(lambda t=task, a=args, ag=agency_id: send(t, a, ag))


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


# Bare names an item waits under between hops (after the last stage it is DONE instead).
WAITING_STAGES = STAGE_NAMES[:-1]


def in_progress(stage: str) -> bool:
    """True for a hop's marker (``"@<stage>"``, or anything unexpected); False for an item
    waiting between hops (the bare name of the last stage it completed)."""
    return stage not in WAITING_STAGES


def crash_reason(attempts: int, stage: str) -> str:
    where = stage.lstrip("@") or STAGE_NAMES[0]
    return (
        f"crashed its parser {attempts} times: the worker processing it died or hit the time "
        f"limit every time (last in the {where} stage), so it is not retried again"
    )


def reconcile(stuck_after_seconds: int | None = None) -> dict:
    """Re-queue work stuck past its time, fail items that crashed too often, finish
    batches whose last chunk vanished and sweep temporary files left by dead workers.
    Returns the ``FollowUp``s to queue (the task dispatches them) and counts.

    * An item **in progress** (``"@<stage>"``) whose claim is older than
      ``HUB_STUCK_AFTER_SECONDS`` was being processed by a worker that died (SIGKILL, the
      OOM killer, a parser that crashed the process, the hard time limit). That attempt
      counts: after ``HUB_MAX_ATTEMPTS`` the item ends FAILED; before, it is re-queued
      from the interrupted stage **on its own**, so that a file that kills its worker
      cannot take the other items of its chunk down with it.
    * Items **waiting** (PENDING, or between hops) are only queued: their message may be
      lost (a broker restart, a dead worker's reserved messages) or just behind a long
      queue, which the reconciler cannot tell apart. They are re-queued, without counting
      an attempt, when their batch has stalled: no claim and no item finished for a whole
      period. Duplicate messages are harmless (claims are conditional)."""
    from triage import storage

    stuck_after = (
        settings.HUB_STUCK_AFTER_SECONDS if stuck_after_seconds is None else stuck_after_seconds
    )
    now = timezone.now()
    cutoff = now - timedelta(seconds=stuck_after)
    max_attempts = settings.HUB_MAX_ATTEMPTS
    followups: list[FollowUp] = []
    requeued = failed = 0
    crashed: dict[tuple[int, int], list[int]] = {}
    waiting: dict[tuple[int, int], list[int]] = {}

    # Batches where nothing happened for a whole period: the messages of their waiting
    # items were lost (or are held by a dead worker until the broker's visibility timeout).
    stalled = (
        EvidenceBatch.objects.filter(status=EvidenceBatch.Status.PROCESSING)
        .filter(Q(started_at__isnull=True) | Q(started_at__lt=cutoff))
        .annotate(last_claim=Max("items__claimed_at"), last_done=Max("items__processed_at"))
        .filter(Q(last_claim__isnull=True) | Q(last_claim__lt=cutoff))
        .filter(Q(last_done__isnull=True) | Q(last_done__lt=cutoff))
        .values_list("id", flat=True)
    )
    stalled = list(stalled)  # as found, before this run re-queues anything

    stuck = EvidenceItem.objects.filter(status=ItemStatus.RUNNING, claimed_at__lt=cutoff)
    for item_id, batch_id, stage, attempts, claimed_at in stuck.values_list(
        "id", "batch_id", "stage", "attempts", "claimed_at"
    ):
        if not in_progress(stage):
            continue  # waiting for its next hop: see the stalled batches below
        guard = EvidenceItem.objects.filter(
            id=item_id, status=ItemStatus.RUNNING, claimed_at=claimed_at, stage=stage
        )
        if attempts >= max_attempts:
            failed += guard.update(
                status=ItemStatus.FAILED,
                failure_reason=crash_reason(attempts, stage),
                processed_at=now,
            )
            continue
        index = resume_index(stage)
        if index == 0:  # the claim counts the next attempt
            changed = guard.update(status=ItemStatus.PENDING, stage="", claimed_at=now)
        else:
            changed = guard.update(
                stage=STAGE_NAMES[index - 1], claimed_at=now, attempts=F("attempts") + 1
            )
        if changed:
            requeued += 1
            crashed.setdefault((batch_id, index), []).append(item_id)

    for batch_id in stalled:
        waits = Q(status=ItemStatus.PENDING) | Q(
            status=ItemStatus.RUNNING, stage__in=WAITING_STAGES
        )
        requeued_ids = [i for (b, _), ids in crashed.items() if b == batch_id for i in ids]
        queued = EvidenceItem.objects.filter(batch_id=batch_id).filter(waits)
        queued = queued.exclude(id__in=requeued_ids)
        rows = list(queued.order_by("id").values_list("id", "status", "stage"))
        # Touch the claim time: the batch is no longer stalled, so the next run does not
        # queue the same items again before another period has passed.
        EvidenceItem.objects.filter(id__in=[r[0] for r in rows]).filter(waits).update(
            claimed_at=now
        )
        for item_id, status, stage in rows:
            index = 0 if status == ItemStatus.PENDING else resume_index(stage)
            waiting.setdefault((batch_id, index), []).append(item_id)
            requeued += 1

    for (batch_id, index), ids in sorted(crashed.items()):
        followups.extend(FollowUp(batch_id, c, index) for c in chunked(sorted(ids), 1))
    for (batch_id, index), ids in sorted(waiting.items()):
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
    temp_removed = storage.sweep_temp(stuck_after)
    if requeued or failed or temp_removed or lost_starts:
        log.info(
            "reconciler: %d item(s) re-queued, %d failed after %d attempts, %d batch start(s) "
            "re-sent, %d stale temporary file(s) removed",
            requeued,
            failed,
            max_attempts,
            len(lost_starts),
            temp_removed,
        )
    return {
        "followups": followups,
        "lost_starts": lost_starts,
        "requeued": requeued,
        "failed": failed,
        "completed": completed,
        "temp_removed": temp_removed,
    }
