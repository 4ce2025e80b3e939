"""Benign generated media and upload shortcuts for the intake web tests (no real media)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile

import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image


def pattern(seed: int, size: int = 192) -> np.ndarray:
    """A smooth synthetic RGB pattern (sinusoids and discs), different per seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size, 3))
    for channel in range(3):
        for _ in range(3):
            fx, fy, phase = rng.uniform(1, 6), rng.uniform(1, 6), rng.uniform(0, 6.28)
            img[..., channel] += np.sin(2 * np.pi * (fx * x + fy * y) + phase)
    for _ in range(4):
        cx, cy, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.2)
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] += rng.uniform(-2, 2, 3)
    img = (img - img.min()) / (img.max() - img.min()) * 255
    return img.astype(np.uint8)


def image_bytes(seed: int, fmt: str = "PNG", size: int = 192) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pattern(seed, size)).save(buf, format=fmt)
    return buf.getvalue()


def corrupt_jpeg() -> bytes:
    """A JPEG header followed by garbage: sniffs as an image, cannot be decoded."""
    good = image_bytes(99, "JPEG")
    return good[:200] + b"\x00" * 300


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def tar_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload_file(name: str, data: bytes, content_type: str = "application/octet-stream"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def noise_png(seed: int, size: int = 1100) -> bytes:
    """Random RGB noise as PNG: incompressible, so a few MB for a large upload."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()
