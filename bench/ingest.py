"""Ingest throughput: images/s through the real pipeline (a Celery worker on Redis, with
PostgreSQL; the upload/storing step is excluded) vs the bare stage functions in one loop.

    .venv/bin/python bench/ingest.py --n 100
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/13 \
        .venv/bin/python bench/ingest.py --n 1000 --concurrency 4

It creates (and drops) a scratch database ``hub_bench_ingest`` next to DATABASE_URL's, and
flushes the given Redis database."""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._scratch import ROOT, configure, create_database  # noqa: E402

DATA, SCRATCH, SCRATCH_URL, REDIS = configure(
    "bench-ingest-", "hub_bench_ingest", "redis://127.0.0.1:6379/13"
)

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from bench._corpus import make_corpus  # noqa: E402
from bench._report import result  # noqa: E402


def fill(n: int, corpus: list[Path], label: str):
    from hub.models import Agency
    from triage.services.intake import batch_add_file, batch_create, case_create

    agency, _ = Agency.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    case = case_create(agency=agency, user=None, reference=f"BENCH-{label}", title=label)
    batch = batch_create(case=case, user=None, source="cli")
    for path in corpus[:n]:
        batch_add_file(batch=batch, src_path=path, name=path.name)
    return batch


def run_worker(batch, concurrency: int) -> float:
    import redis

    from hub.celery import app
    from triage.models import EvidenceBatch
    from triage.services.intake import batch_submit

    redis.Redis.from_url(REDIS).flushdb()
    env = {
        **os.environ,
        "DATABASE_URL": SCRATCH_URL,
        "HUB_DATA_DIR": DATA,
        "HUB_EVIDENCE_ROOT": str(settings.EVIDENCE_ROOT),
    }
    celery = str(Path(sys.executable).with_name("celery"))
    log = open(Path(DATA) / "worker.log", "ab")  # noqa: SIM115
    worker = subprocess.Popen(
        [celery, "-A", "hub", "worker", "-Q", "intake,inference,maintenance",
         "-c", str(concurrency), "--without-heartbeat", "--without-gossip", "--without-mingle",
         "-n", f"bench-{os.getpid()}@%h", "--loglevel", "WARNING"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
    )  # fmt: skip
    try:
        app.conf.broker_url = REDIS
        deadline = time.monotonic() + 30
        while not app.control.ping(timeout=0.5):  # wait until the worker is ready
            if time.monotonic() > deadline:
                raise SystemExit("the worker did not start; see " + str(Path(DATA) / "worker.log"))
        started = time.perf_counter()
        batch_submit(batch=batch)
        while EvidenceBatch.objects.get(pk=batch.pk).status != EvidenceBatch.Status.COMPLETE:
            time.sleep(0.05)
        return time.perf_counter() - started
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(timeout=30)


def run_bare(batch) -> float:
    """The same stage functions, one item at a time, with no claims, tasks or broker."""
    from triage.models import EvidenceItem
    from triage.pipeline.stages import STAGES

    items = list(EvidenceItem.objects.filter(batch=batch).select_related("blob", "agency", "case"))
    started = time.perf_counter()
    for item in items:
        for stage in STAGES:
            if not stage.able_to_run(item):
                continue
            with contextlib.suppress(NotImplementedError):
                stage.call([item]) if hasattr(stage, "call") else stage.run(item)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description="Ingest throughput (worker vs bare loop).")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--corpus", type=Path, default=Path(tempfile.gettempdir()) / "hub-bench-ingest"
    )
    args = parser.parse_args()
    corpus = make_corpus(args.corpus, args.n, sizes=((640, 480), (1200, 900)), quality=(85,))
    create_database(SCRATCH)
    try:
        from triage.models import EvidenceItem, ItemStatus

        worker_batch = fill(args.n, corpus, "worker")
        bare_batch = fill(args.n, corpus, "bare")
        worker_s = run_worker(worker_batch, args.concurrency)
        bare_s = run_bare(bare_batch)
        done = EvidenceItem.objects.filter(batch=worker_batch, status=ItemStatus.DONE).count()
        print(
            f"images: {args.n} (640x480 and 1200x900 JPEG), worker concurrency {args.concurrency}"
        )
        print(
            f"pipeline (Celery on Redis, PostgreSQL): {args.n / worker_s:7.1f} images/s "
            f"({worker_s:.2f}s, {done} done)"
        )
        print(f"bare stage functions, one loop: {args.n / bare_s:7.1f} images/s ({bare_s:.2f}s)")
        result(
            "ingest",
            "pipeline on Celery+Redis+PostgreSQL vs bare stage loop",
            f"{bare_s / worker_s:.2f}×",
            f"n={args.n}, worker concurrency {args.concurrency}",
        )
        print(
            f"ratio pipeline / bare: {bare_s / worker_s:.2f}x "
            f"(>1 means the workers' parallelism outweighs the bookkeeping)"
        )
    finally:
        connection.creation.destroy_test_db(SCRATCH, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
