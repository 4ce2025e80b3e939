from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class HashList(models.Model):
    """A list of known hashes with a category scheme. ``agency`` is None for hub-wide
    lists published by the hub operator. ``version`` increases on every change so that
    cached PDQ indexes in worker processes know when to rebuild."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    agency = models.ForeignKey(
        "hub.Agency", null=True, blank=True, on_delete=models.PROTECT, related_name="hash_lists"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    scheme = models.CharField(max_length=20, default="projectvic_us")
    # Maps the list's categories to the owning agency's scheme, e.g. {"1": "A"}.
    category_map = models.JSONField(default=dict, blank=True)
    pdq_threshold = models.PositiveSmallIntegerField(default=31)
    pdq_quality_min = models.PositiveSmallIntegerField(default=50)
    is_active = models.BooleanField(default=True)
    is_agency_own = models.BooleanField(
        default=False, help_text="The agency's own list of confirmed decisions."
    )
    shared_with = models.ManyToManyField("hub.Agency", blank=True, related_name="shared_lists")
    shared_with_all = models.BooleanField(default=False)
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class HashEntry(models.Model):
    """One known file. ``deleted_at`` marks a tombstone (e.g. NCMEC ``deletedImage``)."""

    hash_list = models.ForeignKey(HashList, on_delete=models.CASCADE, related_name="entries")
    md5 = models.CharField(max_length=32, blank=True, db_index=True)
    sha1 = models.CharField(max_length=40, blank=True, db_index=True)
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    pdq = models.CharField(max_length=64, blank=True)
    pdq_quality = models.PositiveSmallIntegerField(null=True, blank=True)
    category = models.CharField(max_length=20, blank=True)  # in the list's scheme
    series = models.CharField(max_length=200, blank=True)
    victim_identified = models.BooleanField(null=True, blank=True)
    is_precategorized = models.BooleanField(default=True)
    source_ref = models.CharField(max_length=200, blank=True)  # id in the source file
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["hash_list", "deleted_at"], name="entry_list_live")]


class HashImport(models.Model):
    """A background import of a hash-list file, with progress and a summary."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        RUNNING = "running", "Importing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    hash_list = models.ForeignKey(HashList, on_delete=models.CASCADE, related_name="imports")
    file_name = models.CharField(max_length=300)
    storage_path = models.CharField(max_length=500)
    format = models.CharField(max_length=20)  # vics, ncmec, text, csv
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)  # added/updated/skipped/errors
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)


class Match(models.Model):
    """An item matched a list entry, exactly or perceptually."""

    class Algorithm(models.TextChoices):
        MD5 = "md5", "MD5"
        SHA1 = "sha1", "SHA-1"
        SHA256 = "sha256", "SHA-256"
        PDQ = "pdq", "PDQ"

    item = models.ForeignKey(
        "triage.EvidenceItem", on_delete=models.CASCADE, related_name="matches"
    )
    entry = models.ForeignKey(HashEntry, on_delete=models.CASCADE, related_name="matches")
    hash_list = models.ForeignKey(HashList, on_delete=models.CASCADE, related_name="matches")
    algorithm = models.CharField(max_length=10, choices=Algorithm.choices)
    distance = models.PositiveSmallIntegerField(default=0)
    quality = models.PositiveSmallIntegerField(null=True, blank=True)
    frame_timestamp = models.FloatField(null=True, blank=True)  # video keyframe that matched
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item", "entry", "algorithm"], name="match_unique_item_entry_algorithm"
            )
        ]
