"""PDQ through pdqhash (Meta's C++ reference), on a bounded-size input.

pdqhash's cost grows with the pixel count, while the hash itself is computed from a 64×64
downsample. So a JPEG is decoded with DCT scaling (``Image.draft``) to the smallest scale
whose short side is still >= ``PDQ_SIDE``, and other formats are reduced by an integer box
factor to the same bound. Measured on generated 1–12 MP photos-like images (bench/hash.py),
this stays within a few bits of full-resolution pdqhash (the bound we test is 10 bits)
while being several times faster. A plain resize to exactly 512 drifts more (up to ~14
bits), which is why we do not do that."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pdqhash
from PIL import Image

from triage.media.decode import reduced_rgb

PDQ_SIDE = 512  # short side kept for hashing (the PDQ reference also works from ~512)
QUALITY_MIN = 50  # below this the reference says a hash is not worth matching


@dataclass
class PDQResult:
    pdq: str  # 64 hex
    quality: int
    dihedral: list[str]  # 8 hashes: original, rot90, rot180, rot270, flips (pdqhash order)


def to_hex(vector) -> str:
    """pdqhash's 256-bit vector as 64 hex characters, first bit most significant (the text
    form of python-threatexchange and the PDQ reference)."""
    return np.packbits(np.asarray(vector, dtype=np.uint8)).tobytes().hex()


def hamming_hex(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def prepare(im: Image.Image, side: int = PDQ_SIDE) -> Image.Image:
    """Decode ``im`` (opened, not yet loaded) to RGB with its short side bounded near
    ``side``. No EXIF rotation: PDQ is computed on the stored pixels, and the dihedral
    hashes cover rotated copies."""
    if im.format == "JPEG" and min(im.size) > side:
        # DCT scaling: libjpeg decodes at 1/2, 1/4 or 1/8 directly, keeping both sides
        # >= the requested size.
        im.draft("RGB", (side, side))
    return reduced_rgb(im, side)


def pdq_of_rgb(rgb: Image.Image | np.ndarray) -> PDQResult:
    arr = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"PDQ needs an RGB array, got shape {arr.shape}")
    vectors, quality = pdqhash.compute_dihedral(arr)
    hexes = [to_hex(v) for v in vectors]
    return PDQResult(hexes[0], int(quality), hexes)


def pdq_full_resolution(rgb: np.ndarray) -> tuple[str, int]:
    """The plain reference path (full image, no dihedrals): for comparisons and benches."""
    vector, quality = pdqhash.compute(np.ascontiguousarray(rgb, dtype=np.uint8))
    return to_hex(vector), int(quality)
