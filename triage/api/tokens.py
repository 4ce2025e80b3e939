"""API token services: create (the token is returned once, only its hash is kept) and
revoke. Each write and its audit row share one transaction."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from hub.audit import audit_record
from triage.models.api import ApiToken

TOKEN_PREFIX = "thub_"
MAX_LIFETIME_DAYS = 365
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenError(ValueError):
    """A token that cannot be created or revoked, with a reason for a person."""


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(
    *, user, agency, name: str, lifetime_days: int, request=None
) -> tuple[ApiToken, str]:
    """A new token for ``user`` in ``agency``; returns (token row, the token itself)."""
    name = (name or "").strip()
    if not name:
        raise TokenError("Give the token a name, e.g. the tool or machine that will use it.")
    if not 1 <= int(lifetime_days) <= MAX_LIFETIME_DAYS:
        raise TokenError(f"A token lives between 1 and {MAX_LIFETIME_DAYS} days.")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            agency=agency,
            name=name[:100],
            token_hash=token_hash(raw),
            prefix=raw[: len(TOKEN_PREFIX) + 6],
            expires_at=timezone.now() + timedelta(days=int(lifetime_days)),
        )
        audit_record(
            "api_token.created",
            agency=agency,
            actor=user,
            obj=token,
            data={"name": token.name, "prefix": token.prefix, "expires_at": token.expires_at},
            request=request,
        )
    return token, raw


def api_token_revoke(*, token: ApiToken, user, request=None) -> bool:
    """Revoke ``token`` (idempotent: False when it was already revoked)."""
    with transaction.atomic():
        changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if changed:
            audit_record(
                "api_token.revoked",
                agency=token.agency,
                actor=user,
                obj=token,
                data={"name": token.name, "prefix": token.prefix},
                request=request,
            )
    return bool(changed)


def api_token_touch(token: ApiToken) -> None:
    """Record use, at most once a minute per token (one conditional UPDATE)."""
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiToken.objects.filter(pk=token.pk).exclude(
        last_used_at__gte=now - LAST_USED_RESOLUTION
    ).update(last_used_at=now)
    token.last_used_at = now
