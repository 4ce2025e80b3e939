"""The worker's database connections are terminated mid-task, several times
(``pg_terminate_backend``, as a PostgreSQL restart, a failover or a network cut would).
A lost connection is not the item's fault: no item ends ERRORED or FAILED because of it,
the interrupted work is re-queued, and the batch completes with nothing lost or
duplicated.

Only the worker's connections are terminated: the worker runs with its own libpq
application name (``PGAPPNAME``), and a separate superuser connection does the killing."""

from __future__ import annotations

import uuid

import pytest

from tests.resilience.conftest import (
    Clock,
    assert_processed_exactly_once,
    drive,
    is_complete,
    progress,
    small_mixed_batch,
)
from triage.models import EvidenceItem
from triage.services.intake import batch_submit

pytestmark = [pytest.mark.services, pytest.mark.worker]

STUCK_AFTER = 3
DROPS = (0.1, 0.25, 0.4, 0.55)  # points of the batch's progress (Media ends near 2/3)


@pytest.fixture
def admin_connection(db):
    """A superuser connection of its own (the test's connection may be the app role)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("terminating backends needs PostgreSQL")
    import psycopg2

    s = connection.settings_dict
    conn = psycopg2.connect(
        dbname=s["NAME"],
        user=s["USER"] or "postgres",
        password=s.get("PASSWORD") or None,
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        application_name="resilience-admin",
    )
    conn.autocommit = True
    yield conn
    conn.close()


def terminate(conn, application_name: str) -> int:
    """Terminate the worker's backends that are running a query or inside a transaction
    (an idle connection between tasks would prove nothing); returns how many."""
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND application_name = %s AND state IN ('active', 'idle in transaction')",
            [application_name],
        )
        return cursor.fetchone()[0]


def test_worker_database_connections_dropped_mid_task(
    workers, admin_connection, demo_agency, alice, tmp_path, settings
):
    clock = Clock()
    batch, exp, model = small_mixed_batch(
        demo_agency, alice, tmp_path, settings, STUCK_AFTER, gifs=1
    )
    app_name = f"hub-worker-{uuid.uuid4().hex[:8]}"
    # The Media stage sleeps inside its transaction, so a connection is often mid-task.
    workers(PGAPPNAME=app_name, HUB_CHUNK_SIZE="4", HUB_TEST_STAGE_DELAY="0.1").start(concurrency=2)
    batch_submit(batch=batch, user=alice)
    dropped: list[tuple[float, int]] = []

    def drop():
        if len(dropped) < len(DROPS) and progress(batch) >= DROPS[len(dropped)]:
            n = terminate(admin_connection, app_name)
            if n:
                dropped.append((round(progress(batch), 2), n))

    totals = drive(
        batch, until=lambda: is_complete(batch), timeout=120, workers=workers, every=drop
    )
    attempts = list(EvidenceItem.objects.filter(batch=batch).values_list("attempts", flat=True))
    # A drop inside a stage is retried there on a new connection (logged); elsewhere the
    # hop is abandoned and the reconciler starts its items again (another attempt).
    retried = "".join(w.full_log() for w in workers.all).count("database connection lost in")
    reattempted = sum(a > 1 for a in attempts)
    print(
        f"dropped the worker's connections at {dropped} (progress, backends); "
        f"{retried} stage(s) retried on a new connection, {reattempted} item(s) started "
        f"again, the reconciler re-queued {totals['requeued']}; {clock.report(workers)}"
    )
    assert len(dropped) == len(DROPS), f"only {dropped} landed mid-task"
    assert retried + reattempted > 0, "no drop interrupted any work"
    assert_processed_exactly_once(batch, exp, demo_agency, model, worker_tmp=workers.tmp)
