"""manage.py ingest and the demo batch."""

from __future__ import annotations

import json

from django.core.management import call_command

from tests import images
from triage.demo import load_demo_batch
from triage.models import EvidenceBatch, EvidenceItem, ItemStatus


def test_ingest_folder_and_archive_with_wait(demo_agency, alice, tmp_path, capsys):
    folder = tmp_path / "phone"
    images.make_jpeg(folder / "DCIM" / "a.jpg", seed=1)
    images.make_png(folder / "DCIM" / "b.png", seed=2)
    archive = images.make_zip(
        tmp_path / "dump.zip", {"x/c.jpg": images.make_jpeg(tmp_path / "c.jpg", seed=3)}
    )
    call_command(
        "ingest", str(folder), str(archive), "--agency", "demo-police", "--case", "NEW-1",
        "--user", "alice", "--wait",
    )  # fmt: skip
    out = capsys.readouterr()
    summary = json.loads(out.out.strip().splitlines()[-1])
    assert summary["is_complete"] and summary["found"] == 4 and summary["done"] == 4
    assert "stored" in out.err  # the progress bar
    paths = set(EvidenceItem.objects.values_list("path", flat=True))
    assert paths == {"phone/DCIM/a.jpg", "phone/DCIM/b.png", "dump.zip", "dump.zip/x/c.jpg"}
    batch = EvidenceBatch.objects.get()
    assert batch.source == "cli" and batch.uploaded_by == alice and batch.case.reference == "NEW-1"


def test_ingest_without_wait_queues(
    demo_agency, tmp_path, capsys, django_capture_on_commit_callbacks
):
    images.make_jpeg(tmp_path / "a.jpg", seed=1)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("ingest", str(tmp_path / "a.jpg"), "--agency", "demo-police", "--case", "Q")
    assert len(callbacks) == 1
    assert EvidenceBatch.objects.get().status == EvidenceBatch.Status.QUEUED


def test_demo_batch_is_idempotent(demo_agency, alice):
    message = load_demo_batch(demo_agency)
    assert "12 items" in message
    batch = EvidenceBatch.objects.get(case__reference="DEMO-001")
    assert batch.status == EvidenceBatch.Status.COMPLETE
    assert set(batch.items.values_list("status", flat=True)) == {ItemStatus.DONE}
    assert "already loaded" in load_demo_batch(demo_agency)
    assert EvidenceBatch.objects.count() == 1 and EvidenceItem.objects.count() == 12
