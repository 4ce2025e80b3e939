"""Safe, streaming archive expansion (zip, tar, tar.gz/.bz2/.xz, single .gz/.bz2/.xz).

Nothing is ever extracted by member name: each member is read as a stream and handed to
the caller, which stores it content-addressed. Before any member is read, every header is
checked: links, devices, absolute paths and ``..`` (zip-slip) refuse the whole archive, as
do too many entries, too many declared bytes, too high a compression ratio or zip entries
that share their data (overlapping entries, the "better zip bomb"). While streaming, the
bytes really produced are counted against the same budget (headers can lie).

Member names are provenance and are kept, but never raw: control characters, bidirectional
overrides and undecodable bytes are escaped (``\\x1b``, ``\\u202e``) by ``printable``.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import BinaryIO

from triage.media.hashing import CHUNK

# Compression ratios are only judged above this many bytes: small text files compress
# very well and are harmless.
RATIO_FLOOR_BYTES = 1024 * 1024

ZIP, TAR, SINGLE = "zip", "tar", "single"


class ArchiveError(Exception):
    """An expected ending of expansion, with a reason for a person."""


class ArchiveRefused(ArchiveError):
    """Hostile or over a limit (zip bomb, zip-slip, links, devices, too deep)."""


class ArchiveDamaged(ArchiveError):
    """Corrupt, truncated, encrypted or in an unsupported variant."""


@dataclass
class Limits:
    max_bytes: int  # uncompressed bytes this expansion may still produce
    max_entries: int
    max_ratio: int
    # What ``max_bytes`` is, for reasons (the caller may derive it from the ratio budget of
    # the whole upload instead).
    max_bytes_name: str = "the uncompressed-size limit"


@dataclass
class Member:
    name: str  # safe relative POSIX path inside the archive
    size: int | None  # declared (None when unknown, e.g. a single .gz)
    mtime: datetime | None = None


# C0 and C1 controls, DEL, zero-width space, directional marks, embeddings, overrides and
# isolates, line/paragraph separators, the byte-order mark, and lone surrogates (bytes that
# were not valid UTF-8, kept by Python's "surrogateescape").
_UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069"
    "\ufeff\ud800-\udfff]"
)
SHOWN_NAME_CHARS = 120


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every character that could hide, reorder or control what a screen, a
    terminal or a spreadsheet shows replaced by a visible escape (``\\x1b``, ``\\x0a``,
    ``\\u202e``). Backslashes never reach stored names (they are path separators), so the
    escapes are unambiguous."""
    return _UNPRINTABLE.sub(_escape, text)


ORIGINAL_NAME_CHARS = 500  # EvidenceItem.original_name


def shortened(text: str, limit: int = ORIGINAL_NAME_CHARS) -> str:
    """``text`` (already escaped) cut in the middle to ``limit`` characters, keeping its
    end (the extension): for display fields; the full name stays in the item's path."""
    if len(text) <= limit:
        return text
    keep = limit - 1
    return f"{text[: keep - keep // 2]}…{text[-(keep // 2) :]}"


def shown(raw: str, limit: int = SHOWN_NAME_CHARS) -> str:
    """A name for a reason: escaped, quoted, and shortened in the middle when long."""
    text = printable(raw)
    if len(text) > limit:
        text = f"{text[: limit // 2]}…{text[-(limit // 2) :]} ({len(raw):,} characters)"
    return f"'{text}'"


def safe_name(raw: str) -> str:
    """A member name as a relative POSIX path (escaped by ``printable``), or ArchiveRefused
    when it would escape."""
    if "\x00" in raw:
        raise ArchiveRefused(f"member name {shown(raw)} contains a NUL byte")
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveRefused(f"member {shown(raw)} has an absolute path (refused: path traversal)")
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveRefused(f"member {shown(raw)} points outside the archive (zip-slip: '..')")
    if not parts:
        raise ArchiveRefused(f"member {shown(raw)} has an empty name")
    return "/".join(printable(p) for p in parts)


class _Budget:
    def __init__(self, limits: Limits, archive_size: int):
        self.limits = limits
        self.archive_size = max(archive_size, 1)
        self.used = 0

    def ratio_exceeded(self, total: int) -> bool:
        return total > RATIO_FLOOR_BYTES and total / self.archive_size > self.limits.max_ratio

    def add(self, n: int, what: str = "the archive") -> None:
        self.used += n
        if self.used > self.limits.max_bytes:
            raise ArchiveRefused(
                f"{what} expands to more than {self.limits.max_bytes:,} bytes "
                f"({self.limits.max_bytes_name}): refused as a possible archive bomb"
            )
        if self.ratio_exceeded(self.used):
            raise ArchiveRefused(
                f"{what} expands more than {self.limits.max_ratio}× its compressed size "
                "(the compression-ratio limit): refused as a possible archive bomb"
            )


class _Counted:
    """A member stream that counts what it really yields against the declared size and the
    shared budget."""

    def __init__(self, raw: BinaryIO, member: Member, budget: _Budget):
        self.raw, self.member, self.budget, self.count = raw, member, budget, 0

    def read(self, n: int = CHUNK) -> bytes:
        try:
            data = self.raw.read(min(n, CHUNK) if n and n > 0 else CHUNK)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, lzma.LZMAError) as exc:
            raise ArchiveDamaged(f"member {shown(self.member.name)} is damaged ({exc})") from exc
        self.count += len(data)
        if self.member.size is not None and self.count > self.member.size:
            raise ArchiveRefused(
                f"member {shown(self.member.name)} is larger than its header declares "
                f"({self.member.size:,} bytes): refused as a forged archive"
            )
        self.budget.add(len(data))
        return data


def _starts_with_tar_header(path, media_type: str) -> bool:
    """Whether the (decompressed) content starts with a valid tar header. Not
    ``tarfile.is_tarfile``: that takes any compressed run of zeros for an empty tar, and
    whatever follows the zeros would never be looked at."""
    opener = _OPENERS.get(media_type)
    try:
        with opener(path, "rb") if opener else open(path, "rb") as f:  # noqa: SIM115
            block = f.read(tarfile.BLOCKSIZE)
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except (tarfile.TarError, OSError, EOFError, lzma.LZMAError, zlib.error, ValueError):
        return False
    return True


def detect(path, media_type: str) -> str:
    if media_type == "application/zip":
        return ZIP
    if media_type == "application/x-tar":
        return TAR
    if media_type in _OPENERS:
        return TAR if _starts_with_tar_header(path, media_type) else SINGLE
    if media_type == "application/x-7z-compressed":
        raise ArchiveDamaged("7-Zip archives are not supported yet; extract it and upload")
    raise ArchiveDamaged(f"not an archive this hub can open ({media_type})")


def _unique(name: str, seen: set[str]) -> str:
    candidate, n = name, 1
    while candidate in seen:
        n += 1
        candidate = f"{name}~{n}"
    seen.add(candidate)
    return candidate


LOCAL_HEADER_BYTES = 30  # the fixed part of a zip local file header


def _refuse_overlaps(infos: list[zipfile.ZipInfo], central_directory: int) -> None:
    """Refuse entries whose data overlaps another entry or the central directory: each
    local header and its data must end before the next entry starts. Overlapping entries
    let one stored stream be expanded once per entry (David Fifield's "better zip bomb")
    while every entry's own ratio looks harmless."""
    spans = sorted(
        (
            (info.header_offset, info.header_offset + LOCAL_HEADER_BYTES + info.compress_size, info)
            for info in infos
        ),
        key=lambda span: span[:2],
    )
    for (start, end, info), (next_start, _, other) in zip(spans, spans[1:], strict=False):
        if next_start < end:
            what = "the same data" if next_start == start else "overlapping data"
            raise ArchiveRefused(
                f"entries {shown(info.filename)} and {shown(other.filename)} point at {what} "
                "(overlapping entries, a zip bomb trick): refused"
            )
    if spans and spans[-1][1] > central_directory:
        raise ArchiveRefused(
            f"entry {shown(spans[-1][2].filename)} runs into the archive's directory "
            "(overlapping entries, a zip bomb trick): refused"
        )


def _zip_members(path, limits: Limits, budget: _Budget) -> Iterator[tuple[Member, BinaryIO]]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise ArchiveDamaged(f"the zip archive is damaged ({exc})") from exc
    with zf:
        plan: list[tuple[zipfile.ZipInfo, Member]] = []
        seen: set[str] = set()
        declared = 0
        infos = zf.infolist()
        if len(infos) > limits.max_entries:
            raise ArchiveRefused(
                f"the archive holds {len(infos):,} entries, over the limit of "
                f"{limits.max_entries:,}"
            )
        _refuse_overlaps(infos, zf.start_dir)
        for info in infos:
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ArchiveRefused(f"member {shown(info.filename)} is a symbolic link (refused)")
            if mode and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)):
                raise ArchiveRefused(f"member {shown(info.filename)} is a device or pipe (refused)")
            name = safe_name(info.filename)
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                raise ArchiveDamaged(
                    f"member {shown(info.filename)} is encrypted (password needed)"
                )
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > RATIO_FLOOR_BYTES and ratio > limits.max_ratio:
                raise ArchiveRefused(
                    f"member {shown(name)} would expand {ratio:,.0f}× "
                    f"(limit {limits.max_ratio}×): refused as a zip bomb"
                )
            declared += info.file_size
            if declared > limits.max_bytes:
                raise ArchiveRefused(
                    f"the archive declares more than {limits.max_bytes:,} uncompressed bytes "
                    f"({limits.max_bytes_name}): refused as a possible zip bomb"
                )
            if budget.ratio_exceeded(declared):
                raise ArchiveRefused(
                    f"the archive would expand more than {limits.max_ratio}× its size "
                    "(the compression-ratio limit): refused as a zip bomb"
                )
            try:
                mtime = datetime(*info.date_time, tzinfo=UTC)
            except ValueError:
                mtime = None
            plan.append((info, Member(_unique(name, seen), info.file_size, mtime)))
        for info, member in plan:
            try:
                raw = zf.open(info)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
                raise ArchiveDamaged(f"member {shown(member.name)} cannot be read ({exc})") from exc
            with raw:
                yield member, _Counted(raw, member, budget)


def _tar_open(path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, mode="r:*")
    except (tarfile.TarError, OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
        raise ArchiveDamaged(f"the tar archive is damaged ({exc})") from exc


def _tar_members(path, limits: Limits, budget: _Budget) -> Iterator[tuple[Member, BinaryIO]]:
    tf = _tar_open(path)
    with tf:
        plan: list[tuple[tarfile.TarInfo, Member]] = []
        seen: set[str] = set()
        declared = 0
        entries = 0
        try:
            # Read the headers one by one so a bomb is stopped as soon as it shows.
            while (ti := tf.next()) is not None:
                entries += 1
                if entries > limits.max_entries:
                    raise ArchiveRefused(
                        f"the archive holds more than {limits.max_entries:,} entries"
                    )
                if ti.issym():
                    raise ArchiveRefused(
                        f"member {shown(ti.name)} is a symbolic link to {shown(ti.linkname)} "
                        "(refused)"
                    )
                if ti.islnk():
                    raise ArchiveRefused(
                        f"member {shown(ti.name)} is a hard link to {shown(ti.linkname)} (refused)"
                    )
                if ti.ischr() or ti.isblk() or ti.isfifo() or ti.isdev():
                    raise ArchiveRefused(f"member {shown(ti.name)} is a device or pipe (refused)")
                name = safe_name(ti.name)
                if not ti.isfile():
                    continue
                declared += ti.size
                if declared > limits.max_bytes:
                    raise ArchiveRefused(
                        f"the archive declares more than {limits.max_bytes:,} uncompressed "
                        f"bytes ({limits.max_bytes_name}): refused as a possible bomb"
                    )
                if budget.ratio_exceeded(declared):
                    raise ArchiveRefused(
                        f"the archive would expand more than {limits.max_ratio}× its size "
                        "(the compression-ratio limit): refused as a possible bomb"
                    )
                mtime = datetime.fromtimestamp(ti.mtime, tz=UTC) if ti.mtime else None
                plan.append((ti, Member(_unique(name, seen), ti.size, mtime)))
        except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as exc:
            raise ArchiveDamaged(f"the tar archive is damaged ({exc})") from exc
        for ti, member in plan:
            try:
                raw = tf.extractfile(ti)
            except (tarfile.TarError, OSError) as exc:
                raise ArchiveDamaged(f"member {shown(member.name)} cannot be read ({exc})") from exc
            if raw is None:
                continue
            with raw:
                yield member, _Counted(raw, member, budget)


_OPENERS = {
    "application/gzip": gzip.open,
    "application/x-bzip2": bz2.open,
    "application/x-xz": lzma.open,
}
_SUFFIXES = {"application/gzip": ".gz", "application/x-bzip2": ".bz2", "application/x-xz": ".xz"}


def _single_member(
    path, media_type: str, display_name: str, budget: _Budget
) -> Iterator[tuple[Member, BinaryIO]]:
    base = PurePosixPath(display_name.replace("\\", "/")).name or "member"
    suffix = _SUFFIXES[media_type]
    name = (
        base[: -len(suffix)]
        if base.lower().endswith(suffix) and len(base) > len(suffix)
        else (base + ".out")
    )
    member = Member(safe_name(name), None, None)
    with _OPENERS[media_type](path, "rb") as raw:
        yield member, _Counted(raw, member, budget)


def iter_members(
    path, media_type: str, limits: Limits, display_name: str = ""
) -> Iterator[tuple[Member, BinaryIO]]:
    """Yield ``(member, stream)`` for every regular file of the archive at ``path``.

    Raises ArchiveRefused / ArchiveDamaged (before any member when the headers show it;
    otherwise while streaming: the caller must then discard what it stored)."""
    budget = _Budget(limits, os.path.getsize(path))
    kind = detect(path, media_type)
    if kind == ZIP:
        yield from _zip_members(path, limits, budget)
    elif kind == TAR:
        yield from _tar_members(path, limits, budget)
    else:
        yield from _single_member(path, media_type, display_name, budget)
