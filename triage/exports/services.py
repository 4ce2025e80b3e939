"""Writes of the exports area: create an export job (row first, task after commit), build
its folder, record downloads. Each state change writes its audit row in the same
transaction.

An export folder lives under ``EVIDENCE_ROOT/<agency uuid>/exports/<job uuid>/`` (never
under a public URL) with ``<job uuid>.zip`` next to it for download. It is built in a
``.tmp-`` folder and renamed into place, so a folder that exists is complete."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import zipfile
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from hub.audit import audit_record
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
from triage.models import Blob, ExportJob

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
