"""Crash-resilience helpers: real Celery workers started with any app module, a private
Redis server, a mixed batch (images, animated GIFs, videos, a zip holding a tar.gz) with
what an uninterrupted run must store for it, and one check that every stage's output is
there exactly once, no file is stored twice and no temporary file is left behind.

The reconciler runs in the test process (``reconcile_now``: the beat task's body) with a
short ``HUB_STUCK_AFTER_SECONDS``; workers keep the production value (it is only read by
the reconciler)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import images, onnx_models
from tests.conftest import WorkerProcess

ROOT = Path(__file__).resolve().parents[2]
FINAL = ("done", "skipped", "failed", "errored", "refused")


# --- workers --------------------------------------------------------------------------


class AppWorker(WorkerProcess):
    """``tests.conftest.WorkerProcess`` (one pool process by default) with a readiness
    check and its CPU time; ``kill`` SIGKILLs the whole process group (main and pool
    children)."""

    def __init__(self, env: dict, log_path, app_module: str, name: str):
        super().__init__(env, log_path, app_module, name)
        self._ready = False
        self.cpu_used = 0.0

    def start(self, concurrency: int = 1, queues: str = "intake,inference,maintenance"):
        return super().start(concurrency, queues)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def full_log(self) -> str:
        try:
            return Path(self.log_path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def ready(self) -> bool:
        if not self._ready and self.alive():
            self._ready = f"{self.name}@" in self.full_log() and " ready." in self.full_log()
        return self._ready and self.alive()

    def cpu_seconds(self) -> float:
        """CPU time used so far by the worker and its pool children (0 if unknown)."""
        try:
            import psutil

            procs = [psutil.Process(self.proc.pid)]
            procs += procs[0].children(recursive=True)
        except Exception:  # noqa: BLE001 (psutil missing or the process is gone)
            return 0.0
        total = 0.0
        for proc in procs:
            try:
                t = proc.cpu_times()
                total += t.user + t.system
            except Exception:  # noqa: BLE001
                continue
        return total

    def kill(self, sig=None):
        if self.alive():
            self.cpu_used = self.cpu_seconds()
        super().kill(sig)


class Workers:
    """Factory of ``AppWorker``s sharing the test's database, evidence store and broker;
    all of them are SIGKILLed at teardown."""

    def __init__(self, base_env: dict, tmp_path: Path):
        self.base_env = base_env
        self.tmp_path = tmp_path
        self.all: list[AppWorker] = []

    def __call__(self, app_module: str = "hub", **env) -> AppWorker:
        n = len(self.all)
        worker = AppWorker(
            {**self.base_env, **env},
            self.tmp_path / f"worker-{n}.log",
            app_module,
            name=f"resilience-{os.getpid()}-{n}",
        )
        self.all.append(worker)
        return worker

    def cpu_seconds(self) -> float:
        """CPU time of every worker started so far (the live ones up to now)."""
        return sum(w.cpu_seconds() if w.alive() else w.cpu_used for w in self.all)

    def logs(self, last: int = 3, chars: int = 3000) -> str:
        return "\n".join(
            f"--- {w.name} (alive={w.alive()}) ---\n{w.full_log()[-chars:]}"
            for w in self.all[-last:]
        )


@pytest.fixture
def workers(celery_worker_process, tmp_path):
    """``workers(app_module="hub", **env)`` -> an unstarted ``AppWorker``. Every worker
    writes its temporary files to ``workers.tmp`` (checked empty at the end), skips
    Django's system checks at start-up (they are not under test, and the crash test starts
    many workers) and imports the test package."""
    from hub.celery import app

    app.amqp._producer_pool = None
    base = dict(celery_worker_process().env)
    worker_tmp = tmp_path / "worker-tmp"
    worker_tmp.mkdir()
    base.update(
        {
            "TMPDIR": str(worker_tmp),
            "CELERY_SKIP_CHECKS": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
    )
    factory = Workers(base, tmp_path)
    factory.tmp = worker_tmp
    yield factory
    for worker in factory.all:
        worker.kill()
    app.amqp._producer_pool = None


def _own_cpu() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


class Clock:
    """Wall time and CPU time of a test: on a busy machine the wall time says little; the
    CPU time (the workers' and this process's) is what the suite pays on any machine."""

    def __init__(self):
        self.wall, self.cpu = time.monotonic(), _own_cpu()

    def report(self, workers: Workers) -> str:
        return (
            f"{time.monotonic() - self.wall:.0f}s wall, {len(workers.all)} worker(s) used "
            f"{workers.cpu_seconds():.0f} CPU-s, this process {_own_cpu() - self.cpu:.0f} CPU-s "
            f"(load average {os.getloadavg()[0]:.1f})"
        )


def point_producer_at(url: str) -> None:
    """Make this process publish to ``url`` (the conftest fixture set the shared Redis)."""
    from hub.celery import app

    app.close()
    app.amqp._producer_pool = None
    app.conf.CELERY_BROKER_URL = url


# --- a private Redis ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """Our own ``redis-server`` (no persistence): killing it loses every message."""

    def __init__(self, port: int, folder: Path):
        self.port = port
        self.folder = folder
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20):
        import redis

        self.folder.mkdir(parents=True, exist_ok=True)
        log = open(self.folder / "redis.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if redis.Redis.from_url(self.url, socket_timeout=1).ping():
                    return self
            except redis.RedisError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server did not start on port {self.port}")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def run_id(self) -> str:
        import redis

        return redis.Redis.from_url(self.url).info("server")["run_id"]

    def queued(self, *queues: str) -> int:
        """Messages waiting in these Celery queues (kombu keeps each queue in a list)."""
        import redis

        client = redis.Redis.from_url(self.url)
        return sum(client.llen(q) for q in queues)


@pytest.fixture
def private_redis(tmp_path):
    import shutil

    if shutil.which("redis-server") is None:
        from tests.conftest import CI

        msg = "redis-server is not installed (needed to restart a broker mid-batch)"
        if CI:
            pytest.fail(f"CI=true but {msg}")
        pytest.skip(msg)
    server = RedisServer(free_port(), tmp_path / "redis").start()
    yield server
    server.kill()


# --- the batch ------------------------------------------------------------------------


@dataclass
class Expected:
    """What an uninterrupted run stores, per item path."""

    kinds: dict[str, str] = field(default_factory=dict)  # image | video | archive
    sha: dict[str, str] = field(default_factory=dict)
    frames: dict[str, list[tuple]] = field(default_factory=dict)  # (index, timestamp, pdq)
    derivatives: dict[str, set[str]] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)  # SHA-256s on the known-hash list
    failed: dict[str, str] = field(default_factory=dict)  # path -> words in the reason

    @property
    def total(self) -> int:
        return len(self.kinds)


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _analysed(path: Path) -> tuple[list[tuple], set[str]]:
    """Keyframes and derivative kinds of one file, from the pipeline's own pure code."""
    from triage.media import analyse, thumbs

    result = analyse(path)
    kinds = set()
    if result.preview is not None:
        kinds |= set(thumbs.thumbnails(result.preview, result.orientation))
    if len(result.keyframe_images) > 1:
        kinds.add("contact_sheet")
    return [(f.index, f.timestamp, f.pdq) for f in result.frames], kinds


def make_image(folder: Path, seed: int) -> Path:
    size = (72, 54)
    if seed % 2:
        return images.make_jpeg(folder / f"img-{seed}.jpg", seed=seed, size=size, quality=80)
    return images.make_png(folder / f"img-{seed}.png", seed=seed, size=size)


def build_batch(
    agency,
    user,
    folder: Path,
    *,
    top_images: int,
    gifs: int = 0,
    videos: int = 0,
    zip_images: int = 0,
    tar_images: int = 0,
    known_every: int = 0,
):
    """Store a batch of generated files (RECEIVING; submit it yourself). With
    ``zip_images``/``tar_images``: ``nested.zip`` holds images, a copy of a top-level
    image and ``inner.tar.gz``, which holds more images and a copy of another. Every
    ``known_every``-th top-level image (and the duplicated ones) goes on a known-hash
    list of the agency. Returns ``(batch, Expected)``."""
    from hub.models import Agency  # noqa: F401 (agency is an instance)
    from triage.models import HashEntry, HashList
    from triage.services.intake import batch_add_file, batch_create, case_create

    folder.mkdir(parents=True, exist_ok=True)
    case = case_create(agency=agency, user=user, reference=f"R-{time.time_ns()}", title="crash")
    batch = batch_create(case=case, user=user, source="cli")
    exp = Expected()
    files: list[tuple[str, Path, str]] = []  # (item path, file, kind)
    seed = 0
    for _ in range(top_images):
        seed += 1
        path = make_image(folder, seed)
        files.append((path.name, path, "image"))
    for n in range(gifs):
        path = images.make_gif(folder / f"anim-{n}.gif", seed=1000 + n, size=(64, 48), frames=3)
        files.append((path.name, path, "video"))
    for n in range(videos):
        path = images.make_video(
            folder / f"clip-{n}.mp4", seconds=1.2, fps=5, size=(64, 48), scenes=2, seed=2000 + n
        )
        files.append((path.name, path, "video"))
    members: list[tuple[str, Path, str]] = []
    if zip_images or tar_images:
        inner_dir = folder / "inner"
        tar_files = {}
        for _ in range(tar_images):
            seed += 1
            path = make_image(inner_dir, seed)
            tar_files[f"deep/{path.name}"] = path
        tar_files[f"deep/copy{files[1][1].suffix}"] = files[1][1]
        inner = images.make_tar(folder / "inner.tar.gz", tar_files, compression="gz")
        zip_files = {}
        for _ in range(zip_images):
            seed += 1
            path = make_image(inner_dir, seed)
            zip_files[f"photos/{path.name}"] = path
        zip_files[f"photos/copy{files[0][1].suffix}"] = files[0][1]
        zip_files["inner.tar.gz"] = inner
        outer = images.make_zip(folder / "nested.zip", zip_files)
        files.append(("nested.zip", outer, "archive"))
        for name, path in zip_files.items():
            kind = "archive" if name.endswith(".tar.gz") else "image"
            members.append((f"nested.zip/{name}", path, kind))
        for name, path in tar_files.items():
            members.append((f"nested.zip/inner.tar.gz/{name}", path, "image"))

    still: set[str] | None = None  # every still image gets the same kinds of derivative
    for item_path, path, kind in files + members:
        exp.kinds[item_path] = kind
        exp.sha[item_path] = _sha256(path)
        if kind == "archive":
            exp.derivatives[item_path] = set()
        elif kind == "image":
            still = still if still is not None else _analysed(path)[1]
            exp.derivatives[item_path] = still
        else:
            exp.frames[item_path], exp.derivatives[item_path] = _analysed(path)
    for item_path, path, _kind in files:
        batch_add_file(batch=batch, src_path=path, name=item_path)

    if known_every:
        listed = [exp.sha[p] for p, _, k in files[:top_images:known_every] if k == "image"]
        listed += [exp.sha[files[0][0]], exp.sha[files[1][0]]]  # both have copies inside
        known = HashList.objects.create(agency=agency, name="Known (test)", created_by=user)
        HashEntry.objects.bulk_create(
            HashEntry(hash_list=known, sha256=sha, category="1") for sha in set(listed)
        )
        exp.known = set(listed)
    return batch, exp


def register_tiny_model(agency, user, folder: Path):
    """A tiny ONNX classifier (mean brightness), registered through the real service."""
    from triage.classifier.registry import model_register

    manifest, onnx_path, _ = onnx_models.write_model_dir(folder, name="bright-crash")
    return model_register(
        manifest_text=manifest.read_bytes(), onnx_file=onnx_path, agency=agency, actor=user
    )


# --- progress and the reconciler ------------------------------------------------------


def status_counts(batch) -> Counter:
    from triage.models import EvidenceItem

    return Counter(EvidenceItem.objects.filter(batch=batch).values_list("status", flat=True))


def finished(batch) -> int:
    counts = status_counts(batch)
    return sum(n for status, n in counts.items() if status in FINAL)


def progress(batch) -> float:
    """How far the batch is, from 0 to 1, counted in stages: an item that finished counts
    every stage, one in progress or waiting between hops the stages it completed."""
    from triage.models import EvidenceItem
    from triage.pipeline.stages import STAGE_NAMES

    n = len(STAGE_NAMES)
    units = total = 0
    for status, stage in EvidenceItem.objects.filter(batch=batch).values_list("status", "stage"):
        total += n
        if status in FINAL:
            units += n
        elif stage.startswith("@") and stage[1:] in STAGE_NAMES:
            units += STAGE_NAMES.index(stage[1:])
        elif stage in STAGE_NAMES:
            units += STAGE_NAMES.index(stage) + 1
    return units / total if total else 0.0


def is_complete(batch) -> bool:
    from triage.models import EvidenceBatch

    return EvidenceBatch.objects.get(pk=batch.pk).status == EvidenceBatch.Status.COMPLETE


def reconcile_now() -> dict:
    """The periodic reconciler, as beat runs it (``triage.maintenance.reconcile``'s body),
    with this process's settings (a short ``HUB_STUCK_AFTER_SECONDS``)."""
    from triage.pipeline import tasks

    return tasks.reconcile()


def diagnose(batch, workers: Workers | None = None) -> str:
    from triage.models import EvidenceItem

    items = EvidenceItem.objects.filter(batch=batch)
    lines = [
        f"batch status: {type(batch).objects.get(pk=batch.pk).status}",
        f"items: {dict(status_counts(batch))}",
        "running by stage: "
        f"{dict(Counter(items.filter(status='running').values_list('stage', flat=True)))}",
        f"attempts: {dict(Counter(items.values_list('attempts', flat=True)))}",
    ]
    for item in items.exclude(status="done").order_by("id")[:15]:
        lines.append(
            f"  {item.path}: {item.status} stage={item.stage!r} attempts={item.attempts} "
            f"reason={item.failure_reason[:200]!r}"
        )
    if workers is not None:
        lines.append(workers.logs())
    return "\n".join(lines)


def drive(batch, *, until, timeout: float, workers: Workers | None = None, every=None, step=0.2):
    """Poll until ``until()``: run the reconciler every half second (errors, e.g. while the
    broker is down, are recorded and retried) and ``every()`` on each poll. Returns the
    reconciler's summed counts."""
    totals: Counter = Counter()
    errors: list[str] = []
    deadline = time.monotonic() + timeout
    last = 0.0
    while not until():
        now = time.monotonic()
        if now > deadline:
            raise AssertionError(
                f"timed out after {timeout}s\n{diagnose(batch, workers)}\n"
                f"reconciler errors: {errors[-5:]}"
            )
        if now - last >= 0.5:
            last = now
            try:
                totals.update(reconcile_now())
            except Exception as exc:  # noqa: BLE001 (broker down: retried next round)
                errors.append(f"{type(exc).__name__}: {exc}")
        if every is not None:
            every()
        time.sleep(step)
    totals["errors"] = len(errors)
    return totals


# --- the checks -----------------------------------------------------------------------


def files_under(path: Path) -> list[Path]:
    return [p for p in Path(path).rglob("*") if p.is_file()] if Path(path).exists() else []


def assert_processed_exactly_once(batch, exp: Expected, agency, model, *, worker_tmp: Path):
    """Every item in its final state with each stage's output stored exactly once, one
    stored file per blob and per derivative, no temporary file left, one completion
    event and an intact audit chain. Collects every problem before failing."""
    from django.conf import settings

    from hub.audit import HUB_CHAIN, chain_key, verify_chain
    from hub.models import AuditEvent
    from triage import storage
    from triage.models import (
        Blob,
        ClassifierScore,
        Derivative,
        EvidenceItem,
        Match,
        ReviewDecision,
        VideoFrame,
    )

    problems: list[str] = []
    items = {i.path: i for i in EvidenceItem.objects.filter(batch=batch).select_related("blob")}
    if set(items) != set(exp.kinds):
        problems.append(
            f"items missing: {sorted(set(exp.kinds) - set(items))[:10]}, "
            f"unexpected: {sorted(set(items) - set(exp.kinds))[:10]}"
        )
    ids = [i.id for i in items.values()]
    frames = {}
    for item_id, index, ts, pdq in VideoFrame.objects.filter(item_id__in=ids).values_list(
        "item_id", "index", "timestamp", "pdq"
    ):
        frames.setdefault(item_id, []).append((index, round(ts, 3), pdq))
    derivatives = Counter(Derivative.objects.filter(item_id__in=ids).values_list("item_id", "kind"))
    matches = Counter(Match.objects.filter(item_id__in=ids).values_list("item_id", "algorithm"))
    scores = Counter(
        ClassifierScore.objects.filter(item_id__in=ids).values_list("item_id", "model_id")
    )
    decisions = Counter(
        ReviewDecision.objects.filter(item_id__in=ids, kind="auto").values_list(
            "item_id", "undone_at"
        )
    )
    for path, kind in exp.kinds.items():
        item = items.get(path)
        if item is None:
            continue
        where = f"{path} (attempts {item.attempts})"
        if path in exp.failed:
            if item.status != "failed" or exp.failed[path] not in item.failure_reason:
                problems.append(f"{where}: {item.status} {item.failure_reason!r}, expected failed")
            continue
        if item.status != "done":
            problems.append(f"{where}: {item.status} {item.failure_reason[:300]!r}")
            continue
        if item.blob is None or item.blob.sha256 != exp.sha[path]:
            problems.append(f"{where}: blob {item.blob and item.blob.sha256} != {exp.sha[path]}")
        known = exp.sha[path] in exp.known
        # media facts
        if kind in ("image", "video") and not (item.pdq and item.width and item.height):
            problems.append(f"{where}: media facts missing (pdq/width/height)")
        got_frames = sorted(frames.get(item.id, []))
        want_frames = sorted((i, round(t, 3), p) for i, t, p in exp.frames.get(path, []))
        if got_frames != want_frames:
            problems.append(f"{where}: keyframes {got_frames} != {want_frames}")
        got_derived = {k: n for (i, k), n in derivatives.items() if i == item.id}
        if got_derived != dict.fromkeys(exp.derivatives[path], 1):
            problems.append(f"{where}: derivatives {got_derived}, expected {exp.derivatives[path]}")
        # matches: one SHA-256 match on the known list, nothing else
        got_matches = {a: n for (i, a), n in matches.items() if i == item.id}
        if got_matches != ({"sha256": 1} if known else {}):
            problems.append(f"{where}: matches {got_matches} (known={known})")
        # classifier: one score per scored item (exact matches are not scored by policy)
        scored = kind in ("image", "video") and not known
        got_scores = scores.get((item.id, model.id), 0)
        if got_scores != int(scored) or (scored and item.classifier_score is None):
            problems.append(f"{where}: {got_scores} classifier scores (expected {int(scored)})")
        # prioritise: queued (or auto-graded) with reasons, one live auto decision if known
        live = decisions.get((item.id, None), 0)
        if kind in ("image", "video"):
            if item.review_state not in ("queued", "auto_graded") or not item.priority_reasons:
                problems.append(f"{where}: not prioritised ({item.review_state})")
            every = sum(n for (i, _), n in decisions.items() if i == item.id)
            if live != int(known) or every != int(known):
                problems.append(f"{where}: {live} live auto decisions (known={known})")
        elif item.review_state != "not_queued":
            problems.append(f"{where}: an archive was queued for review")

    # One stored file per blob, one derived file per derivative path, nothing else.
    agency_dir = storage.agency_dir(agency)
    blob_files = {
        str(p.relative_to(settings.EVIDENCE_ROOT)) for p in files_under(agency_dir / "blobs")
    }
    blob_rows = list(Blob.objects.filter(agency=agency).values_list("storage_path", flat=True))
    if sorted(blob_files) != sorted(blob_rows):
        problems.append(
            f"{len(blob_files)} stored originals for {len(blob_rows)} blobs: "
            f"files without a row {sorted(blob_files - set(blob_rows))[:5]}, "
            f"rows without a file {sorted(set(blob_rows) - blob_files)[:5]}"
        )
    if len(blob_rows) != len(set(exp.sha.values())):
        problems.append(f"{len(blob_rows)} blobs for {len(set(exp.sha.values()))} distinct files")
    derived_files = {
        str(p.relative_to(settings.EVIDENCE_ROOT)) for p in files_under(agency_dir / "derived")
    }
    derived_paths = set(
        Derivative.objects.filter(item_id__in=ids).values_list("storage_path", flat=True)
    )
    if derived_files != derived_paths:
        problems.append(
            f"derived files without a row {sorted(derived_files - derived_paths)[:5]}, "
            f"rows without a file {sorted(derived_paths - derived_files)[:5]}"
        )
    # No temporary file left anywhere.
    leftovers = (
        files_under(agency_dir / "tmp")
        + files_under(settings.UPLOAD_TEMP_ROOT)
        + files_under(worker_tmp)
    )
    if leftovers:
        problems.append(f"temporary files left behind: {[str(p) for p in leftovers[:10]]}")
    # One completion event; both chains verify.
    completed = AuditEvent.objects.filter(action="batch.completed", object_id=str(batch.uuid))
    if completed.count() != 1:
        problems.append(f"{completed.count()} batch.completed audit events")
    for key in (chain_key(agency), HUB_CHAIN):
        status = verify_chain(key)
        if not status.ok:
            problems.append(
                f"audit chain {key} broken at {status.first_broken_seq}: {status.reason}"
            )
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:40])


def small_mixed_batch(agency, user, tmp_path, settings, stuck_after: int, **kinds):
    """The 24-image batch (with a zip and a tar, every eighth image on a known list, plus
    ``kinds``) and the tiny model, with a short stuck period: the set-up of the broker and
    database tests. Returns ``(batch, expected, model)``."""
    batch, exp = build_batch(
        agency,
        user,
        tmp_path / "files",
        top_images=24,
        zip_images=2,
        tar_images=2,
        known_every=8,
        **kinds,
    )
    model = register_tiny_model(agency, user, tmp_path / "model")
    settings.HUB_STUCK_AFTER_SECONDS = stuck_after
    # A hop slower than the short period on a loaded machine is re-queued as if its
    # worker had died (an attempt); the crash bound itself is test_crashing_file's.
    settings.HUB_MAX_ATTEMPTS = 10
    return batch, exp, model
