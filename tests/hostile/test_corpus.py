"""The hostile corpus through the real intake and pipeline (tasks run eagerly on commit):
every member ends refused or failed with a reason a person can read (or, for the
harmless-but-absurd ones, analysed within its budget), the batch completes, and nothing
is written outside the evidence store. On PostgreSQL the same checks run on the whole
corpus through a real worker (test_worker_memory.py), so the eager run is the SQLite one.
The members already asserted by tests/pipeline/test_hostile.py are not repeated here."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings as dj_settings
from django.db import connection

from tests.hostile import corpus
from tests.hostile.checks import assert_nothing_written_outside, check_outcomes, tree
from triage.models import EvidenceBatch, EvidenceItem
from triage.services.intake import batch_submit

NEW = [m for m in corpus.CORPUS if not m.existing]
ESCAPE_TARGETS = (Path("/tmp/evil-absolute.txt"), Path("/etc/x"), Path("/tmp/evil.txt"))


@pytest.fixture
def eager_run():
    if connection.vendor == "postgresql":
        pytest.skip("on PostgreSQL the whole corpus goes through a real worker instead")


@pytest.fixture
def built(tmp_path):
    return corpus.build_all(tmp_path / "files", NEW)


def test_every_new_member_ends_with_a_readable_outcome(
    eager_run,
    built,
    add,
    batch,
    alice,
    tmp_path,
    settings,
    systmp,
    django_capture_on_commit_callbacks,
):
    assert not [p for p in ESCAPE_TARGETS if p.exists()]
    roots = [tmp_path, Path(dj_settings.DATA_DIR)]
    skip = ("*.sqlite3*", "cache")  # the test database and Django's file cache
    before = {root: tree(root, skip) for root in roots}

    for _, path in built:
        add(path)
    with django_capture_on_commit_callbacks(execute=True):
        batch_submit(batch=batch, user=alice)

    batch.refresh_from_db()
    assert batch.status == EvidenceBatch.Status.COMPLETE
    rows = check_outcomes(batch, NEW)
    assert rows  # the refusals really happened
    after = {root: tree(root, skip) for root in roots}
    assert_nothing_written_outside(
        before, after, settings.EVIDENCE_ROOT, [settings.UPLOAD_TEMP_ROOT, systmp]
    )
    assert not [p for p in ESCAPE_TARGETS if p.exists()]
    assert not list(tmp_path.rglob("evil*"))


def test_refused_archives_leave_no_members_and_no_blobs(add, batch, tmp_path, process_now):
    """A bomb refused while streaming (no size declared) discards what it had stored."""
    from triage.models import Blob

    gz = corpus.gz_bomb(tmp_path / "zeros.gz")
    item = add(gz)
    process_now(batch)
    item.refresh_from_db()
    assert item.status == "refused" and "archive bomb" in item.failure_reason
    assert not EvidenceItem.objects.filter(batch=batch, parent__isnull=False).exists()
    assert list(Blob.objects.values_list("sha256", flat=True)) == [item.blob.sha256]
    blobs = [p for p in Path(dj_settings.EVIDENCE_ROOT).rglob("*") if p.is_file()]
    assert [p.name for p in blobs] == [item.blob.sha256]


def test_the_quine_really_contains_itself(tmp_path):
    import gzip

    data = corpus.gzip_quine(tmp_path / "q.gz").read_bytes()
    assert gzip.decompress(data) == data
    assert gzip.decompress(gzip.decompress(data)) == data


def test_the_overlapping_zip_really_overlaps(tmp_path):
    import zipfile

    with zipfile.ZipFile(corpus.zip_overlapping(tmp_path / "o.zip", entries=5)) as zf:
        infos = zf.infolist()
        assert len(infos) == 5 and {i.header_offset for i in infos} == {0}
        assert zf.read(infos[3]) == zf.read(infos[0])  # naive tools expand it 5 times
