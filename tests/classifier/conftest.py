"""Fixtures of the classifier tests: benign generated images stored as evidence, and tiny
ONNX models registered through the real service."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from django.conf import settings
from PIL import Image

from tests import onnx_models
from triage.classifier.registry import model_register
from triage.models import Blob, Case, EvidenceBatch, EvidenceItem


def solid(value: int, size=(48, 40)) -> np.ndarray:
    """A flat grey image (brightness value/255)."""
    return np.full((size[1], size[0], 3), value, dtype=np.uint8)


def gradient(size=(64, 48), seed: int = 0) -> np.ndarray:
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    return np.stack(
        [x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y + seed * 31) % 256], axis=-1
    ).astype(np.uint8)


def png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, format="PNG")
    return buf.getvalue()


class Evidence:
    """A case and batch in one agency; ``image``/``video`` store originals as blobs."""

    def __init__(self, agency, reference="CLF-1"):
        self.agency = agency
        self.case = Case.objects.create(agency=agency, reference=reference, title="Synthetic")
        self.batch = EvidenceBatch.objects.create(agency=agency, case=self.case)
        self.n = 0

    def _store(self, data: bytes, suffix: str) -> Blob:
        sha = hashlib.sha256(data).hexdigest()
        rel = f"blobs/{sha[:2]}/{sha}{suffix}"
        dest = settings.EVIDENCE_ROOT / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        blob, _ = Blob.objects.get_or_create(
            agency=self.agency,
            sha256=sha,
            defaults={
                "md5": hashlib.md5(data).hexdigest(),
                "sha1": hashlib.sha1(data).hexdigest(),
                "size": len(data),
                "storage_path": rel,
            },
        )
        return blob

    def item(self, blob: Blob, kind: str, **fields) -> EvidenceItem:
        self.n += 1
        return EvidenceItem.objects.create(
            agency=self.agency,
            case=self.case,
            batch=self.batch,
            blob=blob,
            path=f"exhibit/file-{self.n}",
            original_name=f"file-{self.n}",
            size=blob.size,
            media_kind=kind,
            **fields,
        )

    def image(self, rgb: np.ndarray, *, data: bytes | None = None, **fields) -> EvidenceItem:
        return self.item(self._store(data or png(rgb), ".png"), "image", **fields)

    def video(self, frames: list[np.ndarray], fps: float = 2.0, **fields) -> EvidenceItem:
        """An MJPEG AVI of the given frames; a VideoFrame row per frame (1 per 1/fps s)."""
        import cv2

        from triage.models import VideoFrame

        h, w = frames[0].shape[:2]
        tmp = settings.UPLOAD_TEMP_ROOT / f"v{self.n}.avi"
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
        assert writer.isOpened(), "OpenCV cannot write MJPEG here"
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        writer.release()
        item = self.item(self._store(tmp.read_bytes(), ".avi"), "video", **fields)
        for i in range(len(frames)):
            VideoFrame.objects.create(
                item=item, index=i, timestamp=i / fps, pdq="0" * 64, quality=100
            )
        return item


@pytest.fixture
def evidence(demo_agency):
    return Evidence(demo_agency)


@pytest.fixture
def other_evidence(other_agency):
    return Evidence(other_agency, reference="OTHER-1")


@pytest.fixture
def tiny_model(tmp_path):
    """register(agency=..., **manifest/model options) -> ClassifierModel, via the service."""

    counter = {"n": 0}

    def register(agency=None, model=None, actor=None, **kw):
        counter["n"] += 1
        kw.setdefault("name", f"bright{counter['n']}")
        if model is None:
            kw.setdefault("size", 30 + counter["n"])  # a distinct file per registration
        folder = tmp_path / "upload" / str(counter["n"])
        manifest_path, onnx_path, _ = onnx_models.write_model_dir(folder, model, **kw)
        return model_register(
            manifest_text=manifest_path.read_bytes(),
            onnx_file=onnx_path,
            agency=agency,
            actor=actor,
        )

    return register
