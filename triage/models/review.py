from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class ItemGroup(models.Model):
    """Near-duplicates within a case (PDQ distance within the agency's threshold,
    connected). The queue shows a group once; one decision grades every member."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    agency = models.ForeignKey("hub.Agency", on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey("triage.Case", on_delete=models.CASCADE, related_name="groups")
    representative = models.ForeignKey(
        "triage.EvidenceItem", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    size = models.PositiveIntegerField(default=1)
    # A person split this item out of its group: never regrouped automatically.
    pinned = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)


class ReviewDecision(models.Model):
    """A grading of an item by a reviewer (or by hash: ``kind=auto``)."""

    class Kind(models.TextChoices):
        AUTO = "auto", "Auto-graded by hash"
        FIRST = "first", "Review"
        SECOND = "second", "Second review"
        SUPERVISOR = "supervisor", "Supervisor resolution"
        VERIFICATION = "verification", "Verification of auto-grade"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    agency = models.ForeignKey("hub.Agency", on_delete=models.PROTECT, related_name="+")
    item = models.ForeignKey(
        "triage.EvidenceItem", on_delete=models.CASCADE, related_name="decisions"
    )
    group = models.ForeignKey(ItemGroup, null=True, blank=True, on_delete=models.SET_NULL)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.FIRST)
    category = models.CharField(max_length=10)
    note = models.TextField(blank=True)
    source = models.CharField(max_length=200, blank=True)  # for auto: the list that graded it
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    # The item's state and category before this decision, so that undo restores them.
    previous_state = models.CharField(max_length=20, blank=True)
    previous_category = models.CharField(max_length=10, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["agency", "reviewer", "created_at"], name="decision_rev"),
            # Dashboard: a person's decisions (not auto-grades, not undone) per day.
            models.Index(
                fields=["agency", "created_at"],
                include=["reviewer"],
                condition=models.Q(
                    kind__in=["first", "second", "supervisor", "verification"],
                    undone_at__isnull=True,
                ),
                name="decision_agency_reviewed",
            ),
        ]


class ExposureEvent(models.Model):
    """Every reveal of an item and every video play, with its duration."""

    class Kind(models.TextChoices):
        REVEAL = "reveal", "Reveal"
        VIDEO = "video", "Video play"
        ORIGINAL = "original", "Original opened"

    agency = models.ForeignKey("hub.Agency", on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey("triage.EvidenceItem", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["agency", "user", "started_at"], name="exposure_user"),
            # Dashboard: reveals and video minutes per person and day.
            models.Index(
                fields=["agency", "started_at"],
                include=["user", "kind", "duration_ms"],
                condition=models.Q(kind__in=["reveal", "video"]),
                name="exposure_agency_day",
            ),
        ]
