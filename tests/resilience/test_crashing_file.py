"""A file that always crashes its parser (the process decoding it dies, as with a
segfault in a native decoder or the OOM killer) ends FAILED after ``HUB_MAX_ATTEMPTS``
attempts with a reason a person can read, instead of looping, and the rest of the batch,
including the other items of its chunk, completes.

The crash is simulated without touching production code: the worker runs the test-only
app module ``tests.resilience.crashing_worker``, whose image decoder SIGKILLs its own
process for one SHA-256."""

from __future__ import annotations

import re
import time

import pytest

from tests.resilience.conftest import (
    Clock,
    assert_processed_exactly_once,
    build_batch,
    drive,
    is_complete,
    reconcile_now,
    register_tiny_model,
)
from triage.models import EvidenceItem, ItemStatus
from triage.services.intake import batch_submit

pytestmark = [pytest.mark.services, pytest.mark.worker]

STUCK_AFTER = 3


def test_a_file_that_kills_its_parser_fails_after_max_attempts(
    workers, demo_agency, alice, tmp_path, settings
):
    clock = Clock()
    batch, exp = build_batch(demo_agency, alice, tmp_path / "files", top_images=12)
    model = register_tiny_model(demo_agency, alice, tmp_path / "model")
    # The sixth file, in the middle of the second chunk of four.
    crasher = list(exp.kinds)[5]
    marker = exp.sha[crasher]
    exp.failed[crasher] = "crashed its parser"
    settings.HUB_STUCK_AFTER_SECONDS = STUCK_AFTER
    max_attempts = settings.HUB_MAX_ATTEMPTS
    assert max_attempts >= 2

    worker = workers(
        "tests.resilience.crashing_worker", HUB_CHUNK_SIZE="4", HUB_TEST_CRASH_SHA256=marker
    ).start(concurrency=1)
    batch_submit(batch=batch, user=alice)
    drive(batch, until=lambda: is_complete(batch), timeout=120, workers=workers)

    item = EvidenceItem.objects.get(batch=batch, path=crasher)
    assert item.status == ItemStatus.FAILED, item.failure_reason
    assert item.attempts == max_attempts
    assert f"crashed its parser {max_attempts} times" in item.failure_reason
    assert "media stage" in item.failure_reason
    # Its chunk-mates were tried again on their own and made it.
    others = EvidenceItem.objects.filter(batch=batch).exclude(pk=item.pk)
    assert set(others.values_list("status", flat=True)) == {ItemStatus.DONE}
    assert max(others.values_list("attempts", flat=True)) <= 2

    # Not looping: the decoder killed its process once per attempt, and nothing runs the
    # item again (another reconciler pass a period later leaves it alone).
    time.sleep(STUCK_AFTER + 0.5)
    reconcile_now()
    time.sleep(1)
    item.refresh_from_db()
    assert (item.status, item.attempts) == (ItemStatus.FAILED, max_attempts)
    deaths = re.findall(r"exited with 'signal 9 \(SIGKILL\)'", worker.full_log())
    assert len(deaths) == max_attempts, worker.full_log()[-4000:]

    assert_processed_exactly_once(batch, exp, demo_agency, model, worker_tmp=workers.tmp)
    print(f"crashed {len(deaths)} times, then failed; {clock.report(workers)}")
