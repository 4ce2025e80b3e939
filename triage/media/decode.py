"""Bounded image decoding with Pillow.

Every open names the one Pillow plugin the magic bytes allow (``formats=``), checks the
dimensions from the header *before* any pixel is decoded, and turns Pillow's
DecompressionBombWarning into an error. HEIC/HEIF goes through the same path: pillow-heif's
Pillow plugin ("HEIF", libheif) is registered once, on first use.

Memory: a decoded image costs its pixels once (Pillow keeps 1 byte per pixel for L and P,
4 for RGB/RGBA, 4 for 16-bit); ``reduced_rgb`` shrinks it before any colour conversion, and
converts the modes Pillow cannot average (palette, 1-bit, 16-bit) strip by strip, so that no
second full-size copy is ever made."""

from __future__ import annotations

import functools
import warnings
from contextlib import contextmanager

from PIL import Image

from triage.media.errors import MediaDamaged, MediaRefused


@contextmanager
def bomb_warnings_as_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


@functools.cache
def register_heif() -> None:
    """Register pillow-heif's opener with Pillow, once per process. Depth and auxiliary
    images (not needed for hashing) are left undecoded."""
    import pillow_heif

    pillow_heif.register_heif_opener(depth_images=False, aux_images=False)


def check_dimensions(width: int, height: int, max_pixels: int, what: str = "") -> None:
    """Refuse a declared size over ``max_pixels`` (``what`` names the limit, e.g. " for a
    video frame")."""
    if width <= 0 or height <= 0:
        raise MediaDamaged(f"the header declares an impossible size of {width}×{height} pixels")
    if width * height > max_pixels:
        raise MediaRefused(
            f"the header declares {width:,}×{height:,} pixels ({width * height:,}), over the "
            f"limit of {max_pixels:,}{what}: refused as a possible decompression bomb"
        )


def open_image(fp, pillow_format: str, max_pixels: int) -> Image.Image:
    """Open (header only) with the single allowed plugin and check the dimensions."""
    # Pillow's own bomb check (a process-wide limit) is paused while the header is read,
    # so that ours (with its clearer reason) decides; it is back on, at our limit, for the
    # decoding, as a second line of defence for decoders that grow the image.
    if pillow_format == "HEIF":
        register_heif()
    Image.MAX_IMAGE_PIXELS = None
    try:
        with bomb_warnings_as_errors():
            im = Image.open(fp, formats=[pillow_format])
    except Image.DecompressionBombError as exc:
        raise MediaRefused(f"refused as a decompression bomb ({exc})") from exc
    except Image.DecompressionBombWarning as exc:
        raise MediaRefused(f"refused as a possible decompression bomb ({exc})") from exc
    except (Image.UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise MediaDamaged(f"the {pillow_format} header could not be read ({exc})") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = max_pixels
    check_dimensions(im.width, im.height, max_pixels)
    return im


def load(im: Image.Image) -> Image.Image:
    """Decode the pixels, mapping every decoder complaint to MediaDamaged."""
    try:
        with bomb_warnings_as_errors():
            im.load()
    except Image.DecompressionBombWarning as exc:
        raise MediaRefused(f"refused as a possible decompression bomb ({exc})") from exc
    except (
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        IndexError,
        TypeError,
        RuntimeError,  # libheif (pillow-heif) decode errors
    ) as exc:
        raise MediaDamaged(f"the image is damaged or truncated ({exc})") from exc
    return im


def to_rgb(im: Image.Image) -> Image.Image:
    """Any mode to 8-bit RGB, the way python-threatexchange feeds PDQ (alpha dropped), with
    explicit handling of the high-bit-depth modes Pillow cannot convert directly."""
    import numpy as np

    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        if im.mode.startswith("I;16"):
            arr = arr / 257.0
        else:
            lo, hi = float(arr.min()), float(arr.max())
            arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else arr * 0
        gray = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), "L")
        return gray.convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        return im.convert("RGBA").convert("RGB")
    return im.convert("RGB")


# Modes whose pixels cannot be averaged as they are, and the mode each is reduced in.
_REDUCE_IN = {
    "P": "RGB",
    "PA": "RGBA",
    "1": "L",
    "I;16": "I",
    "I;16L": "I",
    "I;16B": "I",
    "I;16N": "I",
    "LAB": "RGB",
    "HSV": "RGB",
}
STRIP_ROWS = 256  # rows converted at a time when a mode must be converted before reducing


def reduce_by(im: Image.Image, factor: int) -> Image.Image:
    """``im`` (decoded) shrunk by the integer box ``factor``: exactly ``Image.reduce``,
    with palette, 1-bit and 16-bit images converted strip by strip (strips aligned on the
    boxes, so the result is the same as converting the whole image first)."""
    work = _REDUCE_IN.get(im.mode)
    if work == "RGB" and im.mode == "P" and "transparency" in im.info:
        work = "RGBA"
    if work is None:
        return im.reduce(factor)
    width, height = im.size
    out = Image.new(work, (-(-width // factor), -(-height // factor)))
    step = factor * max(1, STRIP_ROWS // factor)
    for top in range(0, height, step):
        strip = im.crop((0, top, width, min(height, top + step))).convert(work)
        out.paste(strip.reduce(factor), (0, top // factor))
    return out


def reduced_rgb(im: Image.Image, side: int) -> Image.Image:
    """Decode ``im`` and return it as 8-bit RGB, shrunk by an integer box factor so that
    its short side stays >= ``side`` (no EXIF rotation). Always a new image when shrunk;
    may be ``im`` itself when it is already small RGB."""
    load(im)
    factor = min(im.size) // side
    if factor < 2:
        return to_rgb(im)
    sixteen_bit = im.mode.startswith("I;16")
    small = reduce_by(im, factor)
    if sixteen_bit:  # reduced as "I" (0..65535): map to 8 bits as to_rgb does for I;16
        import numpy as np

        arr = np.asarray(small, dtype=np.float64) / 257.0
        small = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), "L")
    return to_rgb(small)
