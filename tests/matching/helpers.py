"""Benign generated images and ORM shortcuts for the matching tests (no real media)."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pdqhash
from PIL import Image

from triage.matching.hashes import pdq_hex
from triage.models import Blob, Case, EvidenceBatch, EvidenceItem


def pattern(seed: int, size: int = 256) -> np.ndarray:
    """A smooth synthetic RGB pattern (sinusoids and discs), different per seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size, 3))
    for channel in range(3):
        for _ in range(4):
            fx, fy, phase = rng.uniform(1, 6), rng.uniform(1, 6), rng.uniform(0, 6.28)
            img[..., channel] += np.sin(2 * np.pi * (fx * x + fy * y) + phase)
    for _ in range(5):
        cx, cy, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.2)
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] += rng.uniform(-2, 2, 3)
    img = (img - img.min()) / (img.max() - img.min()) * 255
    return img.astype(np.uint8)


def jpeg(rgb: np.ndarray, quality: int = 60) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def resized(rgb: np.ndarray, factor: float = 0.5) -> np.ndarray:
    h, w = rgb.shape[:2]
    return np.asarray(Image.fromarray(rgb).resize((int(w * factor), int(h * factor))))


def mirrored(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[:, ::-1])


def png_bytes(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def pdq_of(rgb: np.ndarray) -> tuple[str, int, np.ndarray]:
    vector, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return pdq_hex(vector), int(quality), vector


def dihedral_of(rgb: np.ndarray) -> tuple[list[str], int, list[np.ndarray]]:
    vectors, quality = pdqhash.compute_dihedral(np.ascontiguousarray(rgb))
    return [pdq_hex(v) for v in vectors], int(quality), list(vectors)


def hamming(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.count_nonzero(np.asarray(a) != np.asarray(b)))


def crypto(data: bytes) -> dict:
    return {
        "md5": hashlib.md5(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


class Evidence:
    """Creates a case, a batch and items in one agency."""

    def __init__(self, agency, reference: str = "CASE-1", user=None):
        self.agency = agency
        self.case = Case.objects.create(
            agency=agency, reference=reference, title=f"Case {reference}", created_by=user
        )
        self.batch = EvidenceBatch.objects.create(agency=agency, case=self.case, uploaded_by=user)
        self.n = 0

    def item(self, rgb: np.ndarray | None = None, *, data: bytes | None = None, name=None):
        self.n += 1
        if data is None:
            data = png_bytes(rgb)
        hashes = crypto(data)
        blob, _ = Blob.objects.get_or_create(
            agency=self.agency,
            sha256=hashes["sha256"],
            defaults={
                "md5": hashes["md5"],
                "sha1": hashes["sha1"],
                "size": len(data),
                "storage_path": f"blobs/{hashes['sha256']}",
            },
        )
        fields = {}
        if rgb is not None:
            dihedral, quality, _ = dihedral_of(rgb)
            fields = {"pdq": dihedral[0], "pdq_quality": quality, "pdq_dihedral": dihedral}
        name = name or f"file-{self.n}.png"
        return EvidenceItem.objects.create(
            agency=self.agency,
            case=self.case,
            batch=self.batch,
            blob=blob,
            path=f"exhibit/{name}",
            original_name=name,
            size=len(data),
            media_kind="image",
            **fields,
        )
