"""Fixity: re-hash stored originals and compare with the SHA-256 recorded at intake.

Each checked Blob gets ``fixity_ok`` and ``last_fixity_at``; every failure (changed or
missing file) writes one ``blob.fixity_failed`` audit event in the same transaction as the
flag. The hub health page counts ``fixity_ok=False``. Exports run this over the blobs they
describe first and are refused when any fails (``triage.exports.services``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from hub.audit import audit_record
from triage import storage
from triage.models import Blob, EvidenceItem

CHUNK = 1024 * 1024


@dataclass
class FixityFailure:
    blob_id: int
    sha256: str
    problem: str  # "changed" or "missing"
    actual_sha256: str = ""


@dataclass
class FixityReport:
    checked: int = 0
    failures: list[FixityFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def blob_check(blob: Blob, *, actor=None) -> FixityFailure | None:
    """Re-hash one original and record the result (and an audit event if it failed)."""
    try:
        actual = sha256_of(storage.blob_path(blob))
    except (FileNotFoundError, NotADirectoryError, ValueError):
        failure = FixityFailure(blob.pk, blob.sha256, "missing")
    else:
        failure = (
            None
            if actual == blob.sha256
            else FixityFailure(blob.pk, blob.sha256, "changed", actual)
        )
    now = timezone.now()
    with transaction.atomic():
        Blob.objects.filter(pk=blob.pk).update(fixity_ok=failure is None, last_fixity_at=now)
        if failure is not None:
            audit_record(
                "blob.fixity_failed",
                agency=blob.agency,
                actor=actor,
                object_type="Blob",
                object_id=str(blob.pk),
                data={
                    "sha256": blob.sha256,
                    "problem": failure.problem,
                    "actual_sha256": failure.actual_sha256,
                    "storage_path": blob.storage_path,
                },
            )
    blob.fixity_ok, blob.last_fixity_at = failure is None, now
    return failure


def fixity_check(
    blobs: QuerySet[Blob],
    *,
    actor=None,
    on_progress: Callable[[int, int], None] | None = None,
) -> FixityReport:
    """Check every blob of ``blobs``; ``on_progress(done, total)`` every 100 blobs."""
    report = FixityReport()
    total = blobs.count()
    for blob in blobs.select_related("agency").order_by("pk").iterator(chunk_size=500):
        failure = blob_check(blob, actor=actor)
        report.checked += 1
        if failure is not None:
            report.failures.append(failure)
        if on_progress is not None and report.checked % 100 == 0:
            on_progress(report.checked, total)
    return report


def blobs_of_items(items: QuerySet[EvidenceItem]) -> QuerySet[Blob]:
    return Blob.objects.filter(pk__in=items.exclude(blob=None).values("blob_id"))


def fixity_sweep(*, agency=None) -> FixityReport:
    """Every stored original (of one agency, or of the whole hub)."""
    blobs = Blob.objects.all() if agency is None else Blob.objects.filter(agency=agency)
    return fixity_check(blobs)
