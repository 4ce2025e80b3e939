"""A generated, benign benchmark corpus (shared by the bench scripts): photo-like JPEGs
built from seeded sinusoids and discs. Nothing here is real media."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from triage.synthetic import pattern as synthetic_pattern

SMALL = (1200, 900)  # ~1 MP
LARGE = (3000, 2000)  # ~6 MP


def pattern(seed: int, size: tuple[int, int]) -> np.ndarray:
    return synthetic_pattern(seed, size, noise=0.1)


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
