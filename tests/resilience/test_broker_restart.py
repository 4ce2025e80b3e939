"""The broker restarted mid-batch, empty: every message in Redis is lost (no persistence),
including the chunks not started yet and the hops queued between stages. The worker
reconnects, the reconciler re-queues the work whose messages were lost, and the batch
completes with every item processed exactly once."""

from __future__ import annotations

import time

import pytest

from tests.conftest import wait_until
from tests.resilience.conftest import (
    Clock,
    assert_processed_exactly_once,
    drive,
    is_complete,
    point_producer_at,
    progress,
    small_mixed_batch,
)
from triage.services.intake import batch_submit

pytestmark = [pytest.mark.services, pytest.mark.worker]

STUCK_AFTER = 3


def test_redis_restarted_empty_mid_batch(
    workers, private_redis, demo_agency, alice, tmp_path, settings
):
    clock = Clock()
    batch, exp, model = small_mixed_batch(
        demo_agency, alice, tmp_path, settings, STUCK_AFTER, videos=1
    )
    point_producer_at(private_redis.url)
    # Slow enough that most of the batch is still queued when the broker goes away.
    worker = workers(
        CELERY_BROKER_URL=private_redis.url, HUB_CHUNK_SIZE="4", HUB_TEST_STAGE_DELAY="0.05"
    ).start(concurrency=2)
    batch_submit(batch=batch, user=alice)
    wait_until(lambda: progress(batch) >= 0.2, timeout=90, message=worker.full_log()[-3000:])
    queued = private_redis.queued("intake", "inference")
    assert queued > 0, "nothing left in the broker to lose"
    before = progress(batch)
    run_id = private_redis.run_id()

    private_redis.kill()
    # The worker notices (its consumer loses the connection), work in flight fails to
    # queue its next hop; then the broker comes back on the same port, empty.
    wait_until(
        lambda: "Connection to broker lost" in worker.full_log(),
        timeout=30,
        message=worker.full_log()[-3000:],
    )
    time.sleep(0.5)
    private_redis.start()
    # A new server with nothing carried over (no persistence): every message is gone.
    assert private_redis.run_id() != run_id
    assert not list(private_redis.folder.glob("*.rdb")) and not list(
        private_redis.folder.glob("appendonly*")
    )
    assert progress(batch) < 1

    totals = drive(batch, until=lambda: is_complete(batch), timeout=120, workers=workers)
    print(
        f"broker killed at {before:.0%} of the batch with {queued} message(s) queued; "
        f"the reconciler re-queued {totals['requeued']} item(s); {clock.report(workers)}"
    )
    # Without the reconciler the lost messages would never come back.
    assert totals["requeued"] > 0
    assert worker.alive(), "the worker did not survive the broker restart"
    assert_processed_exactly_once(batch, exp, demo_agency, model, worker_tmp=workers.tmp)
