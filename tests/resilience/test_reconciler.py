"""The reconciler's rules and the runner's handling of a lost database connection, in
process (both CI runs): what the worker tests show end to end, pinned down item by item."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.utils import OperationalError
from django.utils import timezone

from tests import images
from triage.models import EvidenceBatch, EvidenceItem, ItemStatus
from triage.pipeline import runner, stages
from triage.services.intake import batch_add_file, batch_create, case_create


@pytest.fixture
def batch(demo_agency, alice):
    case = case_create(agency=demo_agency, user=alice, reference="REC-1", title="r")
    return batch_create(case=case, user=alice, source="cli")


def add_images(batch, folder, n):
    return [
        batch_add_file(
            batch=batch,
            src_path=images.make_png(folder / f"{i}.png", seed=i, size=(48, 36)),
            name=f"{i}.png",
        )
        for i in range(n)
    ]


def processing(batch, since=None):
    EvidenceBatch.objects.filter(pk=batch.pk).update(
        status=EvidenceBatch.Status.PROCESSING, started_at=since or timezone.now()
    )


def test_items_waiting_between_hops_are_not_crashes(db, batch, tmp_path, settings):
    """An item done with its intake hop waits for the inference queue, however long that
    queue is: not re-queued while its batch makes progress, never counted as an attempt."""
    settings.HUB_MAX_ATTEMPTS = 1
    waiting, busy = add_images(batch, tmp_path, 2)
    old = timezone.now() - timedelta(hours=1)
    processing(batch, since=old)
    EvidenceItem.objects.filter(pk=waiting.pk).update(
        status=ItemStatus.RUNNING, stage="match", claimed_at=old, attempts=1
    )
    # Another item of the batch was claimed a moment ago: the batch moves.
    EvidenceItem.objects.filter(pk=busy.pk).update(
        status=ItemStatus.RUNNING, stage="@media", claimed_at=timezone.now(), attempts=1
    )
    result = runner.reconcile(stuck_after_seconds=60)
    assert (result["requeued"], result["failed"], result["followups"]) == (0, 0, [])
    waiting.refresh_from_db()
    assert (waiting.status, waiting.stage, waiting.attempts) == (ItemStatus.RUNNING, "match", 1)

    # The batch stalls (nothing for a whole period): the lost message is sent again, to
    # the hop the item waits for, still without counting an attempt.
    EvidenceItem.objects.filter(pk=busy.pk).update(
        status=ItemStatus.DONE, processed_at=old, claimed_at=old
    )
    result = runner.reconcile(stuck_after_seconds=60)
    assert [(f.item_ids, f.start) for f in result["followups"]] == [((waiting.id,), 4)]
    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempts) == (ItemStatus.RUNNING, 1)
    # ...once per period, not on every run.
    assert runner.reconcile(stuck_after_seconds=60)["followups"] == []


def test_a_crashed_hop_is_retried_item_by_item(db, batch, tmp_path, settings):
    """The items of a hop whose worker died are re-queued one per message, so that the
    one file that kills its worker cannot fail the others with it."""
    settings.HUB_CHUNK_SIZE = 25
    items = add_images(batch, tmp_path, 3)
    old = timezone.now() - timedelta(hours=1)
    processing(batch, since=old)
    EvidenceItem.objects.filter(pk__in=[i.pk for i in items]).update(
        status=ItemStatus.RUNNING, stage="@media", claimed_at=old, attempts=1
    )
    result = runner.reconcile(stuck_after_seconds=60)
    assert sorted((f.item_ids, f.start) for f in result["followups"]) == [
        ((i.id,), 2) for i in items
    ]
    assert set(EvidenceItem.objects.values_list("attempts", "stage")) == {(2, "hash")}


def _flaky_media(monkeypatch, failures: int):
    """Media.run raises a lost-connection error ``failures`` times, then works."""
    real = stages.Media.run
    calls = {"n": 0}

    def run(self, item):
        calls["n"] += 1
        if calls["n"] <= failures:
            raise OperationalError("server closed the connection unexpectedly")
        return real(self, item)

    monkeypatch.setattr(stages.Media, "run", run)
    return calls


def test_a_lost_connection_is_retried_on_a_new_one(
    transactional_db, batch, tmp_path, monkeypatch, caplog
):
    (item,) = add_images(batch, tmp_path, 1)
    calls = _flaky_media(monkeypatch, failures=1)
    processing(batch)
    runner.run_inline([runner.FollowUp(batch.pk, (item.id,), 0)])
    item.refresh_from_db()
    assert item.status == ItemStatus.DONE and item.pdq, item.failure_reason
    assert calls["n"] == 2
    assert "database connection lost in the media stage" in caplog.text


def test_a_connection_that_stays_lost_abandons_the_hop_and_ends_no_item(
    transactional_db, batch, tmp_path, monkeypatch
):
    """The database is gone: the hop stops with its items still claimed (the reconciler
    re-queues them), instead of marking them ERRORED for good."""
    first, second = add_images(batch, tmp_path, 2)
    _flaky_media(monkeypatch, failures=99)
    processing(batch)
    with pytest.raises(OperationalError):
        runner.run_segment(batch.pk, (first.id, second.id), 0)
    for item in (first, second):
        item.refresh_from_db()
        assert (item.status, item.stage, item.failure_reason) == (
            ItemStatus.RUNNING,
            "@media",
            "",
        )


def test_a_rolled_back_attempt_leaves_nothing_on_the_instances(
    transactional_db, batch, tmp_path, monkeypatch, demo_agency
):
    """The match stage's transaction is lost after it set the item's known state on the
    instance (as a connection dropped at COMMIT would). The retry must write that state
    again: an instance that kept the rolled-back value looked unchanged, so the item was
    stored as unknown, classified, and never auto-graded (a failure CI found)."""
    from triage.models import HashEntry, HashList, KnownState, Match

    first, second = add_images(batch, tmp_path, 2)
    listed = HashList.objects.create(agency=demo_agency, name="Known")
    HashEntry.objects.create(hash_list=listed, sha256=first.blob.sha256, category="1")
    items = list(EvidenceItem.objects.filter(pk__in=[first.pk, second.pk]).select_related("blob"))
    real = Match.objects.bulk_create
    calls = {"n": 0}

    def bulk_create(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(*args, **kwargs)

    monkeypatch.setattr(Match.objects, "bulk_create", bulk_create)
    assert stages.Match().run_chunk(items) == {}
    assert calls["n"] >= 2, "the lost transaction was not retried"
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.known_state, second.known_state) == (KnownState.EXACT, KnownState.UNKNOWN)
    assert Match.objects.filter(item=first).count() == 1
