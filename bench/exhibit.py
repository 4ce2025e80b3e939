"""A synthetic exhibit of benign generated images (NumPy patterns, never real media).

    60% exact copies of images on a known list (same bytes)
    20% near-duplicates of listed images (re-encoded JPEG, resized, mirrored; several
        variants of the same source, as thumbnail caches and re-shares produce)
    20% new images (half of them in small bursts of variants of one scene)

``build_exhibit(agency, n)`` creates the list, the case, the items (with blobs, PDQ and
the 8 dihedral hashes) and runs the real matcher over them, as the pipeline would."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pdqhash
from PIL import Image

SIZE = 128


def pattern(seed: int, size: int = SIZE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.zeros((size, size, 3), np.float32)
    for c in range(3):
        for _ in range(3):
            fx, fy, ph = rng.uniform(1, 7), rng.uniform(1, 7), rng.uniform(0, 6.3)
            img[..., c] += np.sin(2 * np.pi * (fx * x + fy * y) + ph)
    for _ in range(6):
        cx, cy, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.2)
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] += rng.uniform(-2, 2, 3).astype(np.float32)
    img = (img - img.min()) / (img.max() - img.min() + 1e-6) * 255
    return img.astype(np.uint8)


def encode(rgb: np.ndarray, fmt: str = "PNG", **params) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, **params)
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def variant(rgb: np.ndarray, kind: int) -> bytes:
    """A near-duplicate: re-encoded, resized or mirrored."""
    if kind % 3 == 0:
        return encode(rgb, "JPEG", quality=55)
    if kind % 3 == 1:
        small = Image.fromarray(rgb).resize((SIZE * 3 // 4, SIZE * 3 // 4))
        return encode(np.asarray(small), "PNG")
    return encode(np.ascontiguousarray(rgb[:, ::-1]), "PNG")


def pdq_hex(vector) -> str:
    bits = np.asarray(vector, dtype=np.uint8).reshape(-1)
    return np.packbits(bits).tobytes().hex()


def hashes(data: bytes) -> dict:
    rgb = decode(data)
    vectors, quality = pdqhash.compute_dihedral(np.ascontiguousarray(rgb))
    dihedral = [pdq_hex(v) for v in vectors]
    return {
        "md5": hashlib.md5(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "pdq": dihedral[0],
        "pdq_quality": int(quality),
        "pdq_dihedral": dihedral,
    }


def plan(n: int, seed: int = 1) -> list[tuple[str, bytes]]:
    """``(kind, file bytes)`` for an exhibit of ``n`` files and the listed sources."""
    rng = np.random.default_rng(seed)
    n_exact, n_near = int(n * 0.6), int(n * 0.2)
    n_new = n - n_exact - n_near
    files: list[tuple[str, bytes]] = []
    listed = [encode(pattern(1_000_000 + k)) for k in range(max(1, n_exact))]
    files += [("exact", data) for data in listed[:n_exact]]
    sources = max(1, n_near // 3)
    for k in range(n_near):
        src = pattern(1_000_000 + (k % sources))  # sources are listed too (see listed_sources)
        files.append(("near", variant(src, k // sources)))
    n_burst = n_new // 2
    for k in range(n_new - n_burst):
        files.append(("new", encode(pattern(2_000_000 + k))))
    scenes = max(1, n_burst // 4)
    for k in range(n_burst):
        files.append(("new-burst", variant(pattern(3_000_000 + (k % scenes)), k // scenes)))
    order = rng.permutation(len(files))
    return [files[i] for i in order]


def build_exhibit(agency, n: int, *, user=None, reference: str = "BENCH-1"):
    """Create a listed hash list, a case and ``n`` matched items. Returns (case, items)."""
    from triage.matching.service import match_items
    from triage.models import Blob, Case, EvidenceBatch, EvidenceItem, HashEntry, HashList

    files = plan(n)
    n_exact = int(n * 0.6)
    hash_list = HashList.objects.create(agency=None, name="Bench known list", shared_with_all=True)
    entries = []
    for k in range(max(1, n_exact)):
        h = hashes(encode(pattern(1_000_000 + k)))
        entries.append(
            HashEntry(
                hash_list=hash_list,
                md5=h["md5"],
                sha1=h["sha1"],
                sha256=h["sha256"],
                pdq=h["pdq"],
                pdq_quality=h["pdq_quality"],
                category=str(1 + k % 3),
            )
        )
    HashEntry.objects.bulk_create(entries)
    case = Case.objects.create(agency=agency, reference=reference, title="Bench", created_by=user)
    batch = EvidenceBatch.objects.create(agency=agency, case=case, uploaded_by=user)
    items = []
    for k, (kind, data) in enumerate(files):
        h = hashes(data)
        blob, _ = Blob.objects.get_or_create(
            agency=agency,
            sha256=h["sha256"],
            defaults={"md5": h["md5"], "sha1": h["sha1"], "size": len(data), "storage_path": "x"},
        )
        items.append(
            EvidenceItem(
                agency=agency,
                case=case,
                batch=batch,
                blob=blob,
                path=f"dump/{k:06d}-{kind}",
                original_name=f"{k:06d}.png",
                size=len(data),
                media_kind="image",
                media_type="image/png",
                status="running",
                pdq=h["pdq"],
                pdq_quality=h["pdq_quality"],
                pdq_dihedral=h["pdq_dihedral"],
            )
        )
    EvidenceItem.objects.bulk_create(items, batch_size=1000)
    items = list(EvidenceItem.objects.filter(batch=batch).select_related("blob").order_by("id"))
    for start in range(0, len(items), 200):
        match_items(items[start : start + 200])
    return case, items
