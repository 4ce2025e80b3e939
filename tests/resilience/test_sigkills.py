"""Twenty SIGKILLs during a 300-file batch (issue #9, "Prove it holds").

Two real Celery workers process a batch of 300 items (images, animated GIFs, videos and a
zip holding a tar.gz holding images, with duplicated content). At twenty random moments
(seeded; the seed is printed, ``HUB_CHAOS_SEED`` replays its schedule) one worker is
SIGKILLed with its pool children and a new one is started. The reconciler runs as beat
would, with a short ``HUB_STUCK_AFTER_SECONDS``. In the end every item is processed, each
stage's output is stored exactly once, nothing is stored twice, no temporary file is left
and the audit chains verify."""

from __future__ import annotations

import logging
import os
import random
import re
import time

import pytest

from tests.resilience.conftest import (
    Clock,
    assert_processed_exactly_once,
    build_batch,
    diagnose,
    drive,
    files_under,
    is_complete,
    progress,
    register_tiny_model,
)
from triage import storage
from triage.models import EvidenceItem, ItemStatus
from triage.services.intake import batch_submit

pytestmark = [pytest.mark.services, pytest.mark.worker]

KILLS = 20
STUCK_AFTER = 5  # seconds; a hop of 8 items takes a second or two on a busy machine
WORKER_ENV = {"HUB_CHUNK_SIZE": "8"}


def test_twenty_sigkills_during_a_300_file_batch(
    workers, demo_agency, alice, tmp_path, settings, caplog
):
    seed = int(os.environ.get("HUB_CHAOS_SEED") or random.SystemRandom().randrange(1, 10**6))
    print(f"chaos seed {seed} (replay the schedule with HUB_CHAOS_SEED={seed})")
    rng = random.Random(seed)
    caplog.set_level(logging.INFO, logger="triage.pipeline.runner")
    clock = Clock()
    # 240 images, 4 GIFs, 4 videos, nested.zip (24 images, a copy, inner.tar.gz with 24
    # images and a copy): 300 items.
    batch, exp = build_batch(
        demo_agency,
        alice,
        tmp_path / "files",
        top_images=240,
        gifs=4,
        videos=4,
        zip_images=24,
        tar_images=24,
        known_every=25,
    )
    assert exp.total == 300
    model = register_tiny_model(demo_agency, alice, tmp_path / "model")
    built = time.monotonic() - clock.wall
    settings.HUB_STUCK_AFTER_SECONDS = STUCK_AFTER
    # Attempts grow with every kill that lands on an item; the bound that fails items that
    # crash their parser is test_crashing_file's business.
    settings.HUB_MAX_ATTEMPTS = 50

    # Kill at 20 random points of the batch's progress, between 3% and 85% of its stages
    # (an item's stages are spread over three hops, so finished items would lag).
    marks = sorted(rng.uniform(0.03, 0.85) for _ in range(KILLS))
    jitter = [rng.uniform(0.0, 0.8) for _ in range(KILLS)]
    slots = [workers(**WORKER_ENV).start(), workers(**WORKER_ENV).start()]
    batch_submit(batch=batch, user=alice)
    items = EvidenceItem.objects.filter(batch=batch)
    kills: list[dict] = []
    last_kill_at = -1

    def chaos():
        nonlocal last_kill_at
        if len(kills) >= KILLS or is_complete(batch):
            return
        done = progress(batch)
        # Each kill after the batch has moved on since the previous one, on a worker that
        # is up (a kill during start-up would prove nothing).
        if done < marks[len(kills)] or done <= last_kill_at:
            return
        ready = [w for w in slots if w.ready()]
        if not ready:
            return
        time.sleep(jitter[len(kills)])
        victim = rng.choice(ready)
        # Items a hop is working on right now (``@<stage>``), not those queued between hops.
        busy = items.filter(status=ItemStatus.RUNNING, stage__startswith="@").count()
        victim.kill()
        kills.append(
            {
                "at": round(time.monotonic() - clock.wall, 1),
                "progress": round(done, 3),
                "busy": busy,
            }
        )
        last_kill_at = done
        slots[slots.index(victim)] = workers(**WORKER_ENV).start()

    chaos_started = time.monotonic()
    totals = drive(
        batch, until=lambda: is_complete(batch), timeout=240, workers=workers, every=chaos
    )
    elapsed = time.monotonic() - chaos_started
    # A worker killed between writing a temporary file and linking it into place leaves
    # it behind; the reconciler sweeps such files once they are older than its period.
    store_tmp = storage.agency_dir(demo_agency) / "tmp"
    drive(batch, until=lambda: not files_under(store_tmp), timeout=STUCK_AFTER + 10)
    attempts = list(items.values_list("attempts", flat=True))
    swept = sum(int(n) for n in re.findall(r"(\d+) stale temporary", caplog.text))
    print(
        f"seed {seed}: {len(kills)} kills; batch built in {built:.0f}s, processed in "
        f"{elapsed:.0f}s; whole test {clock.report(workers)}; the reconciler re-queued "
        f"{totals['requeued']} item(s) and swept {swept} orphaned temporary file(s); "
        f"{sum(a > 1 for a in attempts)} item(s) started again (max attempts {max(attempts)}); "
        f"kills: {kills}"
    )
    assert len(kills) == KILLS, (
        f"seed {seed}: the batch finished after {len(kills)} kills\n{diagnose(batch, workers)}"
    )
    # Proof that kills landed on work in progress: hops were busy when workers were
    # killed, and items had to be started again.
    assert any(k["busy"] for k in kills), kills
    assert max(attempts) > 1, f"seed {seed}: no item was ever retried"
    assert totals["requeued"] > 0
    assert_processed_exactly_once(batch, exp, demo_agency, model, worker_tmp=workers.tmp)
