from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class ExportJob(models.Model):
    """A court-ready export of a case (or of one batch of it): a folder of ``vics.json``,
    ``items.csv``, ``report.html``/``report.pdf`` and a signed ``manifest.json``, plus a
    zip of that folder for download. Created first, then built by a task after commit
    (``triage.exports.services``). A finished export's files are deleted after the
    agency's ``export_retention_days`` (or by hand); the row stays, EXPIRED, as the
    record of what was exported."""

    class Kind(models.TextChoices):
        CASE = "case", "Whole case"
        BATCH = "batch", "One upload"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        RUNNING = "running", "Exporting"
        DONE = "done", "Ready"
        REFUSED = "refused", "Refused (fixity)"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired (deleted)"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    agency = models.ForeignKey("hub.Agency", on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey("triage.Case", on_delete=models.PROTECT, related_name="exports")
    batch = models.ForeignKey(
        "triage.EvidenceBatch",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="exports",
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CASE)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Relative to EVIDENCE_ROOT; the zip is the same path with ".zip" appended.
    folder = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    # When its files were deleted (retention or by hand); set with status EXPIRED.
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["case", "-created_at"], name="export_case_created")]

    def __str__(self) -> str:
        return f"Export {self.uuid} ({self.status})"

    # Finished, so its files (if any) may be deleted: by retention or by hand.
    DELETABLE = (Status.DONE, Status.REFUSED, Status.FAILED)

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.PENDING, self.Status.RUNNING)

    @property
    def is_expired(self) -> bool:
        return self.status == self.Status.EXPIRED

    @property
    def kept_days(self) -> int | None:
        """Whole days between finishing (or creation) and deletion, once expired."""
        if self.expired_at is None:
            return None
        return max((self.expired_at - (self.finished_at or self.created_at)).days, 0)
