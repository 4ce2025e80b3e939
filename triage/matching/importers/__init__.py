"""Hash-list imports: parse a file (VICS JSON, NCMEC XML, text/CSV), then apply it to a
list in ONE transaction, so a file that turns out to be malformed changes nothing.

A bad row never aborts an import: it is reported with its line number and skipped. The
summary reports added / updated / skipped (with reasons) / tombstoned and the bad rows.
Progress is written to the cache as well as the row: the row's own updates are invisible
to other connections until the import's transaction commits, the cache's are not."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from hub.audit import audit_record
from triage.matching.importers import ncmec, text, vics
from triage.matching.importers.base import BadRow, ImportFileError, Record, clean_hashes
from triage.matching.lists import (
    HashListError,
    bump_version,
    list_user_ids,
    missing_category_map,
    schedule_rematch,
    scheme_codes,
)
from triage.models.matching import HashEntry, HashImport, HashList

log = logging.getLogger(__name__)

FORMATS = {
    "auto": "Detect from the file",
    "vics": "Project VIC VICS JSON",
    "ncmec": "NCMEC entries XML",
    "text": "Plain text or CSV",
}
MAX_REPORTED_ERRORS = 500
CHUNK = 1000
ENTRY_FIELDS = (
    "md5",
    "sha1",
    "sha256",
    "pdq",
    "pdq_quality",
    "category",
    "series",
    "victim_identified",
    "is_precategorized",
    "source_ref",
)

__all__ = ["BadRow", "ImportFileError", "Record", "import_bytes", "parse_bytes"]


def detect_format(data: bytes, file_name: str = "") -> str:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    name = file_name.lower()
    if head.startswith(b"{") or name.endswith(".json"):
        return "vics"
    if head.startswith(b"<") or name.endswith(".xml"):
        return "ncmec"
    return "text"


def parse_bytes(data: bytes, fmt: str, *, hex64: str = "sha256", file_name: str = "") -> list:
    """Every Record/BadRow of the file, or ImportFileError (nothing is applied then)."""
    if fmt == "auto":
        fmt = detect_format(data, file_name)
    if fmt == "vics":
        try:
            doc = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ImportFileError("This VICS file is not UTF-8 JSON.") from None
        rows = list(vics.parse(doc))
    elif fmt == "ncmec":
        rows = list(ncmec.parse_bytes(data))
    elif fmt == "text":
        rows = list(text.parse(text.decode(data), hex64=hex64))
    else:
        raise ImportFileError(f"Unknown format {fmt!r}.")
    out = []
    for row in rows:
        if isinstance(row, Record):
            reason = clean_hashes(row)
            if reason:
                row = BadRow(row.line, reason)
        out.append(row)
    if out and not any(isinstance(r, Record) for r in out):
        raise ImportFileError(
            f"No row of this file could be read as {FORMATS[fmt]} "
            f"(first problem, line {out[0].line}: {out[0].reason})."
        )
    if not out:
        raise ImportFileError("The file holds no hashes.")
    return out


def _progress_key(hash_import_id: int) -> str:
    return f"hashimport-progress:{hash_import_id}"


def progress_of(hash_import: HashImport) -> tuple[int, int]:
    """(processed, total), live even while the import's transaction is open."""
    cached = cache.get(_progress_key(hash_import.id))
    if cached:
        return cached
    return hash_import.processed, hash_import.total


def _report_progress(hash_import: HashImport | None, processed: int, total: int) -> None:
    if hash_import is not None:
        cache.set(_progress_key(hash_import.id), (processed, total), timeout=3600)


def apply_records(
    hash_list: HashList, rows: list, *, hash_import: HashImport | None = None
) -> dict:
    """Apply parsed rows to the list. Call inside a transaction."""
    summary: dict = {"added": 0, "updated": 0, "skipped": 0, "tombstoned": 0}
    reasons: Counter = Counter()
    errors = []
    bad = 0
    codes = scheme_codes(hash_list.scheme)
    records: list[Record] = []
    for row in rows:
        if isinstance(row, BadRow):
            bad += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append({"line": row.line, "reason": row.reason})
            continue
        if codes is not None and row.category and row.category not in codes:
            bad += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append(
                    {
                        "line": row.line,
                        "reason": f"category {row.category!r} is not in the list's scheme "
                        f"({', '.join(codes)})",
                    }
                )
            continue
        records.append(row)
    unmapped = missing_category_map(hash_list, {r.category for r in records if not r.delete})
    if unmapped:
        raise HashListError(
            f"The list's scheme ({hash_list.get_scheme_display()}) differs from your agency's: "
            f"set the category map for {', '.join(unmapped)} before importing."
        )
    now = timezone.now()
    seen: dict[tuple[str, str], int] = {}
    total = len(rows)
    done = bad
    for start in range(0, len(records), CHUNK):
        chunk = records[start : start + CHUNK]
        live = [r for r in chunk if not r.delete]
        dead = [r for r in chunk if r.delete]
        existing = _existing(hash_list, live + [r for r in dead if r.key()])
        to_create, to_update = [], []
        for record in live:
            key = record.key()
            if key in seen:
                summary["skipped"] += 1
                reasons[f"duplicate in the file (first on line {seen[key]})"] += 1
                continue
            seen[key] = record.line
            entry = existing.get(key)
            if entry is None:
                to_create.append(
                    HashEntry(
                        hash_list=hash_list,
                        created_at=now,
                        updated_at=now,
                        **{f: getattr(record, f) for f in ENTRY_FIELDS},
                    )
                )
                continue
            changed = entry.deleted_at is not None
            for field in ENTRY_FIELDS:
                value = getattr(record, field)
                if field in ("source_ref", "series", "pdq", "sha1", "sha256", "md5") and not value:
                    continue  # a sparser row does not erase what we know
                if field == "pdq_quality" and value is None:
                    continue
                if getattr(entry, field) != value:
                    setattr(entry, field, value)
                    changed = True
            if changed:
                entry.deleted_at = None
                entry.updated_at = now
                to_update.append(entry)
            else:
                summary["skipped"] += 1
                reasons["already in the list, unchanged"] += 1
        HashEntry.objects.bulk_create(to_create, batch_size=CHUNK)
        if to_update:
            HashEntry.objects.bulk_update(
                to_update, [*ENTRY_FIELDS, "deleted_at", "updated_at"], batch_size=CHUNK
            )
        summary["added"] += len(to_create)
        summary["updated"] += len(to_update)
        for record in dead:
            query = Q(source_ref=record.source_ref) if record.source_ref else Q()
            key = record.key()
            if key:
                query |= Q(**{key[0]: key[1]})
            n = HashEntry.objects.filter(
                query, hash_list=hash_list, deleted_at__isnull=True
            ).update(deleted_at=now, updated_at=now)
            if n:
                summary["tombstoned"] += n
            else:
                summary["skipped"] += 1
                reasons["tombstone for an entry not in the list"] += 1
        done += len(chunk)
        _report_progress(hash_import, done, total)
    summary["skipped_reasons"] = dict(reasons)
    summary["bad_rows"] = bad
    summary["errors"] = errors
    return summary


def _existing(hash_list: HashList, records: list[Record]) -> dict:
    """Existing entries (live or tombstoned) keyed by (algorithm, value): one query per
    algorithm used as a key in this chunk."""
    wanted: dict[str, set[str]] = {}
    for record in records:
        key = record.key()
        if key:
            wanted.setdefault(key[0], set()).add(key[1])
    found = {}
    for algo, values in wanted.items():
        for entry in HashEntry.objects.filter(hash_list=hash_list, **{f"{algo}__in": values}):
            found.setdefault((algo, getattr(entry, algo)), entry)
    return found


def import_bytes(
    hash_list: HashList,
    data: bytes,
    fmt: str,
    *,
    user=None,
    hex64: str = "sha256",
    file_name: str = "",
    hash_import: HashImport | None = None,
    request=None,
) -> dict:
    """Parse and apply a file in one transaction; bump the version, audit, and schedule
    the re-matching of past items. Raises ImportFileError / HashListError (no change)."""
    rows = parse_bytes(data, fmt, hex64=hex64, file_name=file_name)
    _report_progress(hash_import, 0, len(rows))
    with transaction.atomic():
        locked = HashList.objects.select_for_update().get(pk=hash_list.pk)
        summary = apply_records(locked, rows, hash_import=hash_import)
        if summary["added"] or summary["updated"] or summary["tombstoned"]:
            bump_version(locked)
            schedule_rematch(locked, reason="import", agency_ids=list_user_ids(locked))
        audit_record(
            "hashlist.imported",
            agency=locked.agency,
            actor=user,
            obj=locked,
            data={
                "file": file_name,
                "format": fmt,
                **{k: summary[k] for k in ("added", "updated", "skipped", "tombstoned")},
                "bad_rows": summary["bad_rows"],
            },
            request=request,
        )
        if hash_import is not None:
            HashImport.objects.filter(pk=hash_import.pk).update(
                status=HashImport.Status.DONE,
                processed=len(rows),
                total=len(rows),
                summary=summary,
                finished_at=timezone.now(),
            )
    hash_list.version = locked.version
    return summary


# --- background imports ----------------------------------------------------------------


def import_dir() -> Path:
    path = Path(settings.DATA_DIR) / "hash-imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def hashimport_create(
    *, hash_list: HashList, user, uploaded_file, fmt: str, hex64: str = "sha256", request=None
) -> HashImport:
    """Store the upload, create the job row, and queue the import after commit."""
    if fmt not in FORMATS:
        raise HashListError(f"Unknown format {fmt!r}.")
    with transaction.atomic():
        hash_import = HashImport.objects.create(
            hash_list=hash_list,
            file_name=(getattr(uploaded_file, "name", "") or "upload")[:300],
            storage_path="",
            format=fmt if fmt != "auto" else "auto",
            created_by=user,
            summary={"hex64": hex64},
        )
        path = import_dir() / f"{hash_import.uuid}.upload"
        with open(path, "wb") as out:
            for chunk in uploaded_file.chunks():
                out.write(chunk)
        hash_import.storage_path = str(path)
        hash_import.save(update_fields=["storage_path"])
        audit_record(
            "hashlist.import_queued",
            agency=hash_list.agency,
            actor=user,
            obj=hash_list,
            data={"file": hash_import.file_name, "format": fmt, "import": str(hash_import.uuid)},
            request=request,
        )

        def enqueue():
            from triage.matching.tasks import run_import

            run_import.delay(hash_import.id)

        transaction.on_commit(enqueue)
    return hash_import


def hashimport_run(hash_import_id: int) -> None:
    """Run one queued import (idempotent: only a PENDING import is claimed)."""
    claimed = HashImport.objects.filter(pk=hash_import_id, status=HashImport.Status.PENDING).update(
        status=HashImport.Status.RUNNING
    )
    if not claimed:
        return
    hash_import = HashImport.objects.select_related("hash_list", "created_by").get(
        pk=hash_import_id
    )
    path = Path(hash_import.storage_path)
    try:
        data = path.read_bytes()
        import_bytes(
            hash_import.hash_list,
            data,
            hash_import.format,
            user=hash_import.created_by,
            hex64=(hash_import.summary or {}).get("hex64", "sha256"),
            file_name=hash_import.file_name,
            hash_import=hash_import,
        )
    except (ImportFileError, HashListError, OSError) as exc:
        HashImport.objects.filter(pk=hash_import.pk).update(
            status=HashImport.Status.FAILED, error=str(exc), finished_at=timezone.now()
        )
    except Exception as exc:
        log.exception("hash import %s errored", hash_import.uuid)
        HashImport.objects.filter(pk=hash_import.pk).update(
            status=HashImport.Status.FAILED,
            error=f"Unexpected error: {exc.__class__.__name__}",
            finished_at=timezone.now(),
        )
    finally:
        cache.delete(_progress_key(hash_import.id))
        path.unlink(missing_ok=True)  # the summary is kept; the file is not needed
