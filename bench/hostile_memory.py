"""Memory (and time) of a real worker per hostile input: each member of the hostile corpus
(tests/hostile/corpus.py, generated here, benign) is submitted as its own batch to one
Celery worker on Redis and PostgreSQL with one pool process, whose peak resident set size
(VmHWM, reset before each input) is read after the batch completes. Then the whole corpus
goes through as one batch.

    .venv/bin/python bench/hostile_memory.py             # the corpus
    .venv/bin/python bench/hostile_memory.py --extra     # plus the largest *allowed* inputs
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python bench/hostile_memory.py

``--extra`` adds what the limits still let through, to show the worst honest case: a flat
PNG of 9,999×9,999 pixels (just under HUB_MAX_IMAGE_PIXELS = 100 MP) and a 7,680×4,320 (8K)
MJPEG video (under the 40 MP video-frame limit).

It creates (and drops) a scratch database ``hub_bench_hostile`` next to DATABASE_URL's and
flushes the given Redis database."""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._scratch import ROOT, configure, create_database  # noqa: E402

DATA, SCRATCH, SCRATCH_URL, REDIS = configure(
    "bench-hostile-", "hub_bench_hostile", "redis://127.0.0.1:6379/12"
)

import psutil  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from bench._report import result  # noqa: E402
from tests.hostile import corpus  # noqa: E402
from tests.hostile.checks import peak_rss_mb, reset_peak, rss_mb  # noqa: E402


def extra_inputs(folder: Path) -> list[tuple[str, Path, str]]:
    """The largest inputs the limits let through (not part of the test suite)."""
    from PIL import Image

    png = corpus.flat_png(folder / "limit-99.98MP.png", 9_999, 9_999)
    buf = io.BytesIO()
    Image.new("RGB", (7680, 4320), (40, 90, 160)).save(buf, "JPEG", quality=60)
    avi = folder / "8k-mjpeg.avi"
    avi.write_bytes(corpus.mjpeg_avi([buf.getvalue()] * 3, 7680, 4320, fps=1))
    return [
        (png.name, png, "allowed: flat RGB PNG of 9,999×9,999 (just under the 100 MP limit)"),
        (avi.name, avi, "allowed: 8K (7,680×4,320) MJPEG video, 3 frames"),
    ]


class Worker:
    def __init__(self, concurrency: int):
        env = {
            **os.environ,
            "DATABASE_URL": SCRATCH_URL,
            "HUB_DATA_DIR": DATA,
            "HUB_EVIDENCE_ROOT": str(settings.EVIDENCE_ROOT),
        }
        celery = str(Path(sys.executable).with_name("celery"))
        self.log_path = Path(DATA) / "worker.log"
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [celery, "-A", "hub", "worker", "-Q", "intake,inference,maintenance",
             "-c", str(concurrency), "--without-heartbeat", "--without-gossip",
             "--without-mingle", "-n", f"bench-hostile-{os.getpid()}@%h", "--loglevel", "INFO"],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while len(self.pool()) < concurrency or b" ready." not in self.log_path.read_bytes():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit(f"the worker did not start; see {self.log_path}")
            time.sleep(0.2)
        time.sleep(0.5)
        self.pool_pids = [p.pid for p in self.pool()]

    def pool(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def alive(self) -> bool:
        return self.proc.poll() is None and [p.pid for p in self.pool()] == self.pool_pids

    def stop(self) -> None:
        os.killpg(self.proc.pid, 15)
        self.proc.wait(timeout=30)


def run_batch(worker: Worker, case, paths: list[Path], timeout: float = 600) -> dict:
    from triage.models import EvidenceBatch, EvidenceItem
    from triage.services.intake import batch_add_file, batch_create, batch_submit

    batch = batch_create(case=case, user=None, source="cli")
    for path in paths:
        batch_add_file(batch=batch, src_path=path, name=path.name)
    pids = worker.pool_pids
    idle = {pid: rss_mb(pid) for pid in pids}
    exact = all(reset_peak(pid) for pid in pids)
    sampled = dict(idle)
    started = time.perf_counter()
    batch_submit(batch=batch)
    while EvidenceBatch.objects.get(pk=batch.pk).status != EvidenceBatch.Status.COMPLETE:
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"batch timed out; see {worker.log_path}")
        if not exact:
            for pid in pids:
                sampled[pid] = max(sampled[pid], rss_mb(pid))
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    peaks = {pid: peak_rss_mb(pid) if exact else sampled[pid] for pid in pids}
    top = EvidenceItem.objects.filter(batch=batch, parent=None).order_by("id")
    items = EvidenceItem.objects.filter(batch=batch)
    ended = [i for i in items if i.failure_reason]
    return {
        "seconds": seconds,
        "idle": max(idle.values()),
        "peak": max(peaks.values()),
        "exact": exact,
        "status": ", ".join(sorted({i.status for i in top})),
        "members": items.count() - top.count(),
        "reason": ended[0].failure_reason if ended else "",
        "alive": worker.alive(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="Worker memory per hostile input.")
    parser.add_argument("--extra", action="store_true", help="add the largest allowed inputs")
    args = parser.parse_args()
    folder = Path(DATA) / "corpus"
    inputs = [(m.name, p, m.what) for m, p in corpus.build_all(folder)]
    if args.extra:
        inputs += extra_inputs(folder)

    import redis

    from hub.celery import app
    from hub.models import Agency
    from triage.services.intake import case_create

    redis.Redis.from_url(REDIS).flushdb()
    app.conf.broker_url = REDIS
    create_database(SCRATCH)
    worker = None
    try:
        agency, _ = Agency.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
        case = case_create(agency=agency, user=None, reference="BENCH-HOSTILE", title="Hostile")
        worker = Worker(concurrency=1)
        print("one worker, one pool process; peak RSS (VmHWM) reset before each input\n")
        print(f"{'input':<22} {'outcome':<9} {'peak MB':>8} {'+MB':>6} {'s':>6}  reason")
        worst = ("", 0.0)
        for name, path, what in inputs:
            r = run_batch(worker, case, [path])
            members = f" +{r['members']}" if r["members"] else ""
            reason = (r["reason"] or what)[:90]
            print(
                f"{name:<22} {r['status'] + members:<9} {r['peak']:8.0f} "
                f"{r['peak'] - r['idle']:6.0f} {r['seconds']:6.2f}  {reason}",
                flush=True,
            )
            if not r["alive"]:
                print(f"!! the worker lost a process on {name}; see {worker.log_path}")
                return 1
            worst = max(worst, (name, r["peak"]), key=lambda w: w[1])
        whole = run_batch(worker, case, [path for _, path, _ in inputs])
        print(
            f"\nwhole corpus as one batch ({len(inputs)} inputs): pool process peak "
            f"{whole['peak']:.0f} MB (idle {whole['idle']:.0f} MB) in {whole['seconds']:.1f}s; "
            f"worker alive: {whole['alive']}; exact peaks: {whole['exact']}"
        )
        print(f"highest single input: {worst[0]} at {worst[1]:.0f} MB")
        result(
            "hostile_memory",
            "peak RSS of a pool process, whole hostile corpus",
            f"{whole['peak']:.0f} MB",
            f"{len(inputs)} inputs, highest single input {worst[0]} {worst[1]:.0f} MB",
        )
    finally:
        if worker is not None:
            worker.stop()
        connection.creation.destroy_test_db(SCRATCH, verbosity=0)
        shutil.rmtree(DATA, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
