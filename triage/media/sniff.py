"""Recognising a file by its first bytes (never by its name).

Only the formats on the allow-list are decoded; archives are expanded by
``triage.archives``; everything else is hashed and matched but not opened."""

from __future__ import annotations

from dataclasses import dataclass

HEAD_BYTES = 512  # enough for every signature below (tar's "ustar" sits at 257)


@dataclass(frozen=True)
class Sniffed:
    media_type: str  # MIME type
    kind: str  # "image", "video", "archive" or "other" (values of MediaKind)
    label: str  # short human name, for reasons ("a PostScript file")
    pillow_format: str = ""  # the only Pillow plugin allowed to open it (images)


IMAGE, VIDEO, ARCHIVE, OTHER = "image", "video", "archive", "other"

# Allow-listed image types: MIME type -> Pillow format name.
IMAGE_FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
    "image/bmp": "BMP",
    "image/tiff": "TIFF",
    "image/heic": "HEIF",  # decoded by pillow-heif's plugin (libheif), see decode.py
    "image/heif": "HEIF",
}

# ISO-BMFF (``ftyp``) brands of HEIF still images and image sequences. HEVC-coded ones are
# "HEIC"; the generic structural brands (mif1, msf1) are "HEIF", unless the compatible
# brands say AV1 (AVIF, which libheif as shipped by pillow-heif does not decode). Any other
# major brand (isom, mp41, mp42, avc1, M4V ...) stays a video.
HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"}
HEIF_BRANDS = {b"mif1", b"msf1"}
AVIF_BRANDS = {b"avif", b"avis"}
VIDEO_TYPES = {
    "video/mp4",
    "video/quicktime",
    "video/x-msvideo",
    "video/x-matroska",
    "video/webm",
}
ARCHIVE_TYPES = {
    "application/zip",
    "application/x-tar",
    "application/gzip",
    "application/x-bzip2",
    "application/x-xz",
    "application/x-7z-compressed",
}

UNKNOWN = Sniffed("application/octet-stream", OTHER, "unrecognised data")
EMPTY = Sniffed("application/x-empty", OTHER, "an empty file")


def _image(mime: str, label: str) -> Sniffed:
    return Sniffed(mime, IMAGE, label, IMAGE_FORMATS[mime])


def _compatible_brands(head: bytes) -> set[bytes]:
    """The compatible brands of the ``ftyp`` box at the start of ``head`` (as far as the
    box and ``head`` go)."""
    size = int.from_bytes(head[:4], "big")
    end = min(size if size >= 16 else 16, len(head))
    return {head[i : i + 4] for i in range(16, end - 3, 4)}


def sniff_bytes(head: bytes) -> Sniffed:
    """The type of a file from its first ``HEAD_BYTES`` bytes."""
    if not head:
        return EMPTY
    if head.startswith(b"\xff\xd8\xff"):
        return _image("image/jpeg", "a JPEG image")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _image("image/png", "a PNG image")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return _image("image/gif", "a GIF image")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _image("image/webp", "a WebP image")
    if head[:2] == b"BM" and len(head) >= 26:
        return _image("image/bmp", "a BMP image")
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return _image("image/tiff", "a TIFF image")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return Sniffed("video/quicktime", VIDEO, "a QuickTime video")
        if brand in HEIC_BRANDS:
            return _image("image/heic", "a HEIC image")
        compatible = _compatible_brands(head)
        if brand in AVIF_BRANDS or (brand in HEIF_BRANDS and compatible & AVIF_BRANDS):
            return Sniffed("image/avif", OTHER, "an AVIF image (not supported)")
        if brand in HEIF_BRANDS:
            if compatible & HEIC_BRANDS:
                return _image("image/heic", "a HEIC image")
            return _image("image/heif", "a HEIF image")
        return Sniffed("video/mp4", VIDEO, "an MP4 video")
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free") and len(head) >= 8:
        return Sniffed("video/quicktime", VIDEO, "a QuickTime video")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Sniffed("video/x-msvideo", VIDEO, "an AVI video")
    if head[:4] == b"\x1a\x45\xdf\xa3":
        if b"webm" in head[:64]:
            return Sniffed("video/webm", VIDEO, "a WebM video")
        return Sniffed("video/x-matroska", VIDEO, "a Matroska video")
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return Sniffed("application/zip", ARCHIVE, "a zip archive")
    if head[257:262] == b"ustar":
        return Sniffed("application/x-tar", ARCHIVE, "a tar archive")
    if head[:2] == b"\x1f\x8b":
        return Sniffed("application/gzip", ARCHIVE, "a gzip-compressed file")
    if head[:3] == b"BZh":
        return Sniffed("application/x-bzip2", ARCHIVE, "a bzip2-compressed file")
    if head[:6] == b"\xfd7zXZ\x00":
        return Sniffed("application/x-xz", ARCHIVE, "an xz-compressed file")
    if head[:6] == b"7z\xbc\xaf\x27\x1c":
        return Sniffed("application/x-7z-compressed", ARCHIVE, "a 7-Zip archive")
    if head.startswith((b"%!PS", b"\xc5\xd0\xd3\xc6")):
        return Sniffed("application/postscript", OTHER, "a PostScript/EPS file")
    if head.startswith(b"%PDF-"):
        return Sniffed("application/pdf", OTHER, "a PDF document")
    return UNKNOWN


def sniff_file(path) -> Sniffed:
    with open(path, "rb") as f:
        return sniff_bytes(f.read(HEAD_BYTES))
