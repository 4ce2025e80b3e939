from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class EvidenceBatch(models.Model):
    """One upload (browser, API or ``manage.py ingest``) of an exhibit into a case."""

    class Status(models.TextChoices):
        RECEIVING = "receiving", "Receiving"
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        COMPLETE = "complete", "Complete"
        REFUSED = "refused", "Refused"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    agency = models.ForeignKey("hub.Agency", on_delete=models.PROTECT, related_name="batches")
    case = models.ForeignKey("triage.Case", on_delete=models.PROTECT, related_name="batches")
    exhibit_ref = models.CharField(max_length=100, blank=True)
    note = models.TextField(blank=True)
    source = models.CharField(max_length=20, default="web")  # web, api, cli
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVING)
    refusal_reason = models.TextField(blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Batch {self.exhibit_ref or self.uuid} ({self.status})"


class Blob(models.Model):
    """A stored original, content-addressed by SHA-256 *within one agency* (no cross-agency
    dedup: that would reveal that another agency holds the same file). Write-once."""

    agency = models.ForeignKey("hub.Agency", on_delete=models.PROTECT, related_name="blobs")
    sha256 = models.CharField(max_length=64)
    sha1 = models.CharField(max_length=40, db_index=True)
    md5 = models.CharField(max_length=32, db_index=True)
    size = models.BigIntegerField()
    storage_path = models.CharField(max_length=500)  # relative to EVIDENCE_ROOT
    created_at = models.DateTimeField(default=timezone.now)
    last_fixity_at = models.DateTimeField(null=True, blank=True)
    fixity_ok = models.BooleanField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agency", "sha256"], name="blob_unique_agency_sha256")
        ]
        indexes = [models.Index(fields=["sha256"], name="blob_sha256")]


class ItemStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Processing"
    DONE = "done", "Processed"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"  # expected failure, reason for a person to read
    ERRORED = "errored", "Errored"  # unexpected exception, traceback stored
    REFUSED = "refused", "Refused"  # hostile or over-limit input


class MediaKind(models.TextChoices):
    IMAGE = "image", "Image"
    VIDEO = "video", "Video"
    ARCHIVE = "archive", "Archive"
    OTHER = "other", "Other"


class KnownState(models.TextChoices):
    UNKNOWN = "unknown", "No known match"
    NEAR = "near", "Near-duplicate of known"
    EXACT = "exact", "Exact known match"


class ReviewState(models.TextChoices):
    NOT_QUEUED = "not_queued", "Not queued"  # still processing, failed, or not reviewable
    QUEUED = "queued", "Awaiting review"
    AUTO_GRADED = "auto_graded", "Auto-graded (known)"
    SECOND_REVIEW = "second_review", "Awaiting second review"
    CONFLICT = "conflict", "Conflict (supervisor)"
    REVIEWED = "reviewed", "Reviewed"


class EvidenceItem(models.Model):
    """One file of a batch (including each member of an archive), with every signal the
    pipeline computed for it and its place in the review queue."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    agency = models.ForeignKey("hub.Agency", on_delete=models.PROTECT, related_name="items")
    case = models.ForeignKey("triage.Case", on_delete=models.PROTECT, related_name="items")
    batch = models.ForeignKey(EvidenceBatch, on_delete=models.CASCADE, related_name="items")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    blob = models.ForeignKey(Blob, null=True, blank=True, on_delete=models.PROTECT)
    # Provenance: where the file sat inside the batch/archive, as received.
    path = models.TextField()
    original_name = models.CharField(max_length=500)
    size = models.BigIntegerField(default=0)
    source_mtime = models.DateTimeField(null=True, blank=True)
    depth = models.PositiveSmallIntegerField(default=0)  # archive nesting depth

    # Processing
    status = models.CharField(max_length=20, choices=ItemStatus.choices, default=ItemStatus.PENDING)
    stage = models.CharField(max_length=40, blank=True)  # last stage completed
    failure_reason = models.TextField(blank=True)
    error_traceback = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    # Media
    media_type = models.CharField(max_length=100, blank=True)  # MIME from magic bytes
    media_kind = models.CharField(max_length=20, choices=MediaKind.choices, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    pdq = models.CharField(max_length=64, blank=True, db_index=True)
    pdq_quality = models.PositiveSmallIntegerField(null=True, blank=True)
    pdq_dihedral = models.JSONField(default=list, blank=True)  # 8 hex hashes

    # Signals
    known_state = models.CharField(
        max_length=10, choices=KnownState.choices, default=KnownState.UNKNOWN
    )
    best_distance = models.PositiveSmallIntegerField(null=True, blank=True)
    classifier_score = models.FloatField(null=True, blank=True)  # max over enabled models
    priority = models.FloatField(default=0, db_index=True)
    priority_reasons = models.JSONField(default=list, blank=True)

    # Review
    review_state = models.CharField(
        max_length=20, choices=ReviewState.choices, default=ReviewState.NOT_QUEUED
    )
    group = models.ForeignKey(
        "triage.ItemGroup", null=True, blank=True, on_delete=models.SET_NULL, related_name="items"
    )
    category = models.CharField(max_length=10, blank=True)
    is_precategorized = models.BooleanField(default=False)
    precategorization_source = models.CharField(max_length=200, blank=True)
    needs_verification = models.BooleanField(default=False)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    first_reviewed_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["batch", "id"]
        indexes = [
            models.Index(fields=["batch", "status"], name="item_batch_status"),
            models.Index(fields=["status", "claimed_at"], name="item_status_claimed"),
            models.Index(
                fields=["agency", "review_state", "-priority", "id"], name="item_queue_order"
            ),
            models.Index(fields=["case", "review_state"], name="item_case_review"),
            # The queue walks only claimable rows, so held or decided items at the top of
            # a million-row table cost nothing (triage/review/selectors.py).
            models.Index(
                fields=["agency", "-priority", "id"],
                condition=models.Q(review_state__in=["queued", "second_review"]),
                name="item_queue_open",
            ),
            # Dashboard (triage/dashboard/selectors.py); each covers its query so that
            # PostgreSQL answers from the index alone (index-only scans), the case too for
            # the views filtered by case or team member. Flow: items ingested per day.
            models.Index(
                fields=["agency", "created_at"], include=["case"], name="item_agency_ingested"
            ),
            # Medians and classifier positives of the items first reviewed in a range.
            models.Index(
                fields=["agency", "first_reviewed_at"],
                include=[
                    "case",
                    "created_at",
                    "queued_at",
                    "classifier_score",
                    "review_state",
                    "category",
                ],
                condition=models.Q(first_reviewed_at__isnull=False),
                name="item_agency_first_reviewed",
            ),
            # Pre-categorisation rate: items processed in a range.
            models.Index(
                fields=["agency", "processed_at"],
                include=["case", "is_precategorized"],
                condition=models.Q(status="done"),
                name="item_agency_processed",
            ),
            # Backlog per case: only the rows awaiting a person, in (case, group) order.
            models.Index(
                fields=["agency", "case", "group"],
                include=["review_state", "queued_at", "created_at"],
                condition=models.Q(review_state__in=["queued", "second_review", "conflict"]),
                name="item_agency_backlog",
            ),
        ]
        constraints = [
            # The same archive member is never recorded twice (idempotent expansion).
            models.UniqueConstraint(fields=["batch", "path"], name="item_unique_batch_path"),
        ]

    def __str__(self) -> str:
        return self.path


class VideoFrame(models.Model):
    """A sampled keyframe of a video (or animated GIF) with its PDQ."""

    item = models.ForeignKey(EvidenceItem, on_delete=models.CASCADE, related_name="frames")
    index = models.PositiveIntegerField()
    timestamp = models.FloatField()
    pdq = models.CharField(max_length=64)
    quality = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["item", "index"]
        constraints = [
            models.UniqueConstraint(fields=["item", "index"], name="frame_unique_item_index")
        ]


class Derivative(models.Model):
    """A derived file for review (grayscale thumbnail, blurred thumbnail, contact sheet),
    recording the SHA-256 of the original it came from."""

    class Kind(models.TextChoices):
        THUMB = "thumb", "Thumbnail"
        BLURRED = "blurred", "Blurred thumbnail"
        CONTACT_SHEET = "contact_sheet", "Keyframe contact sheet"

    item = models.ForeignKey(EvidenceItem, on_delete=models.CASCADE, related_name="derivatives")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    parent_sha256 = models.CharField(max_length=64)
    storage_path = models.CharField(max_length=500)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "kind"], name="derivative_unique_item_kind")
        ]
