"""Media analysis shared by the pipeline and ``manage.py hashfile`` (exactly the same code):
magic-byte sniffing, crypto hashes, bounded decoding, PDQ with dihedrals, video keyframes
and review thumbnails. No Django models here; limits are passed in or read from settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from triage.media import decode, pdq, sniff, thumbs, video
from triage.media.errors import MediaDamaged, MediaError, MediaRefused
from triage.media.hashing import crypto_hashes, hash_stream
from triage.media.sniff import Sniffed, sniff_bytes, sniff_file

__all__ = [
    "FrameHash",
    "MediaAnalysis",
    "MediaDamaged",
    "MediaError",
    "MediaRefused",
    "Sniffed",
    "analyse",
    "crypto_hashes",
    "hash_file",
    "hash_stream",
    "sniff_bytes",
    "sniff_file",
]


@dataclass
class FrameHash:
    index: int
    timestamp: float
    pdq: str
    quality: int


@dataclass
class MediaAnalysis:
    """Everything the Media stage stores, plus the images for thumbnails."""

    sniffed: Sniffed
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    pdq: str = ""
    pdq_quality: int | None = None
    pdq_dihedral: list[str] = field(default_factory=list)
    frames: list[FrameHash] = field(default_factory=list)
    # For derivatives (not serialised): one upright-able preview and the keyframes.
    preview: Image.Image | None = None
    orientation: int = 1
    keyframe_images: list[Image.Image] = field(default_factory=list)


def _max_pixels() -> int:
    from django.conf import settings

    return settings.HUB_MAX_IMAGE_PIXELS


def _frames(info: video.VideoInfo, result: MediaAnalysis) -> None:
    for kf in info.keyframes:
        h = pdq.pdq_of_rgb(kf.image)
        result.frames.append(FrameHash(kf.index, round(kf.timestamp, 3), h.pdq, h.quality))
    # The item's own PDQ is its first keyframe worth matching (or simply the first).
    best = next((f for f in result.frames if f.quality >= pdq.QUALITY_MIN), result.frames[0])
    result.pdq, result.pdq_quality = best.pdq, best.quality
    result.keyframe_images = [kf.image for kf in info.keyframes]
    result.preview = info.keyframes[best.index].image
    result.duration = info.duration


def analyse(path, sniffed: Sniffed | None = None, *, max_pixels: int | None = None):
    """Decode (bounded) and hash the pixels of an allow-listed image or video.

    Raises MediaRefused (over a limit / hostile) or MediaDamaged (corrupt), each with a
    reason for a person; a file that is no image or video raises MediaDamaged too."""
    sniffed = sniffed or sniff_file(path)
    max_pixels = max_pixels or _max_pixels()
    result = MediaAnalysis(sniffed=sniffed)
    hidden = sniff.concealed(path, sniffed)
    if hidden:
        raise MediaRefused(hidden)
    if sniffed.kind == sniff.IMAGE:
        with open(path, "rb") as fp:
            im = decode.open_image(fp, sniffed.pillow_format, max_pixels)
            result.width, result.height = im.width, im.height
            # The format first: asking a TIFF for its frame count walks every page.
            animated = sniffed.pillow_format in ("GIF", "WEBP") and getattr(
                im, "is_animated", False
            )
            if animated:
                _frames(video.gif_keyframes(im), result)
                # Still images hash the first frame with dihedrals, as for any image.
                im.seek(0)
                first = pdq.pdq_of_rgb(pdq.prepare(im))
                result.pdq, result.pdq_quality = first.pdq, first.quality
                result.pdq_dihedral = first.dihedral
                result.orientation = thumbs.exif_orientation(im)
                return result
            rgb = pdq.prepare(im)
            # After decoding: reading a PNG's EXIF decodes the whole image, and a failure
            # there must not hide a damaged file.
            result.orientation = thumbs.exif_orientation(im)
        h = pdq.pdq_of_rgb(rgb)
        result.pdq, result.pdq_quality, result.pdq_dihedral = h.pdq, h.quality, h.dihedral
        result.preview = rgb
        return result
    if sniffed.kind == sniff.VIDEO:
        info = video.video_keyframes(path, max_pixels)
        result.width, result.height = info.width, info.height
        _frames(info, result)
        return result
    raise MediaDamaged(f"not a supported image or video: the content is {sniffed.label}")


def hash_file(path) -> dict:
    """Crypto hashes, media type and perceptual hashes of one file, as the pipeline computes
    them (``manage.py hashfile`` prints this). A file that cannot be decoded still gets its
    crypto hashes, with ``error`` saying why."""
    path = Path(path)
    sniffed = sniff_file(path)
    out: dict = {"path": str(path), **crypto_hashes(path)}
    out.update({"media_type": sniffed.media_type, "media_kind": sniffed.kind})
    out.update({"pdq": None, "pdq_quality": None})
    if sniffed.kind not in (sniff.IMAGE, sniff.VIDEO):
        return out
    try:
        result = analyse(path, sniffed)
    except MediaError as exc:
        out["error"] = str(exc)
        out["refused"] = isinstance(exc, MediaRefused)
        return out
    out.update(
        {
            "pdq": result.pdq or None,
            "pdq_quality": result.pdq_quality,
            "width": result.width,
            "height": result.height,
        }
    )
    if result.pdq_dihedral:
        out["pdq_dihedral"] = result.pdq_dihedral
    if sniffed.kind == sniff.VIDEO or result.frames:
        out["duration"] = result.duration
        out["keyframes"] = [
            {"timestamp": f.timestamp, "pdq": f.pdq, "quality": f.quality} for f in result.frames
        ]
    return out
