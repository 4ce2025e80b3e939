"""Platform models: users, agencies (tenants), memberships, invitations and the audit log."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone


class User(AbstractUser):
    """A person. Roles live on ``Membership``; hub operators run the platform itself."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    is_hub_operator = models.BooleanField(
        default=False, help_text="May onboard agencies and publish hub-wide lists and models."
    )
    # Personal review preferences; None means "use the agency default".
    prefers_blur = models.BooleanField(null=True, blank=True)
    prefers_grayscale = models.BooleanField(null=True, blank=True)

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class Agency(models.Model):
    """A tenant. Nothing of one agency is ever visible to another."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    is_active = models.BooleanField(default=True, help_text="A suspended agency cannot log in.")
    # Agency policy; read through ``hub.policy.policy_for`` which merges documented defaults.
    settings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "agencies"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def policy(self):
        from hub.policy import policy_for

        return policy_for(self)


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    SUPERVISOR = "supervisor", "Supervisor"
    INVESTIGATOR = "investigator", "Investigator"


# Higher rank includes the powers of the lower ones.
ROLE_RANK = {Role.INVESTIGATOR: 1, Role.SUPERVISOR: 2, Role.ADMIN: 3}


class Membership(models.Model):
    """A user's role in one agency. A user may belong to several agencies."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.INVESTIGATOR)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "agency"], name="membership_unique_user_agency")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.agency} ({self.role})"

    def has_role(self, role: str) -> bool:
        return self.is_active and ROLE_RANK[self.role] >= ROLE_RANK[role]


class Invitation(models.Model):
    """A single-use, expiring link that creates a membership (and a user if needed)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=20, choices=Role.choices)
    # Only the SHA-256 of the token is stored; the token itself is shown once.
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    @property
    def is_usable(self) -> bool:
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > timezone.now()
        )


class AuditChain(models.Model):
    """Head of one audit chain (one per agency, plus ``hub`` for platform events).

    Appending updates this row first, which serialises writers to the same chain on
    every database (a row lock on PostgreSQL, the write lock on SQLite)."""

    key = models.CharField(max_length=64, unique=True)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)


class AuditEvent(models.Model):
    """Append-only, hash-chained record of a security-relevant action.

    ``hash = sha256(prev_hash + canonical JSON of this row's content)``; changing,
    inserting or deleting a row breaks every later hash, which ``verify_audit`` finds."""

    chain = models.CharField(max_length=64, db_index=True)
    seq = models.BigIntegerField()
    agency = models.ForeignKey(
        Agency, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    actor_label = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=80, db_index=True)
    object_type = models.CharField(max_length=80, blank=True)
    object_id = models.CharField(max_length=80, blank=True)
    data = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["chain", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_unique_chain_seq")
        ]
        indexes = [models.Index(fields=["agency", "-created_at"], name="audit_agency_time")]

    def __str__(self) -> str:
        return f"{self.chain}#{self.seq} {self.action}"
