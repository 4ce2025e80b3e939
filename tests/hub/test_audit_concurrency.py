"""Concurrent appenders to one audit chain (PostgreSQL: real row locks, one connection per
thread): every event gets its own sequence number, none is lost, and the chain verifies."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from hub.audit import audit_record, chain_key, verify_chain
from hub.models import AuditEvent

pytestmark = [pytest.mark.services]


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_keep_the_chain_whole(demo_agency):
    if connection.vendor != "postgresql":
        pytest.skip("row-lock concurrency needs PostgreSQL (this is the SQLite run)")
    threads, per_thread = 8, 25
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                audit_record("test.append", agency=demo_agency, data={"t": n, "i": i})
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors, errors
    key = chain_key(demo_agency)
    seqs = list(
        AuditEvent.objects.filter(chain=key, action="test.append").values_list("seq", flat=True)
    )
    assert len(seqs) == threads * per_thread
    all_seqs = sorted(AuditEvent.objects.filter(chain=key).values_list("seq", flat=True))
    assert all_seqs == list(range(1, len(all_seqs) + 1))
    status = verify_chain(key)
    assert status.ok, status
