from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Urgency(models.IntegerChoices):
    ROUTINE = 0, "Routine"
    PRIORITY = 1, "Priority"
    URGENT = 2, "Urgent"
    CHILD_AT_RISK = 3, "Child at risk"


class Case(models.Model):
    """An investigation. Investigators see the cases they are on; supervisors all."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    agency = models.ForeignKey("hub.Agency", on_delete=models.PROTECT, related_name="cases")
    reference = models.CharField(max_length=100)
    title = models.CharField(max_length=200)
    urgency = models.IntegerField(choices=Urgency.choices, default=Urgency.ROUTINE)
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="cases")
    is_closed = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-urgency", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["agency", "reference"], name="case_unique_reference")
        ]

    def __str__(self) -> str:
        return f"{self.reference} — {self.title}"
