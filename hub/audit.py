"""The audit log: append-only and hash-chained per agency.

``audit_record`` is the only writer. Call it inside the same ``transaction.atomic()`` as
the change it records, so the change and its audit row commit or roll back together."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from hub.models import Agency, AuditChain, AuditEvent, User

HUB_CHAIN = "hub"
GENESIS = "0" * 64


def chain_key(agency: Agency | None) -> str:
    return str(agency.uuid) if agency is not None else HUB_CHAIN


def _canonical(event: AuditEvent) -> str:
    content = {
        "chain": event.chain,
        "seq": event.seq,
        "agency": str(event.agency.uuid) if event.agency_id else None,
        "actor": event.actor_label,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "data": event.data,
        "ip": event.ip,
        "created_at": event.created_at.isoformat(),
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)


def compute_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256((prev_hash + _canonical(event)).encode()).hexdigest()


def client_ip(request) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def _advance_head(key: str) -> tuple[int, str]:
    """Increment the chain's sequence under its row lock; return (new seq, last hash)."""
    table = connection.ops.quote_name(AuditChain._meta.db_table)
    column = connection.ops.quote_name("key")
    sql = "UPDATE %s SET last_seq = last_seq + 1 WHERE %s = %%s RETURNING last_seq, last_hash" % (  # noqa: S608, UP031 (quoted identifiers; the value is bound)
        table,
        column,
    )
    if connection.vendor == "postgresql":
        # The chain lock must be the last lock a transaction takes: check the foreign keys
        # deferred so far now (they lock their target rows), not at COMMIT while holding
        # the chain, where they deadlock with a transaction that locked such a row (a
        # claimed item) and waits for the chain.
        sql = "SET CONSTRAINTS ALL IMMEDIATE; " + sql
    with connection.cursor() as cursor:
        cursor.execute(sql, [key])
        row = cursor.fetchone()
        if row is None:  # the chain's first event
            AuditChain.objects.get_or_create(key=key)
            cursor.execute(sql, [key])
            row = cursor.fetchone()
    return int(row[0]), row[1]


def audit_record(
    action: str,
    *,
    agency: Agency | None,
    actor: User | None = None,
    obj=None,
    object_type: str = "",
    object_id: str = "",
    data: dict | None = None,
    request=None,
) -> AuditEvent:
    """Append one event to the agency's chain (or the hub chain when agency is None)."""
    if obj is not None:
        object_type = object_type or obj.__class__.__name__
        object_id = object_id or str(getattr(obj, "uuid", None) or obj.pk)
    if actor is None and request is not None and request.user.is_authenticated:
        actor = request.user
    key = chain_key(agency)
    with transaction.atomic():
        # Taking the head row's write lock serialises appenders to this chain (a row lock
        # on PostgreSQL, the write lock on SQLite); it is held until the caller's
        # transaction commits, so the append does as little as possible: three statements.
        seq, prev_hash = _advance_head(key)
        event = AuditEvent(
            chain=key,
            seq=seq,
            agency=agency,
            actor=actor,
            actor_label=(actor.username if actor else "system"),
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            data=json.loads(json.dumps(data or {}, default=str)),
            ip=client_ip(request),
            created_at=timezone.now(),
            prev_hash=prev_hash,
        )
        event.hash = compute_hash(prev_hash, event)
        event.save(force_insert=True)
        AuditChain.objects.filter(key=key).update(last_hash=event.hash)
    return event


def audit_record_for_person(action: str, *, agencies, **kwargs) -> None:
    """Append the same event to the hub chain and to the chain of each of ``agencies`` (a
    person's sign-in events: the operator and the admin of every agency of theirs read
    them), in one transaction."""
    with transaction.atomic():
        for agency in [None, *agencies]:
            audit_record(action, agency=agency, **kwargs)


@dataclass
class ChainStatus:
    chain: str
    verified_up_to: int
    ok: bool
    first_broken_seq: int | None = None
    reason: str = ""


def verify_chain(key: str) -> ChainStatus:
    """Recompute every hash of one chain in order; name the first row that breaks it."""
    prev = GENESIS
    expected_seq = 1
    last_ok = 0
    events = AuditEvent.objects.filter(chain=key).select_related("agency").order_by("seq")
    for event in events.iterator(chunk_size=2000):
        if event.seq != expected_seq:
            return ChainStatus(key, last_ok, False, expected_seq, "sequence gap (row deleted)")
        if event.prev_hash != prev:
            return ChainStatus(key, last_ok, False, event.seq, "previous-hash link broken")
        if compute_hash(prev, event) != event.hash:
            return ChainStatus(key, last_ok, False, event.seq, "row content changed")
        prev = event.hash
        last_ok = event.seq
        expected_seq += 1
    head = AuditChain.objects.filter(key=key).first()
    if head is not None and head.last_seq != last_ok:
        return ChainStatus(key, last_ok, False, last_ok + 1, "rows missing at the end")
    return ChainStatus(key, last_ok, True)
