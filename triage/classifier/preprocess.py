"""The one preprocessing implementation: an RGB Pillow image becomes a model input tensor,
driven only by the manifest's ``InputSpec`` (no model-specific code paths).

Order: resize (stretch or shorter side) -> crop -> optional JPEG round-trip -> float32 ->
channel order -> (x * scale - mean) / std -> layout (HWC or CHW, no batch dimension)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from triage.classifier.manifest import InputSpec

RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}


def _resized(img: Image.Image, spec: InputSpec) -> Image.Image:
    resample = RESAMPLE[spec.resample]
    if spec.resize_mode == "stretch":
        return img.resize((spec.resize_size, spec.resize_size), resample=resample)
    w, h = img.size
    short = min(w, h)
    # Round like torchvision's Resize(int): the shorter side becomes exactly resize_size.
    nw = spec.resize_size if w == short else max(1, int(spec.resize_size * w / h))
    nh = spec.resize_size if h == short else max(1, int(spec.resize_size * h / w))
    return img.resize((nw, nh), resample=resample)


def _cropped(img: Image.Image, spec: InputSpec) -> Image.Image:
    if spec.crop == "none":
        return img
    w, h = img.size
    left = (w - spec.width) // 2
    top = (h - spec.height) // 2
    return img.crop((left, top, left + spec.width, top + spec.height))


def preprocess_image(img: Image.Image, spec: InputSpec) -> np.ndarray:
    """One image (any mode) -> float32 tensor of shape (H, W, 3) or (3, H, W)."""
    if img.mode != "RGB":
        img = img.convert("RGB")
    img = _cropped(_resized(img, spec), spec)
    if spec.jpeg_reencode:
        with io.BytesIO() as buf:
            img.save(buf, format="JPEG", quality=spec.jpeg_quality)
            buf.seek(0)
            with Image.open(buf) as reread:
                arr = np.asarray(reread.convert("RGB"), dtype=np.float32)
    else:
        arr = np.asarray(img, dtype=np.float32)
    if spec.channel_order == "BGR":
        arr = arr[:, :, ::-1]
    arr = arr * np.float32(spec.scale)
    arr = (arr - np.asarray(spec.mean, dtype=np.float32)) / np.asarray(spec.std, dtype=np.float32)
    if spec.layout == "NCHW":
        arr = arr.transpose(2, 0, 1)
    return np.ascontiguousarray(arr, dtype=np.float32)


def input_shape(spec: InputSpec, batch: int = 1) -> tuple[int, int, int, int]:
    if spec.layout == "NCHW":
        return (batch, 3, spec.height, spec.width)
    return (batch, spec.height, spec.width, 3)


def probe_image(spec: InputSpec, seed: int = 0) -> Image.Image:
    """A benign generated test image (gradients and a rectangle) for validation runs."""
    h, w = max(spec.height, 64), max(spec.width, 64)
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack(
        [(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), ((x + y + seed * 37) % 256)],
        axis=-1,
    ).astype(np.uint8)
    rgb[h // 4 : h // 2, w // 4 : w // 2] = (40 + seed * 50) % 256
    return Image.fromarray(rgb, "RGB")
