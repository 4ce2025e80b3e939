"""Intake services, the runner (claims, endings, completion), the downstream contracts and
the reconciler, run inline (process_batch_now) or through eager tasks after commit."""

from __future__ import annotations

import hashlib
import stat
from datetime import timedelta

import pytest
from django.utils import timezone

from hub.models import AuditEvent
from tests import images
from triage import storage
from triage.models import Blob, Derivative, EvidenceBatch, EvidenceItem, ItemStatus, VideoFrame
from triage.pipeline import runner
from triage.services.intake import (
    IntakeRejected,
    batch_add_file,
    batch_create,
    batch_progress,
    batch_submit,
    case_create,
)


def actions(agency):
    return list(AuditEvent.objects.filter(agency=agency).values_list("action", flat=True))


# --- cases, batches, files -----------------------------------------------------------


def test_case_and_batch_creation_are_audited(case, batch, demo_agency, alice):
    assert case.reference == "OP-1" and case.created_by == alice
    assert batch.status == EvidenceBatch.Status.RECEIVING and batch.case == case
    assert actions(demo_agency)[:2] == ["case.created", "batch.created"]
    with pytest.raises(IntakeRejected, match="already exists"):
        case_create(agency=demo_agency, user=alice, reference="OP-1", title="again")


def test_add_file_streams_into_the_write_once_store(add, files, batch, settings):
    path = images.make_jpeg(files / "a.jpg", seed=1)
    data = path.read_bytes()
    item = add(path, relative_path="phone/DCIM/a.jpg")
    blob = item.blob
    assert (blob.md5, blob.sha1, blob.sha256, blob.size) == (
        hashlib.md5(data).hexdigest(),
        hashlib.sha1(data).hexdigest(),
        hashlib.sha256(data).hexdigest(),
        len(data),
    )
    stored = storage.blob_path(blob)
    assert stored.is_relative_to(settings.EVIDENCE_ROOT / str(batch.agency.uuid))
    assert stored.read_bytes() == data
    assert stat.S_IMODE(stored.stat().st_mode) == 0o440
    assert item.status == ItemStatus.PENDING and item.path == "phone/DCIM/a.jpg"
    assert item.original_name == "a.jpg" and item.source_mtime is not None
    assert path.exists()  # copied, not moved
    # Same content again: one blob, one file; the first file is never rewritten.
    mtime = stored.stat().st_mtime_ns
    again = add(path, name="copy.jpg")
    assert again.blob_id == blob.id and Blob.objects.count() == 1
    assert stored.stat().st_mtime_ns == mtime
    assert not list((settings.EVIDENCE_ROOT / str(batch.agency.uuid) / "tmp").iterdir())


def test_blobs_are_not_shared_across_agencies(add, files, other_agency, oscar):
    path = images.make_jpeg(files / "a.jpg", seed=1)
    mine = add(path)
    other_case = case_create(agency=other_agency, user=oscar, reference="X", title="x")
    other_batch = batch_create(case=other_case, user=oscar)
    theirs = batch_add_file(batch=other_batch, src_path=path, name="a.jpg")
    assert mine.blob_id != theirs.blob_id
    assert storage.blob_path(mine.blob) != storage.blob_path(theirs.blob)


def test_move_removes_the_source(add, files):
    path = images.make_jpeg(files / "a.jpg", seed=1)
    item = add(path, move=True)
    assert not path.exists() and storage.blob_path(item.blob).exists()


def test_sha256_mismatch_is_rejected_and_audited(add, files, batch, demo_agency, settings):
    path = images.make_jpeg(files / "a.jpg", seed=1)
    with pytest.raises(IntakeRejected, match="arrived damaged"):
        add(path, client_sha256="0" * 64)
    assert "evidence.sha256_mismatch" in actions(demo_agency)
    assert not EvidenceItem.objects.exists() and not Blob.objects.exists()
    assert not list((settings.EVIDENCE_ROOT / str(demo_agency.uuid) / "tmp").iterdir())
    ok = add(path, client_sha256=hashlib.sha256(path.read_bytes()).hexdigest().upper())
    assert ok.status == ItemStatus.PENDING


def test_duplicate_path_and_submitted_batch_are_rejected(add, files, batch, alice):
    path = images.make_jpeg(files / "a.jpg", seed=1)
    add(path)
    with pytest.raises(IntakeRejected, match="already in this batch"):
        add(path)
    batch_submit(batch=batch, user=alice)
    with pytest.raises(IntakeRejected, match="already submitted"):
        add(path, name="b.jpg")


# --- submission after commit ---------------------------------------------------------


def test_submit_queues_after_commit_only(
    add, files, batch, alice, monkeypatch, django_capture_on_commit_callbacks
):
    from triage.pipeline import tasks

    add(images.make_jpeg(files / "a.jpg", seed=1))
    queued = []
    monkeypatch.setattr(tasks.start_batch, "delay", lambda *a: queued.append(a))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        batch_submit(batch=batch, user=alice)
        assert queued == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert queued == [(batch.pk,)]
    batch.refresh_from_db()
    assert batch.status == EvidenceBatch.Status.QUEUED


def test_submit_runs_the_whole_pipeline_through_eager_tasks(
    add, files, batch, alice, django_capture_on_commit_callbacks, settings
):
    settings.HUB_CHUNK_SIZE = 2
    for seed in range(5):
        add(images.make_jpeg(files / f"{seed}.jpg", seed=seed))
    add(images.make_zip(files / "z.zip", {"in/x.png": images.make_png(files / "x.png", 9)}))
    with django_capture_on_commit_callbacks(execute=True):
        batch_submit(batch=batch, user=alice)
    batch.refresh_from_db()
    assert batch.status == EvidenceBatch.Status.COMPLETE
    assert set(EvidenceItem.objects.values_list("status", flat=True)) == {ItemStatus.DONE}
    assert EvidenceItem.objects.count() == 7
    assert "batch.completed" in actions(batch.agency)


def test_progress_counts_from_the_database(add, files, batch, process):
    for seed in range(3):
        add(images.make_jpeg(files / f"{seed}.jpg", seed=seed))
    add(images.hostile_empty(files / "empty.jpg"))
    before = batch_progress(batch)
    assert before["found"] == 4 and before["pending"] == 4 and before["done"] == 0
    assert not before["is_complete"]
    process()
    after = batch_progress(batch)
    assert after["found"] == 4 and after["done"] == 3 and after["failed"] == 1
    assert after["pending"] == 0 and after["is_complete"] and after["percent"] == 100
    assert after["hashed"] == 4 and after["matched"] == 3 and after["classified"] == 3
    assert after["stages"]["media"] == 3


# --- outputs of the Media stage ------------------------------------------------------


def test_thumbnails_and_keyframes_are_stored(add, files, batch, process, settings):
    jpg = add(images.make_jpeg(files / "a.jpg", seed=1, size=(800, 600)))
    vid = add(images.make_video(files / "v.mp4", seconds=3, fps=10, size=(160, 120)))
    process()
    for item, kinds in ((jpg, {"thumb", "blurred"}), (vid, {"thumb", "blurred", "contact_sheet"})):
        item.refresh_from_db()
        derivatives = Derivative.objects.filter(item=item)
        assert set(derivatives.values_list("kind", flat=True)) == kinds
        for d in derivatives:
            path = storage.absolute(d.storage_path)
            assert path.is_relative_to(settings.EVIDENCE_ROOT / str(batch.agency.uuid) / "derived")
            assert d.parent_sha256 == item.blob.sha256
            from PIL import Image

            with Image.open(path) as im:
                # Only the blurred derivative (shown before a reveal) is grayscale on disk.
                assert im.mode == ("L" if d.kind == "blurred" else "RGB")
                assert (im.width, im.height) == (d.width, d.height)
                sheet = d.kind == "contact_sheet" or (d.kind == "blurred" and item == vid)
                if not sheet:  # a video's blurred derivative is its blurred contact sheet
                    assert max(im.size) <= 256
    frames = VideoFrame.objects.filter(item=vid)
    assert frames.count() == 3 and vid.media_kind == "video" and vid.duration_seconds


# --- the downstream contracts --------------------------------------------------------


@pytest.fixture
def recorded(monkeypatch):
    from triage.classifier import service as classifier
    from triage.matching import service as matching
    from triage.review import service as review

    calls = {"match": [], "classify": [], "prioritise": []}
    monkeypatch.setattr(matching, "match_items", lambda items: calls["match"].append(items))
    monkeypatch.setattr(classifier, "classify_items", lambda items: calls["classify"].append(items))
    monkeypatch.setattr(review, "prioritise_items", lambda items: calls["prioritise"].append(items))
    return calls


def test_contracts_are_called_with_the_right_items(add, files, process, recorded, settings):
    settings.HUB_CHUNK_SIZE = 10
    images_ = [add(images.make_jpeg(files / f"{s}.jpg", seed=s)) for s in range(2)]
    text = add(images.hostile_eps_as_png(files / "notes.eps"))  # not media: no classify
    broken = add(images.hostile_empty(files / "e.jpg"))  # fails before matching
    process()
    ids = lambda calls: sorted(i.id for batch in calls for i in batch)  # noqa: E731
    media_ids = sorted(i.id for i in images_)
    assert ids(recorded["match"]) == sorted([*media_ids, text.id])
    assert ids(recorded["classify"]) == media_ids
    assert ids(recorded["prioritise"]) == sorted([*media_ids, text.id])
    assert broken.id not in ids(recorded["match"])
    assert all(isinstance(i, EvidenceItem) and i.pdq for i in recorded["classify"][0])


def test_not_implemented_contracts_skip_their_stage(add, files, process, monkeypatch):
    from triage.classifier import service as classifier
    from triage.matching import service as matching
    from triage.review import service as review

    def missing(items):
        raise NotImplementedError("not yet")

    for module, name in (
        (matching, "match_items"),
        (classifier, "classify_items"),
        (review, "prioritise_items"),
    ):
        monkeypatch.setattr(module, name, missing)
    item = add(images.make_jpeg(files / "a.jpg", seed=1))
    batch = process()
    item.refresh_from_db()
    assert item.status == ItemStatus.DONE and batch.status == EvidenceBatch.Status.COMPLETE


def test_an_unexpected_error_errors_only_its_item(add, files, process, monkeypatch, recorded):
    from triage.matching import service as matching

    bad = add(images.make_jpeg(files / "bad.jpg", seed=1))
    good = add(images.make_jpeg(files / "good.jpg", seed=2))

    def flaky(items):
        if any(i.id == bad.id for i in items):
            raise RuntimeError("index corrupted")

    monkeypatch.setattr(matching, "match_items", flaky)
    batch = process()
    bad.refresh_from_db()
    good.refresh_from_db()
    assert (
        bad.status == ItemStatus.ERRORED and "RuntimeError: index corrupted" in bad.failure_reason
    )
    assert "Traceback" in bad.error_traceback and bad.pdq  # earlier work kept
    assert good.status == ItemStatus.DONE and batch.status == EvidenceBatch.Status.COMPLETE


# --- claims, duplicates, completion, reconciler --------------------------------------


def test_a_duplicate_delivery_does_nothing(add, files, batch, process):
    item = add(images.make_video(files / "v.mp4", seconds=2, fps=10))
    process()
    frames = VideoFrame.objects.count()
    assert runner.run_segment(batch.pk, [item.id], 0) == []
    assert runner.run_segment(batch.pk, [item.id], 4) == []
    assert (
        VideoFrame.objects.count() == frames and Derivative.objects.filter(item=item).count() == 3
    )


def test_batch_completes_only_when_nothing_is_active(add, files, batch):
    item = add(images.make_jpeg(files / "a.jpg", seed=1))
    followups = runner.batch_start(batch.pk, from_statuses=(EvidenceBatch.Status.RECEIVING,))
    assert [f.item_ids for f in followups] == [(item.id,)]
    assert runner.batch_check_complete(batch.pk) is False
    runner.run_inline(followups)
    batch.refresh_from_db()
    assert batch.status == EvidenceBatch.Status.COMPLETE


def test_chunks_follow_the_chunk_size(add, files, batch, settings):
    settings.HUB_CHUNK_SIZE = 2
    for seed in range(5):
        add(images.hostile_empty(files / f"{seed}.bin"))
    followups = runner.batch_start(batch.pk, from_statuses=(EvidenceBatch.Status.RECEIVING,))
    assert [len(f.item_ids) for f in followups] == [2, 2, 1]


def test_reconciler_requeues_stuck_items_and_fails_repeat_crashers(add, files, batch, settings):
    settings.HUB_MAX_ATTEMPTS = 3
    items = [add(images.make_jpeg(files / f"{s}.jpg", seed=s)) for s in range(3)]
    EvidenceBatch.objects.filter(pk=batch.pk).update(status=EvidenceBatch.Status.PROCESSING)
    old = timezone.now() - timedelta(hours=1)
    # Crashed mid-Media on the first attempt; crashed after Match; crashed three times.
    EvidenceItem.objects.filter(pk=items[0].pk).update(
        status=ItemStatus.RUNNING, stage="@extract", claimed_at=old, attempts=1
    )
    EvidenceItem.objects.filter(pk=items[1].pk).update(
        status=ItemStatus.RUNNING, stage="match", claimed_at=old, attempts=1
    )
    EvidenceItem.objects.filter(pk=items[2].pk).update(
        status=ItemStatus.RUNNING, stage="@media", claimed_at=old, attempts=3
    )
    result = runner.reconcile()
    assert result["requeued"] == 2 and result["failed"] == 1
    hops = {(f.item_ids, f.start) for f in result["followups"]}
    assert hops == {((items[0].id,), 0), ((items[1].id,), 4)}
    crashed = EvidenceItem.objects.get(pk=items[2].pk)
    assert crashed.status == ItemStatus.FAILED
    assert "crashed its parser 3 times" in crashed.failure_reason
    # A second reconcile right away re-queues nothing (the lease was renewed).
    assert runner.reconcile()["requeued"] == 0
    runner.run_inline(result["followups"])
    batch.refresh_from_db()
    assert batch.status == EvidenceBatch.Status.COMPLETE
    statuses = dict(EvidenceItem.objects.values_list("id", "status"))
    assert statuses == {
        items[0].id: ItemStatus.DONE,
        items[1].id: ItemStatus.DONE,
        items[2].id: ItemStatus.FAILED,
    }


def test_a_worker_that_lost_its_lease_writes_nothing(add, files, batch):
    item = add(images.make_jpeg(files / "a.jpg", seed=1))
    claimed, lease = runner.claim([item.id], 0)
    assert [i.id for i in claimed] == [item.id]
    EvidenceItem.objects.filter(pk=item.pk).update(claimed_at=timezone.now() + timedelta(seconds=1))
    runner._end(claimed[0], lease, ItemStatus.FAILED, "late")
    item.refresh_from_db()
    assert item.status == ItemStatus.RUNNING and not item.failure_reason


def test_task_names_and_routes():
    import triage.tasks  # noqa: F401 (what autodiscovery imports)
    from hub.celery import app

    for name in (
        "triage.pipeline.start_batch",
        "triage.pipeline.chunk",
        "triage.classify.pipeline_chunk",
        "triage.maintenance.reconcile",
    ):
        assert name in app.tasks
    # Through the routing table itself (app.amqp would bind the app to a broker).
    from celery.app.routes import MapRoute

    routes = MapRoute(app.conf.task_routes)
    assert routes("triage.classify.pipeline_chunk") == {"queue": "inference"}
    assert routes("triage.maintenance.reconcile") == {"queue": "maintenance"}
    assert routes("triage.pipeline.chunk") is None  # the default queue
    assert app.conf.task_default_queue == "intake"
