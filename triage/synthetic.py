"""Benign synthetic images, generated from a seed: the only pictures the demo, the tests and
the benchmarks ever use. Nothing here is real media."""

from __future__ import annotations

import numpy as np


def pattern(seed: int, size: tuple[int, int] = (640, 480), noise: float = 0.0) -> np.ndarray:
    """A smooth, photo-like RGB array (seeded sinusoids, discs and optional noise),
    different for every seed, with high PDQ quality. ``size`` is (width, height)."""
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
    if noise:
        img += rng.normal(0, noise, img.shape).astype(np.float32)
    img = (img - img.min()) / (img.max() - img.min()) * 255
    return img.astype(np.uint8)
