"""Recognising a file by its first bytes (never by its name).

Only the formats on the allow-list are decoded; archives are expanded by
``triage.archives``; everything else is hashed and matched but not opened. Markup that
browsers would run (SVG, HTML, XML) is named for what it is, never decoded as an image.

``concealed`` looks for what a valid image or video may carry besides itself: a zip archive
appended to it (a polyglot), or data after the end of a PNG or GIF (e.g. a GIF that is also
JavaScript)."""

from __future__ import annotations

import os
import struct
import zipfile
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
SVG = Sniffed("image/svg+xml", OTHER, "an SVG drawing (markup that can hold scripts)")
HTML = Sniffed("text/html", OTHER, "an HTML page (markup that can hold scripts)")
XML = Sniffed("application/xml", OTHER, "an XML document")
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
    return _markup(head) or UNKNOWN


_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<iframe")


def _markup(head: bytes) -> Sniffed | None:
    """SVG, HTML or XML, recognised as browsers do: at the start, after an optional UTF-8
    byte-order mark, white space and comments."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if not text.startswith(b"<"):
        return None
    if b"<svg" in text:
        return SVG
    if text.startswith(_HTML_STARTS) or (text.startswith(b"<!--") and b"<html" in text):
        return HTML
    if text.startswith(b"<?xml"):
        return XML
    return None


def sniff_file(path) -> Sniffed:
    with open(path, "rb") as f:
        return sniff_bytes(f.read(HEAD_BYTES))


# --- what a valid image may carry besides itself ----------------------------------------

ZIP_TAIL_BYTES = 65_557  # the end-of-central-directory record and the longest comment
MAX_CHUNKS = 1_000_000  # structures walked before giving up (never in a real image)


def _appended_zip(path) -> int:
    """The number of files of a zip archive whose directory ends the file (0 if none)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        f.seek(max(0, size - ZIP_TAIL_BYTES))
        if b"PK\x05\x06" not in f.read():
            return 0
    try:
        with zipfile.ZipFile(path) as zf:
            return len(zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return 0


def _png_end(f) -> int | None:
    """The offset just after the IEND chunk (None if the chunks cannot be walked)."""
    f.seek(8)
    for _ in range(MAX_CHUNKS):
        header = f.read(8)
        if len(header) < 8:
            return None
        length, kind = struct.unpack(">I4s", header)
        f.seek(length + 4, os.SEEK_CUR)
        if kind == b"IEND":
            return f.tell()
    return None


def _skip_sub_blocks(f) -> bool:
    for _ in range(MAX_CHUNKS):
        n = f.read(1)
        if not n:
            return False
        if n[0] == 0:
            return True
        f.seek(n[0], os.SEEK_CUR)
    return False


def _gif_end(f) -> int | None:
    """The offset just after the GIF trailer (None if the blocks cannot be walked)."""
    header = f.read(13)
    if len(header) < 13:
        return None
    if header[10] & 0x80:
        f.seek(3 << ((header[10] & 7) + 1), os.SEEK_CUR)
    for _ in range(MAX_CHUNKS):
        block = f.read(1)
        if block == b";":
            return f.tell()
        if block == b"!":
            f.seek(1, os.SEEK_CUR)
        elif block == b",":
            descriptor = f.read(9)
            if len(descriptor) < 9:
                return None
            if descriptor[8] & 0x80:
                f.seek(3 << ((descriptor[8] & 7) + 1), os.SEEK_CUR)
            f.seek(1, os.SEEK_CUR)  # LZW minimum code size
        else:
            return None
        if not _skip_sub_blocks(f):
            return None
    return None


_END_FINDERS = {"image/png": ("PNG", _png_end), "image/gif": ("GIF", _gif_end)}


def _trailing(path, media_type: str) -> tuple[str, int]:
    """``(format, bytes)`` of non-padding data after the end of a PNG or GIF."""
    fmt, finder = _END_FINDERS.get(media_type, ("", None))
    if finder is None:
        return "", 0
    with open(path, "rb") as f:
        end = finder(f)
        if end is None:
            return fmt, 0  # unwalkable: the decoder will say it is damaged
        f.seek(end)
        rest = f.read(ZIP_TAIL_BYTES)
    extra = os.path.getsize(path) - end
    if extra <= 0 or not rest.strip(b"\x00 \t\r\n"):
        return fmt, 0
    return fmt, extra


def concealed(path, sniffed: Sniffed) -> str:
    """Why a file sniffed as an image or video should not be analysed as one (it also is
    something else), or "" when nothing is hidden."""
    if sniffed.kind not in (IMAGE, VIDEO):
        return ""
    files = _appended_zip(path)
    if files:
        return (
            f"the file is {sniffed.label} and also a zip archive of {files:,} file(s) (a "
            "polyglot, a way to hide files): not analysed automatically; examine it by hand"
        )
    fmt, extra = _trailing(path, sniffed.media_type)
    if extra:
        return (
            f"{extra:,} bytes of other data follow the end of the {fmt} image (a polyglot "
            "or hidden content): not analysed automatically; examine it by hand"
        )
    return ""
