"""End to end through real Celery workers on Redis (the PostgreSQL CI run), including a
worker SIGKILLed mid-batch: after the reconciler, every item is processed exactly once."""

from __future__ import annotations

import time

import pytest

from tests import images
from tests.conftest import wait_until
from triage.models import Blob, Derivative, EvidenceBatch, EvidenceItem, ItemStatus, VideoFrame
from triage.pipeline import runner
from triage.services.intake import (
    batch_add_file,
    batch_create,
    batch_progress,
    batch_submit,
    case_create,
)

pytestmark = [pytest.mark.services, pytest.mark.worker]


@pytest.fixture
def workers(celery_worker_process):
    """``celery_worker_process``, plus a fresh producer pool in this process: an eager task
    run by an earlier test acquires a producer, and kombu keeps that pool (bound to the
    filesystem transport) across ``app.close()``."""
    from hub.celery import app

    app.amqp._producer_pool = None
    yield celery_worker_process
    app.amqp._producer_pool = None


def _batch(agency, user, folder, n, video=False):
    case = case_create(agency=agency, user=user, reference=f"W-{time.time_ns()}", title="w")
    batch = batch_create(case=case, user=user, source="cli")
    for seed in range(n):
        path = images.make_jpeg(folder / f"{seed}.jpg", seed=seed, size=(320, 240))
        batch_add_file(batch=batch, src_path=path, name=path.name)
    if video:
        path = images.make_video(folder / "v.mp4", seconds=2, fps=10)
        batch_add_file(batch=batch, src_path=path, name="v.mp4")
        zipped = images.make_zip(
            folder / "z.zip", {"in.png": images.make_png(folder / "i.png", 77)}
        )
        batch_add_file(batch=batch, src_path=zipped, name="z.zip")
    return batch


def _complete(batch):
    return EvidenceBatch.objects.get(pk=batch.pk).status == EvidenceBatch.Status.COMPLETE


def test_a_batch_end_to_end_through_a_worker(workers, demo_agency, alice, tmp_path, settings):
    batch = _batch(demo_agency, alice, tmp_path, 4, video=True)
    worker = workers(HUB_CHUNK_SIZE="2").start()
    batch_submit(batch=batch, user=alice)
    wait_until(lambda: _complete(batch), timeout=60, message=worker.log())
    progress = batch_progress(batch)
    assert progress["found"] == 7 and progress["done"] == 7, progress
    assert VideoFrame.objects.filter(item__batch=batch).count() >= 2
    assert set(EvidenceItem.objects.filter(batch=batch).values_list("attempts", flat=True)) == {1}


def test_sigkill_mid_batch_loses_nothing_and_duplicates_nothing(
    workers, demo_agency, alice, tmp_path, settings
):
    n = 10
    batch = _batch(demo_agency, alice, tmp_path, n)
    slow = workers(HUB_CHUNK_SIZE="2", HUB_TEST_STAGE_DELAY="0.4").start()
    batch_submit(batch=batch, user=alice)
    items = EvidenceItem.objects.filter(batch=batch)
    # Kill while some items are done and others are claimed and half-way through.
    wait_until(
        lambda: (
            items.filter(status=ItemStatus.DONE).exists()
            and items.filter(status=ItemStatus.RUNNING).exists()
        ),
        timeout=60,
        message=slow.log(),
    )
    slow.kill()
    assert items.exclude(status=ItemStatus.DONE).exists()
    assert items.filter(status=ItemStatus.RUNNING).exists()

    # The reconciler (normally the beat task) re-queues what the dead worker held.
    settings.HUB_STUCK_AFTER_SECONDS = 1
    time.sleep(1.2)
    result = runner.reconcile()
    assert result["requeued"] >= 1
    runner.dispatch(result["followups"])
    fresh = workers(HUB_CHUNK_SIZE="2").start()
    wait_until(lambda: _complete(batch), timeout=60, message=fresh.log())

    assert items.count() == n
    assert set(items.values_list("status", flat=True)) == {ItemStatus.DONE}
    assert all(i.pdq for i in items)
    # Exactly once: one derivative of each kind per item, one stored file per blob.
    assert Derivative.objects.filter(item__batch=batch).count() == 2 * n
    assert Blob.objects.filter(agency=demo_agency).count() == n
    root = settings.EVIDENCE_ROOT / str(demo_agency.uuid)
    assert len([p for p in (root / "blobs").rglob("*") if p.is_file()]) == n
    assert len([p for p in (root / "derived").rglob("*") if p.is_file()]) == 2 * n
    assert max(items.values_list("attempts", flat=True)) == 2  # re-run once, not looping
