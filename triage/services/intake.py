"""Intake services: cases, batches, files into the write-once store, submission, progress.

Every write and its audit row share one transaction; processing is queued after commit
with ids only."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from django.db import IntegrityError, transaction
from django.db.models import Count, Q

from hub.audit import audit_record
from triage import storage
from triage.archives import printable, shortened, shown
from triage.models import Case, EvidenceBatch, EvidenceItem, ItemStatus, KnownState
from triage.pipeline import runner
from triage.pipeline.stages import STAGE_NAMES
from triage.selectors import AWAITING_REVIEW

FAILED_STATUSES = (ItemStatus.FAILED, ItemStatus.ERRORED, ItemStatus.REFUSED)


class IntakeRejected(ValueError):
    """The file or request was refused; ``str(exc)`` says why, for a person."""


# --- cases and batches ---------------------------------------------------------------


def case_create(
    *, agency, user, reference: str, title: str, urgency: int = 0, team: Iterable = ()
) -> Case:
    reference = (reference or "").strip()
    if not reference:
        raise IntakeRejected("A case needs a reference.")
    with transaction.atomic():
        if Case.objects.filter(agency=agency, reference=reference).exists():
            raise IntakeRejected(f"A case with the reference {reference!r} already exists.")
        case = Case.objects.create(
            agency=agency,
            reference=reference,
            title=(title or reference).strip(),
            urgency=urgency,
            lead=user,
            created_by=user,
        )
        members = list(team)
        if members:
            case.team.set(members)
        audit_record(
            "case.created",
            agency=agency,
            actor=user,
            obj=case,
            data={"reference": reference, "urgency": urgency, "team": [u.pk for u in members]},
        )
    return case


def batch_create(
    *, case, user, exhibit_ref: str = "", note: str = "", source: str = "web"
) -> EvidenceBatch:
    if case.is_closed:
        raise IntakeRejected("The case is closed: no new evidence can be added.")
    with transaction.atomic():
        batch = EvidenceBatch.objects.create(
            agency_id=case.agency_id,
            case=case,
            exhibit_ref=exhibit_ref.strip(),
            note=note,
            source=source,
            status=EvidenceBatch.Status.RECEIVING,
            uploaded_by=user,
        )
        audit_record(
            "batch.created",
            agency=case.agency,
            actor=user,
            obj=batch,
            data={"case": str(case.uuid), "exhibit_ref": batch.exhibit_ref, "source": source},
        )
    return batch


def _clean_relative_path(value: str) -> str:
    """Provenance path as received, normalised to a relative POSIX path, with control and
    bidirectional characters escaped (``printable``): kept, never raw."""
    parts = [p for p in PurePosixPath(value.replace("\\", "/")).parts if p not in ("", ".", "/")]
    parts = [printable(p) for p in parts if p != ".."]
    return "/".join(parts)


def display_name(value: str) -> str:
    """The last part of a file name as received, escaped like the path, and shortened in
    the middle to fit ``EvidenceItem.original_name``; the full name stays in the path."""
    return shortened(printable(value.replace("\\", "/").rstrip("/").rpartition("/")[2]))


def batch_add_file(
    *,
    batch: EvidenceBatch,
    src_path: str | Path,
    name: str,
    relative_path: str | None = None,
    client_sha256: str | None = None,
    move: bool = False,
) -> EvidenceItem:
    """Stream one file into the store (hashes in the same pass) and record it as a PENDING
    item of the batch. The file's provenance is ``relative_path`` (or ``name``)."""
    if batch.status != EvidenceBatch.Status.RECEIVING:
        raise IntakeRejected("This batch was already submitted: start a new batch.")
    path = _clean_relative_path(relative_path or name)
    if not path:
        raise IntakeRejected(f"The file name {shown(name)} is empty.")
    if EvidenceItem.objects.filter(batch=batch, path=path).exists():
        raise IntakeRejected(f"{shown(path)} is already in this batch.")
    src_path = Path(src_path)
    try:
        stat = src_path.stat()
    except OSError as exc:
        raise IntakeRejected(f"{shown(name)} could not be read ({exc.strerror}).") from exc
    agency = batch.agency
    staged = storage.stage_file(agency, src_path, move=move)
    if client_sha256 and client_sha256.strip().lower() != staged.sha256:
        staged.discard()
        audit_record(
            "evidence.sha256_mismatch",
            agency=agency,
            actor=batch.uploaded_by,
            obj=batch,
            data={"path": path, "client_sha256": client_sha256, "received_sha256": staged.sha256},
        )
        raise IntakeRejected(
            f"{shown(name)} arrived damaged: its SHA-256 is {staged.sha256}, but the sender "
            f"computed {client_sha256.strip().lower()}. Upload it again."
        )
    with transaction.atomic():
        blob, _ = storage.commit_blob(agency, staged)
        try:
            with transaction.atomic():
                item = EvidenceItem.objects.create(
                    agency=agency,
                    case_id=batch.case_id,
                    batch=batch,
                    blob=blob,
                    path=path,
                    original_name=display_name(name) or shortened(path.rpartition("/")[2]),
                    size=blob.size,
                    source_mtime=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
                )
        except IntegrityError as exc:
            raise IntakeRejected(f"{shown(path)} is already in this batch.") from exc
    return item


def batch_submit(*, batch: EvidenceBatch, user=None) -> None:
    """RECEIVING -> QUEUED, and queue processing once the transaction commits."""
    from triage.pipeline.tasks import start_batch

    with transaction.atomic():
        changed = EvidenceBatch.objects.filter(
            pk=batch.pk, status=EvidenceBatch.Status.RECEIVING
        ).update(status=EvidenceBatch.Status.QUEUED)
        if not changed:
            raise IntakeRejected("This batch was already submitted.")
        files = batch.items.count()
        audit_record(
            "batch.submitted", agency=batch.agency, actor=user, obj=batch, data={"files": files}
        )
        batch_id = batch.pk
        transaction.on_commit(lambda: start_batch.delay(batch_id))
    batch.status = EvidenceBatch.Status.QUEUED


def process_batch_now(batch: EvidenceBatch, user=None) -> EvidenceBatch:
    """Process the batch in this process with the same stage functions, no broker (tests,
    the demo and ``ingest --wait`` without a worker). Returns the refreshed batch."""
    if batch.status == EvidenceBatch.Status.RECEIVING:
        with transaction.atomic():
            audit_record(
                "batch.submitted",
                agency=batch.agency,
                actor=user,
                obj=batch,
                data={"files": batch.items.count(), "inline": True},
            )
            EvidenceBatch.objects.filter(pk=batch.pk, status=EvidenceBatch.Status.RECEIVING).update(
                status=EvidenceBatch.Status.QUEUED
            )
    runner.run_inline(
        runner.batch_start(
            batch.pk,
            from_statuses=(EvidenceBatch.Status.QUEUED, EvidenceBatch.Status.PROCESSING),
        )
    )
    # Anything still pending (e.g. queued by a worker that died) is run here too.
    while True:
        pending = list(
            batch.items.filter(status=ItemStatus.PENDING)
            .order_by("id")
            .values_list("id", flat=True)
        )
        if not pending:
            break
        runner.run_inline([runner.FollowUp(batch.pk, c, 0) for c in runner.chunked(pending)])
    runner.batch_check_complete(batch.pk)
    batch.refresh_from_db()
    return batch


# --- progress ------------------------------------------------------------------------


def past_stage(stage: str, *, stopped_too: bool = False) -> Q:
    """Items that completed ``stage`` (or went past it): processed items, and items whose
    ``stage`` marker (the last stage completed, or ``"@<stage>"`` while one runs) lies past
    it, among the running ones, or with ``stopped_too`` whatever their status (a failed
    item keeps the marker it failed at, so one that failed after ``stage`` counts)."""
    index = STAGE_NAMES.index(stage)
    later = Q(stage__in=STAGE_NAMES[index:]) | Q(
        stage__in=["@" + s for s in STAGE_NAMES[index + 1 :]]
    )
    return Q(status=ItemStatus.DONE) | (
        later if stopped_too else Q(status=ItemStatus.RUNNING) & later
    )


def batch_progress(batch: EvidenceBatch) -> dict:
    """Counts from the database (one query): found, hashed, matched, classified, done,
    failed (failed, errored and refused), pending, per stage, known matches (exact or
    near), awaiting review, and ``is_complete``."""
    aggregates = {
        "found": Count("id"),
        "hashed": Count("id", filter=Q(blob__isnull=False, blob__sha1__gt="")),
        "done": Count("id", filter=Q(status__in=[ItemStatus.DONE, ItemStatus.SKIPPED])),
        "failed": Count("id", filter=Q(status__in=FAILED_STATUSES)),
        "refused": Count("id", filter=Q(status=ItemStatus.REFUSED)),
        "errored": Count("id", filter=Q(status=ItemStatus.ERRORED)),
        "pending": Count("id", filter=Q(status__in=runner.ACTIVE)),
        "running": Count("id", filter=Q(status=ItemStatus.RUNNING)),
        "scored": Count("id", filter=Q(classifier_score__isnull=False)),
        "known": Count("id", filter=Q(known_state__in=(KnownState.EXACT, KnownState.NEAR))),
        "awaiting_review": Count("id", filter=Q(review_state__in=AWAITING_REVIEW)),
    }
    for name in STAGE_NAMES:
        aggregates[f"stage_{name}"] = Count("id", filter=past_stage(name))
    counts = EvidenceItem.objects.filter(batch_id=batch.pk).aggregate(**aggregates)
    stages = {name: counts.pop(f"stage_{name}") for name in STAGE_NAMES}
    status = EvidenceBatch.objects.filter(pk=batch.pk).values_list("status", flat=True).first()
    counts.update(
        {
            "matched": stages["match"],
            "classified": stages["classify"],
            "stages": stages,
            "status": status,
            "is_complete": status == EvidenceBatch.Status.COMPLETE,
        }
    )
    found = counts["found"]
    counts["percent"] = round(100 * (found - counts["pending"]) / found) if found else 100
    return counts
