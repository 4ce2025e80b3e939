"""The hostile-input corpus, generated on the fly (nothing is committed): archive bombs and
tricks, decompression bombs, disguised and polyglot files, forged video headers and
dangerous file names. Every file is benign: zeros, flat colours, seeded patterns and a few
lines of inert markup.

``CORPUS`` lists every member with the outcome the hub must reach. Members marked
``existing`` are already asserted one by one by ``tests/pipeline/test_hostile.py`` (built
by ``tests/images.py``); they are listed here so that the memory run and the benchmark feed
the whole corpus through one worker.

Builders write into a folder and return the path. They never compress a bomb's zeros: one
block of zeros is compressed once and repeated (see ``_gzip_of`` and ``flat_png``)."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from tests import images

MiB = 1024 * 1024
REFUSED, FAILED, DONE = "refused", "failed", "done"

# Dangerous characters for names: escape, newline, carriage return and delete (a NUL
# cannot be part of a path), plus a right-to-left override that reverses what follows.
CONTROL_NAMES = ("esc\x1b[31mred.txt", "new\nline.txt", "carriage\rreturn.txt", "del\x7f.txt")
BIDI_NAME = "invoice\u202etxt.exe"  # shown as "invoiceexe.txt"
LONG_NAME = "n" * 3996 + ".txt"  # 4,000 characters
LATIN1_NAME = b"caf\xe9.txt".decode("utf-8", "surrogateescape")


def _write(path: Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def small_jpeg(seed: int = 1, size=(96, 72)) -> bytes:
    return images.image_bytes(images.pattern(seed, size), "JPEG", quality=85)


# --- archive bombs -------------------------------------------------------------------


# Zip records (PKWARE APPNOTE 4.3.7, 4.3.12, 4.3.16), version 2.0, DOS time 0x21 (1980-01-01).
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")


def _local_header(name: bytes, method: int, crc: int, csize: int, size: int) -> bytes:
    return _LOCAL.pack(0x04034B50, 20, 0, method, 0, 0x21, crc, csize, size, len(name), 0) + name


def _central_header(name: bytes, method: int, crc: int, csize: int, size: int, offset: int):
    fields = (0x02014B50, 20, 20, 0, method, 0, 0x21, crc, csize, size, len(name), 0, 0, 0, 0)
    return _CENTRAL.pack(*fields, 0, offset) + name


def _end_record(entries: int, central: bytes, offset: int) -> bytes:
    return _END.pack(0x06054B50, 0, 0, entries, entries, len(central), offset, 0)


def _raw_zip(entries: list[tuple[bytes, int, int, int, bytes]]) -> bytes:
    """A zip built by hand from ``(name, method, crc, size, data)`` (data already
    compressed), one local header per entry."""
    local, central = b"", b""
    for name, method, crc, size, data in entries:
        central += _central_header(name, method, crc, len(data), size, len(local))
        local += _local_header(name, method, crc, len(data), size) + data
    return local + central + _end_record(len(entries), central, len(local))


def zip_bomb_many_members(path, members: int = 300) -> Path:
    """Many members of 1 MiB zeros each: every member is under the per-member ratio floor,
    together they expand ~1000× (300 MiB from ~300 KB)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = comp.compress(bytes(MiB)) + comp.flush()
    crc = zlib.crc32(bytes(MiB))
    entries = [(f"part{i:04d}.bin".encode(), 8, crc, MiB, data) for i in range(members)]
    return _write(path, _raw_zip(entries))


def _gzip_of(parts: list[bytes | int]) -> bytes:
    """A gzip member of ``parts`` (bytes, or an int: that many zeros), compressed at level 9
    without ever holding the zeros: each part is compressed on its own and ended with a
    full flush (byte aligned, no back-references), so the compressed MiB of zeros can be
    repeated; a final empty block ends the stream."""
    zero_mib = bytes(MiB)

    def deflate(data: bytes) -> bytes:
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        return comp.compress(data) + comp.flush(zlib.Z_FULL_FLUSH)

    body, crc, size = [], 0, 0
    for part in parts:
        if isinstance(part, int):
            whole, rest = divmod(part, MiB)
            body.append(deflate(zero_mib) * whole + deflate(bytes(rest)))
            for _ in range(whole):
                crc = zlib.crc32(zero_mib, crc)
            crc, size = zlib.crc32(bytes(rest), crc), size + part
        else:
            body.append(deflate(part))
            crc, size = zlib.crc32(part, crc), size + len(part)
    body.append(zlib.compressobj(9, zlib.DEFLATED, -15).flush())
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + b"".join(body) + struct.pack("<II", crc, size & 0xFFFFFFFF)


def targz_bomb(path, size: int = 64 * MiB) -> Path:
    """A tar.gz whose one member is ``size`` zeros (the tar header sits inside the gzip
    stream, so the archive must be opened to see it)."""
    info = tarfile.TarInfo("zeros.bin")
    info.size, info.mtime = size, 1_700_000_000
    header = info.tobuf(tarfile.PAX_FORMAT)
    padding = -size % tarfile.BLOCKSIZE
    return _write(path, _gzip_of([header, size + padding + 2 * tarfile.BLOCKSIZE]))


def gz_bomb(path, size: int = 64 * MiB) -> Path:
    """A single .gz of zeros: no header declares the size, so only counting the bytes
    really produced while streaming can stop it."""
    return _write(path, _gzip_of([size]))


def nested_fanout(path, depth: int = 5, copies: int = 3) -> Path:
    """42.zip in miniature: ``copies`` copies of the level below, ``depth`` levels, the
    leaf being a zip bomb (4 MiB of zeros)."""
    return images.hostile_nested_zip(path, depth=depth, copies=copies, payload=bytes(4 * MiB))


# --- an archive that contains itself: a gzip quine -------------------------------------
#
# Russ Cox's construction ("Zip Files All The Way Down"): DEFLATE has two instructions,
# "print the next n bytes" (a stored block, Ln) and "repeat the last n bytes" (a copy in a
# fixed-Huffman block, Rn). Every instruction is exactly 5 bytes and starts on a byte
# boundary, and the program below prints itself, framed by the gzip header P and the
# trailer S. The trailer's CRC-32 covers the file itself; CRC-32 is affine over GF(2), so
# the fixed point is solved as a 32×32 linear system.

_OP = 5


class _BitWriter:
    def __init__(self) -> None:
        self.acc = self.n = 0
        self.out = bytearray()

    def bits(self, value: int, n: int) -> None:  # LSB first (headers, extra bits)
        self.acc |= value << self.n
        self.n += n
        while self.n >= 8:
            self.out.append(self.acc & 0xFF)
            self.acc >>= 8
            self.n -= 8

    def huffman(self, code: int, n: int) -> None:  # Huffman codes go MSB first
        self.bits(int(f"{code:0{n}b}"[::-1], 2), n)


def _literal(n: int, final: bool = False) -> bytes:
    return bytes([int(final)]) + struct.pack("<HH", n, n ^ 0xFFFF)


def _repeat(n: int, final: bool = False) -> bytes:
    """Copy the last ``n`` (17..20) bytes, as exactly 40 bits: a fixed-Huffman block with
    two copies at distance ``n`` (lengths 3..10 have 7-bit codes and no extra bits;
    distances 17..24 have code 8 and 3 extra bits) and the end-of-block code."""
    assert 17 <= n <= 20
    w = _BitWriter()
    w.bits(int(final), 1)
    w.bits(1, 2)  # BTYPE 01: fixed Huffman
    for length in (n - 10, 10):
        w.huffman(length - 2, 7)  # length code 257 + (length - 3)
        w.huffman(8, 5)
        w.bits(n - 17, 3)
    w.huffman(0, 7)  # end of block
    assert w.n == 0 and len(w.out) == _OP
    return bytes(w.out)


def _solve_gf2(columns: list[int], target: int) -> int | None:
    """``x`` with XOR of columns[i] for each bit i of x == target (32 unknowns)."""
    rows = []  # (pivot mask row, combination)
    for i, col in enumerate(columns):
        rows.append((col, 1 << i))
    basis: dict[int, tuple[int, int]] = {}
    for vec, comb in rows:
        for bit in range(31, -1, -1):
            if not (vec >> bit) & 1:
                continue
            if bit in basis:
                bv, bc = basis[bit]
                vec, comb = vec ^ bv, comb ^ bc
            else:
                basis[bit] = (vec, comb)
                break
    x, rest = 0, target
    for bit in range(31, -1, -1):
        if (rest >> bit) & 1:
            if bit not in basis:
                return None
            bv, bc = basis[bit]
            rest, x = rest ^ bv, x ^ bc
    return x


def gzip_quine(path) -> Path:
    """A .gz file that decompresses to exactly itself (any depth limit is reached by a
    tool that expands it naively; the hub must see the member equals its container)."""
    for mtime in range(64):
        header = b"\x1f\x8b\x08\x08" + struct.pack("<I", mtime) + b"\x00\xffq\x00"  # FNAME
        p = len(header)  # 12: Lp+1 and Rp+1 handle 17 bytes
        assert p + _OP == 17

        def build(crc: int, header=header) -> bytes:
            lp, rp = _literal(p + _OP), _repeat(p + _OP)
            l1, l4, r4, l0 = _literal(_OP), _literal(4 * _OP), _repeat(4 * _OP), _literal(0)
            ls, rs = _literal(17), _repeat(17, final=True)
            parts = [lp, header, lp, rp, l1, rp, l1, l1, l4, rp, l1, l1, l4, r4]
            parts += [l4, r4, l4, r4, l4, r4, l4, r4, l0, l0, ls, r4, l0, l0]
            code_without_tail = b"".join(parts)
            size = len(header) + len(code_without_tail) + (_OP + _OP + 12) + _OP + 12
            trailer = struct.pack("<II", crc, size) + bytes(4)  # zero padding is allowed
            code = code_without_tail + ls + rs + trailer + rs
            return header + code + trailer

        base = zlib.crc32(build(0))
        columns = [zlib.crc32(build(1 << i)) ^ base for i in range(32)]
        # crc(build(c)) == base ^ M·c; we need it to equal c: (M + I)·c = base.
        columns = [col ^ (1 << i) for i, col in enumerate(columns)]
        crc = _solve_gf2(columns, base)
        if crc is None:
            continue
        data = build(crc)
        if gzip.decompress(data) == data:
            return _write(path, data)
    raise RuntimeError("no gzip quine found")


# --- other archive tricks ------------------------------------------------------------


def zip_overlapping(path, entries: int = 100, kernel_size: int = 64 * 1024) -> Path:
    """David Fifield's "better zip bomb" trick without the compression: ``entries`` central
    directory records all point at one local file (stored random bytes), so the data is
    expanded ``entries`` times while the ratio of each member looks harmless (~1)."""
    kernel = np.random.default_rng(11).integers(0, 256, kernel_size, dtype=np.uint8).tobytes()
    name, crc, n = b"kernel.bin", zlib.crc32(kernel), len(kernel)
    local = _local_header(name, 0, crc, n, n) + kernel
    central = _central_header(name, 0, crc, n, n, 0) * entries  # all at offset 0
    return _write(path, local + central + _end_record(entries, central, len(local)))


def _zip_with(path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    path = Path(path)
    with zipfile.ZipFile(path, "w") as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return path


def zip_slip_backslashes(path) -> Path:
    return _zip_with(path, [("ok.txt", b"fine"), ("..\\..\\etc\\x", b"escaped")])


def zip_drive_letter(path) -> Path:
    return _zip_with(path, [("C:\\Windows\\evil.txt", b"escaped")])


def zip_device(path) -> Path:
    info = zipfile.ZipInfo("null")
    info.external_attr = 0o020666 << 16  # a character device
    return _zip_with(path, [(info, b"")])


def zip_truncated(path) -> Path:
    whole = images.make_zip(Path(path).with_suffix(".whole"), {"a.jpg": small_jpeg(3)})
    data = whole.read_bytes()
    whole.unlink()
    return _write(path, data[: len(data) // 2])


def zip_encrypted(path) -> Path:
    info = zipfile.ZipInfo("secret.jpg")
    path = _zip_with(path, [(info, small_jpeg(4))])
    data = bytearray(path.read_bytes())
    # Set the "encrypted" flag in the local and central headers (the data stays plain).
    struct.pack_into("<H", data, 6, 1)
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 8, 1)
    return _write(path, bytes(data))


def _tar(path, members: list[tuple[tarfile.TarInfo, bytes | None]], fmt=tarfile.PAX_FORMAT):
    path = Path(path)
    with tarfile.open(path, "w", format=fmt) as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def tar_slip(path) -> Path:
    return _tar(
        path, [(tarfile.TarInfo("ok.txt"), b"fine"), (tarfile.TarInfo("../../etc/x"), b"x")]
    )


def tar_absolute(path) -> Path:
    return _tar(path, [(tarfile.TarInfo("/etc/x"), b"escaped")])


def tar_link_then_write(path) -> Path:
    """A symlink to a directory outside, then a file "through" it (the classic escape)."""
    link = tarfile.TarInfo("d")
    link.type, link.linkname = tarfile.SYMTYPE, "/tmp"
    return _tar(path, [(link, None), (tarfile.TarInfo("d/evil.txt"), b"escaped")])


def tar_fifo(path) -> Path:
    fifo = tarfile.TarInfo("pipe")
    fifo.type = tarfile.FIFOTYPE
    return _tar(path, [(fifo, None)])


# --- decompression bombs -------------------------------------------------------------


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def flat_png(path, width: int = 20_000, height: int = 20_000) -> Path:
    """A real, complete RGB PNG of one flat colour (black): every row is there, so a
    decoder would really allocate width×height×3 bytes (1.2 GB at 20k×20k). The rows are
    all zeros: one block of 64 rows is compressed once, ended with a full flush (byte
    aligned, no back-references), and repeated; the Adler-32 of n zeros is computed."""
    row = width * 3 + 1
    rows_per_block = 64
    blocks, rest = divmod(height, rows_per_block)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(bytes(row * rows_per_block)) + comp.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    last = tail.compress(bytes(row * rest)) + tail.flush()
    total = row * height
    adler = ((total % 65521) << 16) | 1  # a = 1 + 0 + ..., b = total × 1
    idat = b"\x78\xda" + block * blocks + last + struct.pack(">I", adler)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )
    return _write(path, data)


def _gif_image(left: int, top: int, width: int, height: int) -> bytes:
    """An image descriptor and the LZW data of one pixel of colour 0 (min code size 2:
    clear, 0, end as three 3-bit codes)."""
    return b"," + struct.pack("<HHHHB", left, top, width, height, 0) + b"\x02\x02\x44\x01\x00"


def _gif(width: int, height: int, frames: list[bytes]) -> bytes:
    palette = bytes([0, 0, 0, 255, 255, 255, 128, 128, 128, 64, 64, 64])
    screen = struct.pack("<HHBBB", width, height, 0xF1, 0, 0)  # 4-colour global table
    return b"GIF89a" + screen + palette + b"".join(frames) + b";"


def gif_bomb_header(path) -> Path:
    """A GIF whose logical screen is 65,535×65,535 (4.3 gigapixels), holding one pixel."""
    return _write(path, _gif(65535, 65535, [_gif_image(0, 0, 1, 1)]))


def gif_bomb_frame(path) -> Path:
    """A small (64×64) GIF screen whose one image declares 65,535×65,535 pixels."""
    return _write(path, _gif(64, 64, [_gif_image(0, 0, 65535, 65535)]))


def gif_frame_flood(path, side: int = 4000, frames: int = 3000) -> Path:
    """A 16-megapixel animation of 3,000 frames, each changing a single pixel (~70 KB): a
    decoder composes every frame at full size (48 GP in all, minutes of work)."""
    gce = b"!\xf9\x04\x04\x01\x00\x00\x00"  # 10 ms per frame, keep the previous frame
    body = [gce + _gif_image(i % side, (i // side) % side, 1, 1) for i in range(frames)]
    return _write(path, _gif(side, side, body))


# --- damaged, disguised and polyglot files ---------------------------------------------


def truncated_png(path) -> Path:
    data = images.image_bytes(images.pattern(6, (320, 240)), "PNG")
    return _write(path, data[: len(data) // 2])


SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<script>document.title = "inert test script"</script><rect width="10" height="10"/>'
    b"</svg>\n"
)
HTML = b"<!DOCTYPE html>\n<html><body><script>var inert = 1;</script><p>test</p></body></html>\n"


def svg_as_png(path) -> Path:
    return _write(path, SVG)


def html_as_jpg(path) -> Path:
    return _write(path, HTML)


def jpeg_zip_polyglot(path) -> Path:
    """A valid JPEG with a zip archive appended: image viewers show the picture, unzip
    tools list the hidden file (a classic way to hide files)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("hidden.txt", b"a file hidden after the image")
    return _write(path, small_jpeg(7, (160, 120)) + buf.getvalue())


def gif_js_polyglot(path) -> Path:
    """GIF + JavaScript: the width bytes open a comment ("/*" is 10,799 pixels), the script
    follows the GIF trailer. Valid for an image decoder and for a JavaScript engine."""
    width = int.from_bytes(b"/*", "little")
    gif = _gif(width, 10, [_gif_image(0, 0, 1, 1)])
    return _write(path, gif + b"*/=1;var inert=1;")


# --- video ---------------------------------------------------------------------------


def _riff_chunk(fourcc: bytes, data: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def _riff_list(kind: bytes, body: bytes) -> bytes:
    return _riff_chunk(b"LIST", kind + body)


def mjpeg_avi(
    frames: list[bytes], width: int, height: int, fps: int = 10, declared_frames=None
) -> bytes:
    """A minimal AVI (RIFF) of MJPEG frames whose headers declare whatever is asked."""
    total = len(frames) if declared_frames is None else declared_frames
    # AVIMAINHEADER, AVISTREAMHEADER (dwLength: frames) and BITMAPINFOHEADER, as in
    # Microsoft's AVI RIFF reference.
    avih_fields = (1_000_000 // fps, 0, 0, 0x10, total, 0, 1, 0, width, height, 0, 0, 0, 0)
    avih = struct.pack("<14I", *avih_fields)
    frame_rect = (0, 0, min(width, 32767), min(height, 32767))
    strh_fields = (0, 0, 0, 0, 1, fps, 0, total, 0, 0xFFFFFFFF, 0, *frame_rect)
    strh = b"vidsMJPG" + struct.pack("<I2H8I4h", *strh_fields)
    image_size = (width * height * 3) & 0xFFFFFFFF
    strf_fields = (40, width, height, 1, 24, b"MJPG", image_size, 0, 0, 0, 0)
    strf = struct.pack("<IiiHH4sIiiII", *strf_fields)
    hdrl = _riff_list(
        b"hdrl",
        _riff_chunk(b"avih", avih)
        + _riff_list(b"strl", _riff_chunk(b"strh", strh) + _riff_chunk(b"strf", strf)),
    )
    movi, index, offset = b"", b"", 4
    for frame in frames:
        index += b"00dc" + struct.pack("<III", 0x10, offset, len(frame))
        chunk = _riff_chunk(b"00dc", frame)
        movi += chunk
        offset += len(chunk)
    body = b"AVI " + hdrl + _riff_list(b"movi", movi) + _riff_chunk(b"idx1", index)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _frames(n: int = 20, size=(160, 120)) -> list[bytes]:
    return [small_jpeg(30 + i // 10, size) for i in range(n)]  # a cut every second


def avi_declared_dimensions(path) -> Path:
    """Real 160×120 frames in a container that declares 16,000×16,000 pixels."""
    return _write(path, mjpeg_avi(_frames(), 16_000, 16_000))


def avi_declared_frames(path) -> Path:
    """Twenty frames (2 s) in a container that declares 4,294,967,295 frames (13 years)."""
    return _write(path, mjpeg_avi(_frames(), 160, 120, declared_frames=0xFFFFFFFF))


def avi_giant_frames(path, side: int = 7_000) -> Path:
    """A container that declares 160×120 but whose frames are 7,000×7,000 JPEGs (49 MP of
    flat grey, ~1 MB each): the decoder allocates the frame before anyone can check."""
    buf = io.BytesIO()
    Image.new("L", (side, side), 90).save(buf, "JPEG", quality=40)
    return _write(path, mjpeg_avi([buf.getvalue()] * 2, 160, 120))


# --- names ---------------------------------------------------------------------------


def names_zip(path) -> Path:
    """Members with control characters, a right-to-left override and a 4,000-character
    name, to be stored with their provenance escaped. The contents are a few words of text:
    names are the point here, not pixels."""
    names = [f"dir/{name}" for name in (*CONTROL_NAMES, BIDI_NAME)] + [LONG_NAME]
    return images.make_zip(
        path, {name: f"benign text {i}\n".encode() for i, name in enumerate(names)}
    )


def names_tar(path) -> Path:
    """The same in a (GNU) tar, plus a name that is not UTF-8 (Latin-1 "café.txt", as old
    systems wrote it), which Python hands over with an undecodable-byte surrogate."""
    names = [f"t/{name}" for name in (*CONTROL_NAMES, LATIN1_NAME)] + [LONG_NAME]
    members = []
    for i, name in enumerate(names):
        info = tarfile.TarInfo(name)
        info.mtime = 1_700_000_000
        members.append((info, f"benign text {i}\n".encode()))
    return _tar(path, members, tarfile.GNU_FORMAT)


# --- the corpus ----------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """Items whose path matches ``pattern`` (fnmatch; the batch-relative path) end with
    ``status`` and a reason containing ``words``."""

    pattern: str
    status: str
    words: str = ""


@dataclass(frozen=True)
class Member:
    name: str  # the upload name
    build: Callable[[Path], Path]
    expect: tuple[Expect, ...]
    what: str
    existing: bool = False  # already asserted by tests/pipeline/test_hostile.py
    checks: dict = field(default_factory=dict)  # extra field values of the top item


def _m(name, build, what, *expect, existing=False, **checks) -> Member:
    return Member(name, build, tuple(expect), what, existing, checks)


CORPUS: tuple[Member, ...] = (
    # Archive bombs.
    _m(
        "bomb.zip",
        lambda p: images.hostile_zip_bomb(p, 16),
        "zip bomb: one member of 16 MiB zeros",
        Expect("bomb.zip", REFUSED, "zip bomb"),
        existing=True,
    ),
    _m(
        "bomb-many.zip",
        zip_bomb_many_members,
        "zip bomb: 300 members of 1 MiB zeros, each under the per-member floor",
        Expect("bomb-many.zip", REFUSED, "zip bomb"),
    ),
    _m(
        "bomb.tar.gz",
        targz_bomb,
        "tar.gz bomb: 64 MiB of zeros behind a gzip layer",
        Expect("bomb.tar.gz", REFUSED, "possible bomb"),
    ),
    _m(
        "zeros.gz",
        gz_bomb,
        "gzip bomb: 64 MiB of zeros, no declared size (stopped while streaming)",
        Expect("zeros.gz", REFUSED, "archive bomb"),
    ),
    _m(
        "42.zip",
        lambda p: images.hostile_nested_zip(p, depth=6, copies=2),
        "42.zip-style nesting: 6 levels, 2 copies each",
        Expect("42.zip/*/*/*", REFUSED, "nested 4 levels deep"),
        existing=True,
    ),
    _m(
        "fanout.zip",
        nested_fanout,
        "42.zip-style fan-out: 5 levels of 3 copies, a zip bomb at the bottom",
        Expect("fanout.zip/*/*/*", REFUSED, "nested 4 levels deep"),
    ),
    _m(
        "quine.gz",
        gzip_quine,
        "an archive that contains itself (a gzip quine: it decompresses to its own bytes)",
        Expect("quine.gz/quine", REFUSED, "cycle"),
    ),
    _m(
        "overlap.zip",
        zip_overlapping,
        "overlapping entries: 100 directory records share one local file",
        Expect("overlap.zip", REFUSED, "overlapping"),
    ),
    # Escapes and links.
    _m(
        "slip.zip",
        images.hostile_zip_slip,
        "zip-slip: ../../evil.txt",
        Expect("slip.zip", REFUSED, "zip-slip"),
        existing=True,
    ),
    _m(
        "slip-backslash.zip",
        zip_slip_backslashes,
        "zip-slip with Windows separators: ..\\..\\etc\\x",
        Expect("slip-backslash.zip", REFUSED, "zip-slip"),
    ),
    _m(
        "slip.tar",
        tar_slip,
        "tar-slip: ../../etc/x",
        Expect("slip.tar", REFUSED, "zip-slip"),
    ),
    _m(
        "abs.zip",
        images.hostile_zip_absolute,
        "absolute path: /tmp/evil-absolute.txt",
        Expect("abs.zip", REFUSED, "absolute path"),
        existing=True,
    ),
    _m(
        "abs.tar",
        tar_absolute,
        "absolute path in a tar: /etc/x",
        Expect("abs.tar", REFUSED, "absolute path"),
    ),
    _m(
        "drive.zip",
        zip_drive_letter,
        "Windows drive path: C:\\Windows\\evil.txt",
        Expect("drive.zip", REFUSED, "absolute path"),
    ),
    _m(
        "link.zip",
        images.hostile_zip_symlink,
        "zip symlink to /etc/passwd",
        Expect("link.zip", REFUSED, "symbolic link"),
        existing=True,
    ),
    _m(
        "sym.tar",
        images.hostile_tar_symlink,
        "tar symlink to /etc/passwd",
        Expect("sym.tar", REFUSED, "symbolic link"),
        existing=True,
    ),
    _m(
        "link-write.tar",
        tar_link_then_write,
        "tar symlink d -> /tmp, then d/evil.txt",
        Expect("link-write.tar", REFUSED, "symbolic link"),
    ),
    _m(
        "hard.tar",
        images.hostile_tar_hardlink,
        "tar hard link to /etc/passwd",
        Expect("hard.tar", REFUSED, "hard link"),
        existing=True,
    ),
    _m(
        "dev.tar",
        images.hostile_tar_device,
        "tar character device",
        Expect("dev.tar", REFUSED, "device"),
        existing=True,
    ),
    _m("fifo.tar", tar_fifo, "tar named pipe", Expect("fifo.tar", REFUSED, "pipe")),
    _m("dev.zip", zip_device, "zip character device", Expect("dev.zip", REFUSED, "device")),
    _m(
        "cut.zip",
        zip_truncated,
        "truncated zip",
        Expect("cut.zip", FAILED, "damaged"),
    ),
    _m(
        "locked.zip",
        zip_encrypted,
        "encrypted zip member",
        Expect("locked.zip", FAILED, "encrypted"),
    ),
    # Decompression bombs.
    _m(
        "huge.png",
        images.hostile_png_bomb_header,
        "PNG header declaring 50,000×50,000",
        Expect("huge.png", REFUSED, "decompression bomb"),
        existing=True,
    ),
    _m(
        "huge.gif",
        gif_bomb_header,
        "GIF screen declaring 65,535×65,535",
        Expect("huge.gif", REFUSED, "decompression bomb"),
    ),
    _m(
        "huge-frame.gif",
        gif_bomb_frame,
        "64×64 GIF whose image declares 65,535×65,535",
        Expect("huge-frame.gif", REFUSED, "decompression bomb"),
    ),
    _m(
        "flat-20k.png",
        flat_png,
        "a real 20,000×20,000 flat black PNG (1.2 GB decoded)",
        Expect("flat-20k.png", REFUSED, "decompression bomb"),
    ),
    _m(
        "flood.gif",
        gif_frame_flood,
        "16 MP animation of 3,000 one-pixel frames (sampled until the pixel budget)",
        Expect("flood.gif", DONE),
    ),
    # Damaged, disguised and polyglot.
    _m(
        "cut.jpg",
        images.hostile_truncated_jpeg,
        "truncated JPEG",
        Expect("cut.jpg", FAILED, "truncated"),
        existing=True,
    ),
    _m("cut.png", truncated_png, "truncated PNG", Expect("cut.png", FAILED, "truncated")),
    _m(
        "empty.jpg",
        images.hostile_empty,
        "zero-byte file",
        Expect("empty.jpg", FAILED, "empty"),
        existing=True,
    ),
    _m(
        "eps.png",
        images.hostile_eps_as_png,
        "EPS named .png",
        Expect("eps.png", FAILED, "PostScript"),
        existing=True,
    ),
    _m("svg.png", svg_as_png, "SVG (with a script) named .png", Expect("svg.png", FAILED, "SVG")),
    _m("page.jpg", html_as_jpg, "HTML named .jpg", Expect("page.jpg", FAILED, "HTML")),
    _m(
        "noise.jpg",
        images.hostile_random_bytes,
        "random bytes named .jpg",
        Expect("noise.jpg", FAILED, "unrecognised data"),
        existing=True,
    ),
    _m(
        "polyglot.jpg",
        jpeg_zip_polyglot,
        "polyglot: a valid JPEG that is also a zip archive",
        Expect("polyglot.jpg", REFUSED, "zip archive"),
    ),
    _m(
        "polyglot.gif",
        gif_js_polyglot,
        "polyglot: a valid GIF that is also JavaScript",
        Expect("polyglot.gif", REFUSED, "end of the GIF image"),
    ),
    # Video.
    _m(
        "dims.avi",
        avi_declared_dimensions,
        "AVI declaring 16,000×16,000 around 160×120 frames",
        Expect("dims.avi", FAILED, "no frame"),
    ),
    _m(
        "frames.avi",
        avi_declared_frames,
        "AVI declaring 4,294,967,295 frames around 20 (analysed; duration from real frames)",
        Expect("frames.avi", DONE),
        duration_seconds=2.0,
    ),
    _m(
        "giant.avi",
        avi_giant_frames,
        "AVI declaring 160×120 around 7,000×7,000 frames",
        Expect("giant.avi", REFUSED, "video frame"),
    ),
    # Names (processed normally; provenance stored escaped).
    _m(
        "names.zip",
        names_zip,
        "zip members named with ESC, LF, CR, DEL, a right-to-left override, 4,000 characters",
        Expect("names.zip/*", DONE),
    ),
    _m(
        "names.tar",
        names_tar,
        "tar members named with ESC, LF, CR, DEL, a non-UTF-8 byte and 4,000 characters",
        Expect("names.tar/*", DONE),
    ),
)


def build_all(folder: Path, members=CORPUS) -> list[tuple[Member, Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    return [(m, Path(m.build(folder / m.name))) for m in members]
