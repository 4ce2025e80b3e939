"""Writes of the exports area: create an export job (row first, task after commit), build
its folder, record downloads, delete its files (retention, or by hand). Each state change
writes its audit row in the same transaction.

An export folder lives under ``EVIDENCE_ROOT/<agency uuid>/exports/<job uuid>/`` (never
under a public URL) with ``<job uuid>.zip`` next to it for download. It is built in a
``.tmp-`` folder and renamed into place, so a folder that exists is complete.

An export is a copy of evidence-derived material, so it does not stay forever: the hourly
``expire_exports`` deletes the files of every finished export older than its agency's
``export_retention_days`` (0 keeps them), and its creator or a supervisor may delete them
sooner (``export_delete``). Both go through ``_expire``: the row stays, EXPIRED, as the
record of what was exported; downloading it then answers 410 Gone."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import zipfile
from datetime import timedelta
from pathlib import Path, PurePosixPath

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from hub.audit import audit_record
from hub.models import Agency
from triage import storage
from triage.exports import manifest as manifest_mod
from triage.exports.csv_items import write_items_csv
from triage.exports.fixity import blobs_of_items, fixity_check
from triage.exports.report import (
    pdf_available,
    report_context,
    write_report_html,
    write_report_pdf,
)
from triage.exports.selectors import export_items, item_rows
from triage.exports.vics_case import write_vics
from triage.models import Blob, Case, ExportJob

log = logging.getLogger(__name__)


class ExportRefused(Exception):
    """The export cannot be made; ``str(exc)`` says why, for a person."""


def fixity_refusal(count: int) -> str:
    return (
        f"Export refused: {count} stored original{'s' if count != 1 else ''} of this case "
        "failed the fixity check (changed or missing since intake). Tell your hub "
        "administrator; the audit log names each file."
    )


def export_create(*, case, user, batch=None, request=None) -> ExportJob:
    """Record an export job of ``case`` (or of one ``batch`` of it) and queue it."""
    from triage.exports.tasks import run_export

    if batch is not None and batch.case_id != case.pk:
        raise ExportRefused("That upload belongs to another case.")
    job = ExportJob(agency_id=case.agency_id, case=case, batch=batch, created_by=user)
    job.kind = ExportJob.Kind.BATCH if batch is not None else ExportJob.Kind.CASE
    known_bad = blobs_of_items(export_items(job)).filter(fixity_ok=False).count()
    if known_bad:
        raise ExportRefused(fixity_refusal(known_bad))
    with transaction.atomic():
        job.save()
        audit_record(
            "export.created",
            agency=case.agency,
            actor=user,
            obj=job,
            request=request,
            data={
                "case": str(case.uuid),
                "batch": str(batch.uuid) if batch is not None else None,
                "kind": job.kind,
            },
        )
        job_id = job.pk
        transaction.on_commit(lambda: run_export.delay(job_id))
    return job


def export_folder(job: ExportJob) -> Path:
    return storage.absolute(job.folder)


def export_zip(job: ExportJob) -> Path:
    return storage.absolute(job.folder + ".zip")


def _set_progress(job: ExportJob, percent: int) -> None:
    ExportJob.objects.filter(pk=job.pk).update(progress=percent)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "case"


def download_name(job: ExportJob) -> str:
    return f"export-{_safe(job.case.reference)}-{str(job.uuid)[:8]}.zip"


def export_run(job_id: int) -> None:
    """Build the export: fixity of every original it describes, then the files, the signed
    manifest and the zip. Idempotent: only a PENDING job is claimed."""
    if not ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.PENDING).update(
        status=ExportJob.Status.RUNNING, progress=1
    ):
        return
    job = ExportJob.objects.select_related("agency", "case", "batch", "created_by").get(pk=job_id)
    relative = f"{job.agency.uuid}/exports/{job.uuid}"
    final = storage.absolute(relative)
    temp = final.with_name(f".tmp-{job.uuid}")
    try:
        report = fixity_check(
            blobs_of_items(export_items(job)),
            actor=job.created_by,
            on_progress=lambda done, total: _set_progress(job, 1 + 29 * done // max(total, 1)),
        )
        if not report.ok:
            _finish(
                job,
                ExportJob.Status.REFUSED,
                "export.refused",
                error=fixity_refusal(len(report.failures)),
                data={"fixity_failures": [f.sha256 for f in report.failures]},
            )
            return
        _set_progress(job, 30)
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(parents=True)
        counts = write_vics(job, temp / "vics.json")
        _set_progress(job, 45)
        rows = write_items_csv(job, temp / "items.csv")
        _set_progress(job, 60)
        context = report_context(job)
        write_report_html(context, temp / "report.html")
        names = ["vics.json", "items.csv", "report.html"]
        _set_progress(job, 75)
        if pdf_available():
            context["rows"] = item_rows(job)
            write_report_pdf(context, temp / "report.pdf")
            names.append("report.pdf")
        _set_progress(job, 90)
        signed = _write_manifest(job, temp, names, items=rows, media=counts["media"])
        if final.exists():  # a redelivered task after a crash between rename and commit
            shutil.rmtree(final)
        os.replace(temp, final)
        _write_zip(job, final, storage.absolute(relative + ".zip"))
        job.folder = relative
        _finish(
            job,
            ExportJob.Status.DONE,
            "export.completed",
            data={
                "files": signed["files"],
                "signature": signed["signature"]["value"],
                "ed25519_public_key": signed["signature"]["ed25519"]["public_key"],
                "items": rows,
            },
        )
    except Exception as exc:
        log.exception("export %s failed", job.uuid)
        shutil.rmtree(temp, ignore_errors=True)
        _finish(job, ExportJob.Status.FAILED, "export.failed", error=f"{type(exc).__name__}: {exc}")


def _write_manifest(job: ExportJob, folder: Path, names: list[str], **counts) -> dict:
    body = {
        "format": manifest_mod.FORMAT,
        "export": str(job.uuid),
        "agency": {"uuid": str(job.agency.uuid), "name": job.agency.name},
        "case": {
            "uuid": str(job.case.uuid),
            "reference": job.case.reference,
            "title": job.case.title,
        },
        "batch": (
            {"uuid": str(job.batch.uuid), "exhibit_ref": job.batch.exhibit_ref}
            if job.batch
            else None
        ),
        "created_at": timezone.now().isoformat(),
        "created_by": job.created_by.username if job.created_by else "system",
        "counts": counts,
        "files": [manifest_mod.file_entry(folder / name, name) for name in names],
    }
    signed = manifest_mod.sign(body, str(job.agency.uuid))
    with open(folder / manifest_mod.MANIFEST, "w", encoding="utf-8") as fh:
        json.dump(signed, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    return signed


def _write_zip(job: ExportJob, folder: Path, target: Path) -> None:
    top = download_name(job).removesuffix(".zip")
    temp = target.with_name(f".tmp-{target.name}")
    with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, f"{top}/{path.name}")
    os.replace(temp, target)


def _finish(job: ExportJob, status: str, action: str, *, error: str = "", data=None) -> None:
    with transaction.atomic():
        job.status = status
        job.error = error
        job.finished_at = timezone.now()
        if status == ExportJob.Status.DONE:
            job.progress = 100
        job.save(update_fields=["status", "error", "finished_at", "progress", "folder"])
        audit_record(
            action,
            agency=job.agency,
            actor=job.created_by,
            obj=job,
            data={"case": str(job.case.uuid), "error": error, **(data or {})},
        )


def export_download_record(*, job: ExportJob, request, file: str = "", via: str = "") -> None:
    data = {"case": str(job.case.uuid), "file": file or download_name(job)}
    if via:
        data["via"] = via
    audit_record("export.downloaded", agency=job.agency, obj=job, request=request, data=data)


# --- the files of a finished export --------------------------------------------------

# What a client may download from a finished export: the whole signed bundle (the zip) or
# one file of it. key -> (file name in the export folder, content type).
EXPORT_FILES = {
    "bundle": ("", "application/zip"),
    "vics": ("vics.json", "application/json"),
    "csv": ("items.csv", "text/csv"),
    "report": ("report.html", "text/html"),
    "report_pdf": ("report.pdf", "application/pdf"),
    "manifest": (manifest_mod.MANIFEST, "application/json"),
}


class ExportNotAvailable(Exception):
    """The export (or the file asked for) cannot be downloaded; ``str(exc)`` says why."""


def gone_message(job: ExportJob) -> str:
    when = timezone.localdate(job.expired_at).isoformat() if job.expired_at else "an earlier day"
    days = job.kept_days
    kept = f" (kept {days} day{'s' if days != 1 else ''})" if days is not None else ""
    return (
        f"This export was deleted on {when}{kept}, by the agency's export retention or by "
        "hand: its files cannot be downloaded any more. Start a new export of the case if "
        "you need one."
    )


def export_manifest(job: ExportJob) -> dict:
    """The signed manifest of a finished export ({} when it cannot be read)."""
    if job.status != ExportJob.Status.DONE or not job.folder:
        return {}
    try:
        with open(export_folder(job) / manifest_mod.MANIFEST, encoding="utf-8") as fh:
            manifest = json.load(fh)
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def export_file(job: ExportJob, key: str) -> tuple[Path, str, str]:
    """(path, download name, content type) of one downloadable file of a finished export,
    or ExportNotAvailable saying why not."""
    if key not in EXPORT_FILES:
        raise ExportNotAvailable(f"Unknown export file {key!r}: choose {', '.join(EXPORT_FILES)}.")
    if job.status != ExportJob.Status.DONE or not job.folder:
        raise ExportNotAvailable(f"This export is not ready (status: {job.status}).")
    name, content_type = EXPORT_FILES[key]
    if not name:
        path, download = export_zip(job), download_name(job)
    else:
        path = export_folder(job) / name
        download = f"{download_name(job).removesuffix('.zip')}-{name}"
    if not path.is_file():
        raise ExportNotAvailable(
            f"This export has no {name or 'zip'} (a PDF needs the PDF library on the server)."
            if key == "report_pdf"
            else f"The export's {name or 'zip'} is missing from storage: tell your hub "
            "administrator."
        )
    return path, download, content_type


def known_fixity_failures(agency=None) -> int:
    blobs = Blob.objects.filter(fixity_ok=False)
    return (blobs if agency is None else blobs.filter(agency=agency)).count()


# --- deleting an export's files: retention and by hand -------------------------------


class ExportNotDeletable(Exception):
    """The export cannot be deleted now; ``str(exc)`` says why, for a person."""


def _exports_dir(agency) -> Path:
    # storage.absolute resolves the path and refuses one that leaves EVIDENCE_ROOT (a
    # symlinked exports folder pointing elsewhere): nothing is then deleted.
    return storage.absolute(f"{agency.uuid}/exports")


def _export_names(job: ExportJob, agency) -> set[str]:
    """The names inside the agency's exports folder that belong to ``job``: its folder and
    zip and the temp names a crashed build leaves, derived from the UUIDs; and the name
    ``job.folder`` gives, only when it is a plain name in that folder."""
    names = {str(job.uuid), f".tmp-{job.uuid}"}
    if job.folder:
        parts = PurePosixPath(job.folder).parts
        if len(parts) == 3 and parts[:2] == (str(agency.uuid), "exports") and parts[2] != "..":
            names.add(parts[2])
        else:
            log.warning("export %s: folder %r is not in its agency's exports", job.uuid, job.folder)
    return names | {f"{name}.zip" for name in names}


def _remove(path: Path) -> bool:
    """Remove a folder (its tree), a file, or a symlink (the link only, never what it
    points at). False when there was nothing to remove."""
    try:
        if path.is_symlink() or not path.is_dir():
            path.unlink()
        else:
            shutil.rmtree(path)
    except FileNotFoundError:
        return False
    return True


def _delete_files(job: ExportJob, agency) -> list[str]:
    """Delete what ``job`` has on disk; the relative paths removed. Missing files are
    fine; any other OSError propagates (and the caller's transaction rolls back)."""
    base = _exports_dir(agency)
    removed = []
    for name in sorted(_export_names(job, agency)):
        if _remove(base / name):
            removed.append(f"{agency.uuid}/exports/{name}")
    return removed


def _expire(job_id: int, *, action: str, now, actor=None, request=None, data=None) -> bool:
    """Delete one finished export's files and mark it EXPIRED, with its audit row, in one
    transaction. False when it is not (or no longer) a finished export, or another run
    holds it. A failed deletion rolls the row back: the next run tries again."""
    with transaction.atomic():
        # PostgreSQL: a row another sweep (or a click) holds is skipped, not waited for.
        # SQLite has no FOR UPDATE; there the conditional update below is the claim.
        job = (
            ExportJob.objects.select_for_update(skip_locked=True)
            .filter(pk=job_id, status__in=ExportJob.DELETABLE)
            .first()
        )
        if job is None:
            return False
        claimed = ExportJob.objects.filter(pk=job.pk, status=job.status).update(
            status=ExportJob.Status.EXPIRED, expired_at=now
        )
        if not claimed:
            return False
        agency = Agency.objects.get(pk=job.agency_id)
        removed = _delete_files(job, agency)
        before = job.status
        job.status, job.expired_at = ExportJob.Status.EXPIRED, now
        audit_record(
            action,
            agency=agency,
            actor=actor,
            obj=job,
            request=request,
            data={
                "case": str(Case.objects.values_list("uuid", flat=True).get(pk=job.case_id)),
                "status_before": before,
                "finished_at": job.finished_at,
                "removed": removed,
                **(data or {}),
            },
        )
    return True


def export_delete(*, job: ExportJob, user, request=None) -> bool:
    """Delete a finished export's files now, by hand (who may is the caller's check:
    ``selectors.may_delete``). False when they were deleted already; ExportNotDeletable
    while the export is still being made."""
    if job.is_active:
        raise ExportNotDeletable("This export is still being made: delete it when it has finished.")
    try:
        return _expire(
            job.pk,
            action="export.deleted",
            now=timezone.now(),
            actor=user,
            request=request,
            data={"reason": "deleted by hand"},
        )
    except (OSError, ValueError) as exc:
        log.exception("export %s: its files could not be deleted", job.uuid)
        raise ExportNotDeletable(
            f"The export's files could not be deleted ({type(exc).__name__}): nothing was "
            "changed. Tell your hub administrator."
        ) from None


def _export_retention_days(agency) -> int:
    days = agency.policy.export_retention_days
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        # Only a hand-edited settings row can hold this (the form validates): keep that
        # agency's exports rather than guess, and say so in the log.
        log.error("agency %s: export_retention_days %r is not a whole number", agency.slug, days)
        return 0
    return days


def expire_exports(now=None) -> int:
    """Delete the files of every finished (done, refused or failed) export older than its
    agency's ``export_retention_days``, counted from when it finished (or was created);
    0 keeps an agency's exports. Returns how many were expired. Idempotent, and safe to
    run twice at once: each export is claimed under a row lock (``_expire``). A deletion
    that fails is logged and retried on the next run; the others go on."""
    now = now or timezone.now()
    expired = 0
    for agency in Agency.objects.order_by("pk"):
        days = _export_retention_days(agency)
        if not days:
            continue
        cutoff = now - timedelta(days=days)
        due = (
            ExportJob.objects.filter(agency=agency, status__in=ExportJob.DELETABLE)
            .filter(Q(finished_at__lt=cutoff) | Q(finished_at=None, created_at__lt=cutoff))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for job_id in list(due):
            try:
                done = _expire(
                    job_id,
                    action="export.expired",
                    now=now,
                    data={"reason": "retention", "retention_days": days},
                )
            except (OSError, ValueError):  # ValueError: a path that leaves the store
                log.exception("export %s: its files could not be deleted", job_id)
                continue
            expired += done
    return expired
