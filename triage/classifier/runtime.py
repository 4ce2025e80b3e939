"""ONNX Runtime sessions and batched scoring.

One ``InferenceSession`` per worker process per model file, built on first use and kept
(keyed by path and SHA-256, so a replaced file never reuses a stale session). The cache is
dropped after a fork: onnxruntime's thread pools do not survive ``fork()``.

File hashes are cached by (path, device, inode, size, mtime_ns, ctime_ns) in the Django
cache and in-process, so start-up checks of every worker process do not re-hash large
models. ``ctime`` cannot be set back by ``touch`` or ``utime``, so any rewrite of the file
changes the key."""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.cache import cache

from triage.classifier.manifest import Manifest

_lock = threading.Lock()
_sessions: dict[tuple[str, str], ModelRunner] = {}
_sessions_pid = os.getpid()
_hash_memo: dict[tuple, str] = {}

HASH_CACHE_SECONDS = 30 * 24 * 3600


class ModelFileError(Exception):
    """The model file is missing or is not the vetted file (SHA-256 differs)."""


def _file_key(path: Path) -> tuple:
    st = os.stat(path)
    return (
        str(Path(path).resolve()),
        st.st_dev,
        st.st_ino,
        st.st_size,
        st.st_mtime_ns,
        st.st_ctime_ns,
    )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cached_sha256(path: Path) -> str:
    """SHA-256 of a file, recomputed only when the file's identity or times changed."""
    key = _file_key(path)
    if key in _hash_memo:
        return _hash_memo[key]
    cache_key = "clf-sha256:" + hashlib.sha256(repr(key).encode()).hexdigest()
    digest = cache.get(cache_key)
    if digest is None:
        digest = sha256_file(path)
        cache.set(cache_key, digest, HASH_CACHE_SECONDS)
    _hash_memo[key] = digest
    return digest


def verify_file(path: Path, expected_sha256: str) -> None:
    if not Path(path).is_file():
        raise ModelFileError(f"model file {path} is missing")
    actual = cached_sha256(path)
    if actual != expected_sha256:
        raise ModelFileError(
            f"model file {path} has SHA-256 {actual}, expected {expected_sha256} "
            "(the file was replaced or corrupted)"
        )


def softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def build_session(path: Path, threads: int | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or settings.HUB_INFERENCE_THREADS
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


class ModelRunner:
    """A loaded model: runs batches of preprocessed tensors and returns label scores."""

    def __init__(self, manifest: Manifest, session):
        self.manifest = manifest
        self.session = session
        self.input_name = manifest.input.name
        self.output_name = manifest.output.name
        batch_dim = session.get_inputs()[0].shape[0]
        # A model exported with a fixed batch of 1 is run one tensor at a time.
        self.max_batch = 1 if batch_dim == 1 else settings.HUB_INFERENCE_BATCH

    def run(self, tensors: np.ndarray) -> np.ndarray:
        """(N, ...) float32 -> (N, labels) scores (softmax applied when the manifest says)."""
        outputs = []
        for start in range(0, len(tensors), self.max_batch):
            chunk = np.ascontiguousarray(tensors[start : start + self.max_batch])
            (out,) = self.session.run([self.output_name], {self.input_name: chunk})
            outputs.append(np.asarray(out, dtype=np.float64).reshape(len(chunk), -1))
        scores = np.concatenate(outputs) if outputs else np.zeros((0, len(self.labels)))
        return softmax(scores) if self.manifest.output.softmax else scores

    @property
    def labels(self) -> tuple[str, ...]:
        return self.manifest.output.labels


def runner_for(path: Path, sha256: str, manifest: Manifest, *, verify: bool = True) -> ModelRunner:
    """The process-wide runner of one model file (loaded once, after its hash is checked)."""
    global _sessions_pid
    key = (str(path), sha256)
    with _lock:
        if _sessions_pid != os.getpid():
            _sessions.clear()
            _sessions_pid = os.getpid()
        runner = _sessions.get(key)
        if runner is None:
            if verify:
                verify_file(path, sha256)
            runner = ModelRunner(manifest, build_session(path))
            _sessions[key] = runner
        return runner


def loaded_sessions() -> int:
    return len(_sessions)


def clear_sessions() -> None:
    with _lock:
        _sessions.clear()
        _hash_memo.clear()


@dataclass
class Unit:
    """One scored thing: an image, or one frame of a video (``timestamp`` set)."""

    item_id: int
    timestamp: float | None


@dataclass
class Batcher:
    """Accumulates preprocessed tensors of one model and runs them in batches of
    HUB_INFERENCE_BATCH, keeping each unit's label scores."""

    runner: ModelRunner
    units: list[Unit] = field(default_factory=list)
    results: list[np.ndarray] = field(default_factory=list)
    _pending: list[np.ndarray] = field(default_factory=list)

    def add(self, unit: Unit, tensor: np.ndarray) -> None:
        self.units.append(unit)
        self._pending.append(tensor)
        if len(self._pending) >= settings.HUB_INFERENCE_BATCH:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        batch = np.stack(self._pending)
        self._pending = []
        scores = self.runner.run(batch)
        if scores.shape != (len(batch), len(self.runner.labels)):
            expected = (len(batch), len(self.runner.labels))
            raise ModelFileError(f"model returned shape {scores.shape}, expected {expected}")
        self.results.extend(scores)

    def scored(self) -> list[tuple[Unit, np.ndarray]]:
        self.flush()
        return list(zip(self.units, self.results, strict=True))
