"""A generated, benign benchmark corpus (shared by the bench scripts): photo-like JPEGs
built from seeded sinusoids and discs. Nothing here is real media."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SMALL = (1200, 900)  # ~1 MP
LARGE = (3000, 2000)  # ~6 MP


def pattern(seed: int, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    x /= width
    y /= height
    img = np.zeros((height, width, 3), np.float32)
    for channel in range(3):
        for _ in range(4):
            fx, fy, phase = rng.uniform(1, 8), rng.uniform(1, 8), rng.uniform(0, 6.28)
            img[..., channel] += np.sin(2 * np.pi * (fx * x + fy * y) + phase)
    for _ in range(8):
        cx, cy, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.03, 0.2)
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] += rng.uniform(-2, 2, 3).astype(np.float32)
    img += rng.normal(0, 0.1, img.shape).astype(np.float32)
    img = (img - img.min()) / (img.max() - img.min()) * 255
    return img.astype(np.uint8)


def make_corpus(folder: Path, n: int, sizes=(SMALL, LARGE), quality=(80, 95)) -> list[Path]:
    """``n`` JPEGs alternating over ``sizes`` and ``quality`` (cached by name)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        size = sizes[i % len(sizes)]
        q = quality[(i // len(sizes)) % len(quality)]
        path = folder / f"img-{i:05d}-{size[0]}x{size[1]}-q{q}.jpg"
        if not path.exists():
            Image.fromarray(pattern(i, size)).save(path, quality=q)
        paths.append(path)
    return paths
