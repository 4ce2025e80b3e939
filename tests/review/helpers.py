"""ORM shortcuts for the review tests: cases, items with signals, list matches and small
generated PNG derivatives (benign patterns only)."""

from __future__ import annotations

import hashlib
import io
import random

import numpy as np
from django.conf import settings
from PIL import Image

from triage.models import (
    Blob,
    Case,
    ClassifierModel,
    ClassifierScore,
    Derivative,
    EvidenceBatch,
    EvidenceItem,
    HashEntry,
    HashList,
    Match,
)


def random_pdq(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def flip_bits(pdq: str, count: int, rng: random.Random) -> str:
    value = int(pdq, 16)
    for bit in rng.sample(range(256), count):
        value ^= 1 << bit
    return f"{value:064x}"


def png(seed: int, size: int = 96) -> bytes:
    """A soft generated pattern (no real media)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size, 3))
    for c in range(3):
        fx, fy, ph = rng.uniform(1, 4), rng.uniform(1, 4), rng.uniform(0, 6)
        img[..., c] = (np.sin(2 * np.pi * (fx * x + fy * y) + ph) + 1) * 127
    buf = io.BytesIO()
    Image.fromarray(img.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def blurred_png(seed: int, size: int = 96) -> bytes:
    """The pattern of ``png(seed)``, grayscale and blurred (as a blurred derivative)."""
    from PIL import ImageFilter

    image = Image.open(io.BytesIO(png(seed, size))).convert("L")
    buf = io.BytesIO()
    image.filter(ImageFilter.GaussianBlur(6)).save(buf, format="PNG")
    return buf.getvalue()


def webm(seconds: float = 2.0, seed: int = 0, size=(160, 120)) -> bytes:
    """A small VP8 WebM of generated patterns (tests/images.py), as bytes."""
    import tempfile
    from pathlib import Path

    from tests.images import make_video

    with tempfile.TemporaryDirectory() as tmp:
        path = make_video(
            Path(tmp) / "clip.webm", seconds=seconds, fps=10, size=size, codec="VP80", seed=seed
        )
        return path.read_bytes()


class World:
    """A case with a batch in one agency; ``item()`` adds an item with its signals."""

    def __init__(self, agency, user=None, reference="R-1", urgency=0, team=()):
        self.agency = agency
        self.case = Case.objects.create(
            agency=agency,
            reference=reference,
            title=f"Case {reference}",
            created_by=user,
            urgency=urgency,
        )
        for member in team:
            self.case.team.add(member)
        self.batch = EvidenceBatch.objects.create(agency=agency, case=self.case, uploaded_by=user)
        self.n = 0
        self.rng = random.Random(f"{agency.slug}-{reference}")
        self._list = None
        self._model = None

    def item(
        self,
        *,
        known_state="unknown",
        classifier=None,
        pdq=None,
        quality=90,
        media_kind="image",
        status="running",
        thumb=False,
        case=None,
        name=None,
        data=None,
        media_type="image/png",
    ) -> EvidenceItem:
        """``data``: the original's bytes, stored under the evidence root (else a stand-in
        blob whose file does not exist)."""
        self.n += 1
        name = name or f"img-{self.n:04d}.png"
        stored = data is not None
        data = data if stored else f"{self.case.reference}/{name}".encode()
        sha256 = hashlib.sha256(data).hexdigest()
        blob, _ = Blob.objects.get_or_create(
            agency=self.agency,
            sha256=sha256,
            defaults={
                "sha1": hashlib.sha1(data).hexdigest(),
                "md5": hashlib.md5(data).hexdigest(),
                "size": len(data),
                "storage_path": f"blobs/{sha256}",
            },
        )
        if stored:
            path = settings.EVIDENCE_ROOT / blob.storage_path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        pdq = pdq if pdq is not None else random_pdq(self.rng)
        item = EvidenceItem.objects.create(
            agency=self.agency,
            case=case or self.case,
            batch=self.batch,
            blob=blob,
            path=f"exhibit/{name}",
            original_name=name,
            size=len(data),
            media_kind=media_kind,
            media_type=media_type,
            status=status,
            pdq=pdq,
            pdq_quality=quality,
            pdq_dihedral=[pdq] if pdq else [],
            known_state=known_state,
            classifier_score=classifier,
        )
        if classifier is not None:
            ClassifierScore.objects.create(
                item=item,
                model=self.model(),
                model_name="open_nsfw",
                model_version="1",
                model_sha256="0" * 64,
                score=classifier,
            )
        if thumb:  # as the pipeline makes them: a sharp thumbnail and a blurred one
            self.thumb(item, seed=self.n)
            self.thumb(item, seed=self.n, kind=Derivative.Kind.BLURRED)
        return item

    def video(self, *, name=None, seconds=2.0, seed=0, **kwargs) -> EvidenceItem:
        """A video item whose original is a small generated WebM (VP8, which Chromium
        plays; benign moving patterns), with a keyframe contact sheet."""
        item = self.item(
            name=name or f"vid-{self.n + 1:04d}.webm",
            media_kind="video",
            media_type="video/webm",
            data=webm(seconds=seconds, seed=seed),
            **kwargs,
        )
        EvidenceItem.objects.filter(pk=item.pk).update(duration_seconds=seconds)
        item.duration_seconds = seconds
        self.thumb(item, seed=seed, kind=Derivative.Kind.CONTACT_SHEET)
        self.thumb(item, seed=seed, kind=Derivative.Kind.BLURRED)
        return item

    def thumb(self, item, seed=0, kind=Derivative.Kind.THUMB):
        data = blurred_png(seed) if kind == Derivative.Kind.BLURRED else png(seed)
        rel = f"derivatives/{item.uuid}-{kind}.png"
        path = settings.EVIDENCE_ROOT / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return Derivative.objects.create(
            item=item,
            kind=kind,
            parent_sha256=item.blob.sha256,
            storage_path=rel,
            width=96,
            height=96,
        )

    def model(self) -> ClassifierModel:
        if self._model is None:
            self._model, _ = ClassifierModel.objects.get_or_create(
                agency=None,
                name="open_nsfw",
                version="1",
                defaults={"sha256": "0" * 64, "onnx_path": "x.onnx"},
            )
        return self._model

    def hash_list(self, name="Known list", scheme="projectvic_us", category_map=None):
        return HashList.objects.create(
            agency=self.agency, name=name, scheme=scheme, category_map=category_map or {}
        )

    def known(self, item, *, category="1", algorithm="md5", distance=0, hash_list=None):
        """A list entry for ``item`` and the Match the matcher would have recorded."""
        hash_list = hash_list or self._list or self.hash_list()
        self._list = self._list or hash_list
        entry = HashEntry.objects.create(
            hash_list=hash_list, md5=item.blob.md5, pdq=item.pdq, category=category
        )
        Match.objects.create(
            item=item, entry=entry, hash_list=hash_list, algorithm=algorithm, distance=distance
        )
        state = "near" if algorithm == "pdq" and distance > 0 else "exact"
        EvidenceItem.objects.filter(pk=item.pk).update(
            known_state=state, best_distance=distance if algorithm == "pdq" else None
        )
        item.known_state = state
        return entry
