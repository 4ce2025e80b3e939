from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class ClassifierModel(models.Model):
    """A registered ONNX model. ``agency`` None means hub-wide (shipped or operator)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    agency = models.ForeignKey(
        "hub.Agency", null=True, blank=True, on_delete=models.PROTECT, related_name="models"
    )
    name = models.CharField(max_length=100)
    version = models.CharField(max_length=50)
    sha256 = models.CharField(max_length=64)
    manifest = models.JSONField(default=dict)
    manifest_path = models.CharField(max_length=500, blank=True)
    onnx_path = models.CharField(max_length=500)
    threshold = models.FloatField(default=0.5)
    is_enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "name", "version"], name="model_unique_agency_name_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class AgencyModelSetting(models.Model):
    """Per-agency switch and threshold for a model (calibrated from decisions)."""

    agency = models.ForeignKey("hub.Agency", on_delete=models.CASCADE, related_name="+")
    model = models.ForeignKey(ClassifierModel, on_delete=models.CASCADE, related_name="settings")
    is_enabled = models.BooleanField(default=True)
    threshold = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agency", "model"], name="agency_model_unique")
        ]


class ClassifierScore(models.Model):
    """One score per (item, model version); re-running inference is idempotent."""

    item = models.ForeignKey("triage.EvidenceItem", on_delete=models.CASCADE, related_name="scores")
    model = models.ForeignKey(ClassifierModel, on_delete=models.CASCADE, related_name="scores")
    model_name = models.CharField(max_length=100)
    model_version = models.CharField(max_length=50)
    model_sha256 = models.CharField(max_length=64)
    score = models.FloatField()
    label_scores = models.JSONField(default=dict, blank=True)
    frame_timestamp = models.FloatField(null=True, blank=True)  # video: frame of the maximum
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "model"], name="score_unique_item_model")
        ]
