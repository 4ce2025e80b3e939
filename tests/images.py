"""Synthetic, benign test media (generated with NumPy, Pillow and OpenCV) and hostile-input
builders. Nothing here is real media; every file is made from a seed.

Images:   pattern(seed, size) -> RGB array; make_jpeg / make_png / make_gif / make_webp /
          make_bmp / make_tiff / make_heic (path, seed, size, ...) -> Path
Video:    make_video(path, seconds, fps, size, codec="mp4v", scenes=1) -> Path
Archives: make_zip(path, {name: bytes | Path}) / make_tar(path, files, compression="")
Hostile:  hostile_zip_bomb, hostile_nested_zip, hostile_zip_slip, hostile_zip_absolute,
          hostile_tar_symlink, hostile_tar_hardlink, hostile_png_bomb_header,
          hostile_truncated_jpeg, hostile_eps_as_png, hostile_random_bytes, hostile_empty
"""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from triage.synthetic import pattern as synthetic_pattern

Size = tuple[int, int]  # (width, height)


def pattern(seed: int, size: Size = (640, 480), noise: float = 0.1) -> np.ndarray:
    """The shared benign generator (triage.synthetic), with a little noise by default."""
    return synthetic_pattern(seed, size, noise)


def _save(im: Image.Image, path, fmt: str, **params) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, format=fmt, **params)
    return path


def image_bytes(rgb: np.ndarray, fmt: str = "JPEG", **params) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, **params)
    return buf.getvalue()


def make_jpeg(
    path, seed: int = 0, size: Size = (640, 480), quality: int = 90, orientation: int | None = None
) -> Path:
    """A JPEG; ``orientation`` writes an EXIF Orientation tag (pixels unchanged)."""
    params: dict = {"quality": quality}
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        params["exif"] = exif.tobytes()
    return _save(Image.fromarray(pattern(seed, size)), path, "JPEG", **params)


def make_png(path, seed: int = 0, size: Size = (640, 480), mode: str = "RGB") -> Path:
    """A PNG in any Pillow mode (RGB, RGBA, L, LA, P, I;16 ...)."""
    im = Image.fromarray(pattern(seed, size))
    if mode == "I;16":
        gray = np.asarray(im.convert("L"), dtype=np.uint16) * 257
        im = Image.frombytes("I;16", im.size, gray.astype("<u2").tobytes())
    elif mode == "P":
        im = im.quantize(256)
    elif mode != "RGB":
        im = im.convert(mode)
    return _save(im, path, "PNG")


def make_webp(path, seed: int = 0, size: Size = (640, 480)) -> Path:
    return _save(Image.fromarray(pattern(seed, size)), path, "WEBP", quality=90)


def make_bmp(path, seed: int = 0, size: Size = (320, 240)) -> Path:
    return _save(Image.fromarray(pattern(seed, size)), path, "BMP")


def make_tiff(path, seed: int = 0, size: Size = (320, 240), mode: str = "RGB") -> Path:
    im = Image.fromarray(pattern(seed, size))
    return _save(im.convert(mode) if mode != "RGB" else im, path, "TIFF")


def make_heic(path, seed: int = 0, size: Size = (640, 480), quality: int = 90) -> Path:
    """A HEIC (HEVC-coded HEIF) still image, written with pillow-heif."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    return _save(Image.fromarray(pattern(seed, size)), path, "HEIF", quality=quality)


def make_gif(
    path, seed: int = 0, size: Size = (160, 120), frames: int = 6, ms: int = 500, cuts=True
):
    """An animated GIF, ``ms`` per frame: each frame a different pattern (``cuts``), or one
    pattern panning slowly."""
    if cuts:
        arrays = [pattern(seed + i, size) for i in range(frames)]
    else:
        wide = pattern(seed, (size[0] * 2, size[1]))
        arrays = [wide[:, i * 2 : i * 2 + size[0]] for i in range(frames)]
    images = [Image.fromarray(np.ascontiguousarray(a)).convert("P") for a in arrays]
    return _save(images[0], path, "GIF", save_all=True, append_images=images[1:], duration=ms)


def make_video(
    path,
    seconds: float = 3.0,
    fps: int = 10,
    size: Size = (160, 120),
    codec: str = "mp4v",
    scenes: int = 1,
    seed: int = 0,
) -> Path:
    """A small video written with cv2.VideoWriter (codec "mp4v" -> .mp4, "MJPG" -> .avi).
    It pans slowly (a quarter of its width) across one pattern per scene; scenes cut hard
    from one to the next."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {codec} to {path}")
    total = max(1, int(seconds * fps))
    per_scene = max(1, total // scenes)
    big = [pattern(seed + s, (width * 2, height)) for s in range(scenes)]
    for frame_no in range(total):
        scene = min(frame_no // per_scene, scenes - 1)
        offset = int((frame_no % per_scene) / per_scene * width / 4)
        rgb = big[scene][:, offset : offset + width]
        writer.write(np.ascontiguousarray(rgb[..., ::-1]))
    writer.release()
    return path


# --- archives ------------------------------------------------------------------------


def _data(value) -> bytes:
    return Path(value).read_bytes() if isinstance(value, Path) else bytes(value)


def make_zip(path, files: dict, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, value in files.items():
            zf.writestr(name, _data(value))
    return path


def make_tar(path, files: dict, compression: str = "") -> Path:
    """``compression``: "" (plain), "gz", "bz2" or "xz"."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, f"w:{compression}" if compression else "w") as tf:
        for name, value in files.items():
            data = _data(value)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tf.addfile(info, io.BytesIO(data))
    return path


# --- hostile inputs ------------------------------------------------------------------


def hostile_zip_bomb(path, megabytes: int = 64) -> Path:
    """One member of zeros: ~1000× compression (a small zip bomb)."""
    return make_zip(path, {"zeros.bin": b"\0" * (megabytes * 1024 * 1024)})


def hostile_nested_zip(path, depth: int = 6, copies: int = 2, payload: bytes = b"x" * 64):
    """42.zip-style: ``copies`` copies of the previous level, ``depth`` levels deep."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("leaf.txt", payload)
    data = buf.getvalue()
    for lvl in range(depth - 1):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for c in range(copies):
                zf.writestr(f"level{depth - 1 - lvl}-{c}.zip", data)
        data = buf.getvalue()
    path = Path(path)
    path.write_bytes(data)
    return path


def hostile_zip_slip(path) -> Path:
    return make_zip(path, {"ok.txt": b"harmless", "../../evil.txt": b"escaped"})


def hostile_zip_absolute(path) -> Path:
    return make_zip(path, {"/tmp/evil-absolute.txt": b"escaped"})


def hostile_zip_symlink(path, target: str = "/etc/passwd") -> Path:
    path = Path(path)
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = (0o120777 << 16) | 0x20
        zf.writestr(info, target)
    return path


def _tar_with(path, info: tarfile.TarInfo, extra: dict | None = None) -> Path:
    path = Path(path)
    with tarfile.open(path, "w") as tf:
        for name, value in (extra or {}).items():
            ti = tarfile.TarInfo(name)
            ti.size = len(value)
            tf.addfile(ti, io.BytesIO(value))
        tf.addfile(info)
    return path


def hostile_tar_symlink(path, target: str = "/etc/passwd") -> Path:
    info = tarfile.TarInfo("innocent.jpg")
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return _tar_with(path, info, {"a.txt": b"first"})


def hostile_tar_hardlink(path, target: str = "/etc/passwd") -> Path:
    info = tarfile.TarInfo("hard")
    info.type = tarfile.LNKTYPE
    info.linkname = target
    return _tar_with(path, info)


def hostile_tar_device(path) -> Path:
    info = tarfile.TarInfo("dev")
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 3
    return _tar_with(path, info)


def hostile_png_bomb_header(path, width: int = 50000, height: int = 50000) -> Path:
    """A valid PNG signature and IHDR declaring ``width``×``height``, with one tiny IDAT:
    decoding it would need gigabytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    path = Path(path)
    path.write_bytes(data)
    return path


def hostile_truncated_jpeg(path, seed: int = 5, size: Size = (640, 480)) -> Path:
    data = image_bytes(pattern(seed, size), "JPEG", quality=90)
    path = Path(path)
    path.write_bytes(data[: len(data) // 3])
    return path


def hostile_eps_as_png(path) -> Path:
    path = Path(path)
    path.write_bytes(
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n"
        b"newpath 10 10 moveto 90 90 lineto stroke\nshowpage\n%%EOF\n"
    )
    return path


def hostile_random_bytes(path, n: int = 4096, seed: int = 7) -> Path:
    path = Path(path)
    data = np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()
    path.write_bytes(b"\x00\x01" + data)  # never starts with a known signature
    return path


def hostile_empty(path) -> Path:
    path = Path(path)
    path.write_bytes(b"")
    return path
