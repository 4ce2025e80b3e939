"""The evidence store: write-once and content-addressed by SHA-256 within an agency.

Layout under ``settings.EVIDENCE_ROOT``::

    <agency uuid>/blobs/<sha[0:2]>/<sha[2:4]>/<sha256>     originals, mode 0440
    <agency uuid>/derived/<sha[0:2]>/<sha256>.<kind>.jpg    thumbnails, contact sheets
    <agency uuid>/tmp/                                      partial writes (same filesystem;
                                                            the reconciler sweeps stale ones)

A file is first streamed into ``tmp/`` while its hashes are computed, then linked into
place with ``os.link``, which fails if the name exists: an original is never overwritten,
and two workers storing the same content race harmlessly."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import IntegrityError, transaction

from triage.media.hashing import CHUNK, MultiHasher

FILE_MODE = 0o440


class StoreLimitExceeded(Exception):
    """The stream grew past the byte budget it was given."""


@dataclass
class Staged:
    """A file streamed into the store's temp area, with its hashes."""

    temp_path: Path
    md5: str
    sha1: str
    sha256: str
    size: int

    def discard(self) -> None:
        self.temp_path.unlink(missing_ok=True)


def root() -> Path:
    return Path(settings.EVIDENCE_ROOT)


def agency_dir(agency) -> Path:
    return root() / str(agency.uuid)


def blob_relpath(agency, sha256: str) -> str:
    return f"{agency.uuid}/blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def derived_relpath(agency, sha256: str, kind: str) -> str:
    return f"{agency.uuid}/derived/{sha256[:2]}/{sha256}.{kind}.jpg"


def absolute(relpath: str) -> Path:
    """The absolute path of a stored file, refusing anything that leaves the store."""
    base = root().resolve()
    path = (base / relpath).resolve()
    if base not in path.parents:
        raise ValueError(f"storage path outside the evidence store: {relpath!r}")
    return path


def blob_path(blob) -> Path:
    return absolute(blob.storage_path)


def open_blob(blob) -> BinaryIO:
    return open(blob_path(blob), "rb")  # noqa: SIM115 (the caller closes it)


def _temp_dir(agency) -> Path:
    d = agency_dir(agency) / "tmp"
    d.mkdir(parents=True, exist_ok=True)
    return d


def stage_stream(agency, stream: BinaryIO, max_bytes: int | None = None) -> Staged:
    """Copy ``stream`` into the temp area, hashing as it goes; stop (and delete the partial
    file) as soon as more than ``max_bytes`` arrive."""
    hasher = MultiHasher()
    fd, name = tempfile.mkstemp(dir=_temp_dir(agency), prefix="in-")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                hasher.update(chunk)
                if max_bytes is not None and hasher.size > max_bytes:
                    raise StoreLimitExceeded(f"more than {max_bytes:,} bytes")
                out.write(chunk)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    h = hasher.result()
    return Staged(Path(name), h["md5"], h["sha1"], h["sha256"], h["size"])


def stage_file(agency, src: Path, move: bool = False) -> Staged:
    """Stage a local file. With ``move``, the source is renamed into the temp area after
    hashing it in place (no copy) when it sits on the same filesystem."""
    src = Path(src)
    if move:
        with open(src, "rb") as f:
            hasher = MultiHasher()
            while chunk := f.read(CHUNK):
                hasher.update(chunk)
        h = hasher.result()
        fd, name = tempfile.mkstemp(dir=_temp_dir(agency), prefix="mv-")
        os.close(fd)
        try:
            os.replace(src, name)
            return Staged(Path(name), h["md5"], h["sha1"], h["sha256"], h["size"])
        except OSError:  # another filesystem: copy, then remove the source
            Path(name).unlink(missing_ok=True)
            with open(src, "rb") as f:
                staged = stage_stream(agency, f)
            src.unlink()
            return staged
    with open(src, "rb") as f:
        return stage_stream(agency, f)


def _link_into_place(temp_path: Path, final: Path) -> bool:
    """Link the temp file into place; True when this call created ``final``."""
    final.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(temp_path, FILE_MODE)
    created = False
    try:
        os.link(temp_path, final)
        created = True
    except FileExistsError:
        pass  # the same content is already stored: never overwrite it
    except OSError:
        # A filesystem without hard links: exclusive create, then copy.
        try:
            with open(final, "xb") as out, open(temp_path, "rb") as src:
                created = True
                shutil.copyfileobj(src, out, CHUNK)
            os.chmod(final, FILE_MODE)
        except FileExistsError:
            pass
    temp_path.unlink(missing_ok=True)
    return created


def commit_blob(agency, staged: Staged, created_files: list | None = None):
    """Move a staged file into its content address and return ``(Blob, created)``. When
    this call created the stored file, its path is appended to ``created_files`` before
    the Blob row is written, so that a caller whose transaction then fails can remove
    exactly the files it added (never one another writer stored)."""
    from triage.models import Blob

    relpath = blob_relpath(agency, staged.sha256)
    final = absolute(relpath)
    if _link_into_place(staged.temp_path, final) and created_files is not None:
        created_files.append(final)
    defaults = {
        "md5": staged.md5,
        "sha1": staged.sha1,
        "size": staged.size,
        "storage_path": relpath,
    }
    try:
        with transaction.atomic():
            return Blob.objects.get_or_create(
                agency=agency, sha256=staged.sha256, defaults=defaults
            )
    except IntegrityError:  # a concurrent writer inserted it first
        return Blob.objects.get(agency=agency, sha256=staged.sha256), False


def sweep_temp(older_than_seconds: float, now: float | None = None) -> int:
    """Remove partial writes left in every agency's ``tmp/`` by a process that died (a
    SIGKILLed worker cannot clean up after itself). A file counts as left behind when
    neither its content nor its inode changed for ``older_than_seconds``: a live write
    keeps its modification time fresh, and the rename of ``stage_file(move=True)`` and the
    ``chmod`` before linking refresh the change time. Returns how many were removed."""
    import time

    cutoff = (time.time() if now is None else now) - older_than_seconds
    removed = 0
    for temp_dir in root().glob("*/tmp"):
        try:
            entries = list(os.scandir(temp_dir))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
                if not entry.is_file(follow_symlinks=False):
                    continue
                if max(st.st_mtime, st.st_ctime) < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue  # linked into place (or swept) meanwhile
    return removed


def store_stream(agency, stream: BinaryIO, max_bytes: int | None = None):
    return commit_blob(agency, stage_stream(agency, stream, max_bytes))


def write_derived(agency, parent_sha256: str, kind: str, data: bytes) -> str:
    """Store a derivative write-once; returns its path relative to EVIDENCE_ROOT."""
    relpath = derived_relpath(agency, parent_sha256, kind)
    final = absolute(relpath)
    if final.exists():
        return relpath
    fd, name = tempfile.mkstemp(dir=_temp_dir(agency), prefix="dv-")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    _link_into_place(Path(name), final)
    return relpath
