from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Scheme(models.TextChoices):
    PROJECTVIC_US = "projectvic_us", "Project VIC US"
    LEGACY = "legacy", "Legacy DHS"
    UK_CAID = "uk_caid", "UK CAID"
    CUSTOM = "custom", "Custom"


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
    scheme = models.CharField(max_length=20, choices=Scheme.choices, default=Scheme.PROJECTVIC_US)
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

    @property
    def is_hub_wide(self) -> bool:
        return self.agency_id is None


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

    def receiving_category(self) -> tuple[str, str]:
        """The entry's category in the item's agency's scheme (see ``receiving_category``)."""
        return receiving_category(self.hash_list, self.entry.category, self.item.agency)

    @property
    def category_label(self) -> str:
        code, label = self.receiving_category()
        return f"{code} · {label}" if code else label


def receiving_category(hash_list: HashList, code: str, agency) -> tuple[str, str]:
    """The entry category ``code`` (in the list's scheme) as the receiving ``agency`` reads
    it: ``(code, label)`` in that agency's scheme. Categories are never compared across
    schemes by their raw codes: 0 is non-pertinent in Project VIC US but uncategorised in
    the legacy scheme. Without an explicit mapping the result is ``("", "Unmapped …")``."""
    from hub.policy import CATEGORY_SCHEMES

    if not code:
        return "", "Uncategorised"
    policy = agency.policy
    target = policy.category_scheme
    mapped: str | None = None
    if hash_list.scheme == target and target != "custom":
        mapped = code
    else:
        cmap = hash_list.category_map or {}
        nested = cmap.get(target)
        if isinstance(nested, dict):
            mapped = nested.get(code)
        elif hash_list.agency_id is not None and hash_list.agency_id == agency.id:
            flat = cmap.get(code)
            mapped = flat if isinstance(flat, str) else None
        elif hash_list.scheme == target:
            mapped = code
    if mapped is None:
        source = dict(CATEGORY_SCHEMES.get(hash_list.scheme, []))
        label = source.get(code, code)
        return "", f"Unmapped: {label} ({hash_list.get_scheme_display()} {code})"
    labels = dict(policy.categories)
    return mapped, labels.get(mapped, mapped)


class RematchJob(models.Model):
    """Re-matching of past items after a list changed (import, edit, tombstone, sharing).

    Runs as one task per chunk of items; ``processed``/``total`` drive the progress shown
    on the list page and ``changed`` counts items whose known state or best distance
    moved."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        RUNNING = "running", "Re-matching"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    hash_list = models.ForeignKey(HashList, on_delete=models.CASCADE, related_name="rematches")
    list_version = models.PositiveIntegerField()
    reason = models.CharField(max_length=40)
    # Agencies whose items to re-match (users of the list before and after the change).
    agency_ids = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    total = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
