"""Review derivatives: a small thumbnail, a blurred one, and a keyframe contact sheet for
video. EXIF rotation is applied here (for people), never for PDQ.

The blurred derivative is grayscale and blurred on the server: it is what a reviewer's
browser receives until they reveal the item, so that no sharp pixels reach the screen (or
an "open image in new tab") before a reveal that is counted. The thumbnail and the
contact sheet keep their colour; the evidence view turns them grayscale when the viewer's
preference asks for it (``grayscale_jpeg``), so colour leaves the server only for a
reviewer who chose it. For a video with a contact sheet, the blurred derivative is the
blurred sheet."""

from __future__ import annotations

import io

from PIL import Image, ImageFilter, ImageOps

THUMB_SIDE = 256
BLUR_RADIUS = 6
SHEET_TILE = 160
SHEET_MAX_TILES = 16
SHEET_COLUMNS = 4
JPEG_QUALITY = 80

# EXIF Orientation -> the transpose that shows the image upright (as ImageOps.exif_transpose).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def exif_orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(0x0112) or 1)
    except Exception:  # a broken EXIF block only costs us the rotation
        return 1


def upright(im: Image.Image, orientation: int) -> Image.Image:
    method = _ORIENTATION.get(orientation)
    return im.transpose(method) if method is not None else im


def _jpeg(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buf.getvalue()


def _blurred(im: Image.Image) -> tuple[bytes, int, int]:
    gray = im.convert("L").filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
    return _jpeg(gray), gray.width, gray.height


def thumbnails(rgb: Image.Image, orientation: int = 1) -> dict[str, tuple[bytes, int, int]]:
    """``{"thumb": (jpeg, w, h), "blurred": (jpeg, w, h)}``: the thumbnail in colour, the
    blurred one grayscale."""
    small = upright(rgb, orientation).convert("RGB")
    small.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    return {"thumb": (_jpeg(small), small.width, small.height), "blurred": _blurred(small)}


def contact_sheets(frames: list[Image.Image]) -> dict[str, tuple[bytes, int, int]]:
    """``{"contact_sheet": …, "blurred": …}``: a colour grid of up to 16 evenly spaced
    keyframes, and the same grid grayscale and blurred."""
    if len(frames) > SHEET_MAX_TILES:
        step = len(frames) / SHEET_MAX_TILES
        frames = [frames[int(i * step)] for i in range(SHEET_MAX_TILES)]
    tiles = [ImageOps.contain(f.convert("RGB"), (SHEET_TILE, SHEET_TILE)) for f in frames]
    columns = min(SHEET_COLUMNS, len(tiles))
    rows = (len(tiles) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * SHEET_TILE, rows * SHEET_TILE), (32, 32, 32))
    for i, tile in enumerate(tiles):
        x = (i % columns) * SHEET_TILE + (SHEET_TILE - tile.width) // 2
        y = (i // columns) * SHEET_TILE + (SHEET_TILE - tile.height) // 2
        sheet.paste(tile, (x, y))
    return {"contact_sheet": (_jpeg(sheet), sheet.width, sheet.height), "blurred": _blurred(sheet)}


def grayscale_jpeg(data: bytes) -> bytes:
    """A stored derivative as grayscale JPEG (a derivative is at most a 640 px sheet)."""
    with Image.open(io.BytesIO(data)) as im:
        if im.mode == "L" and im.format == "JPEG":
            return data
        return _jpeg(im.convert("L"))
