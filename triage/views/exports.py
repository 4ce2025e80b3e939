"""Export pages: create an export of a case (or one upload), its progress (an htmx
fragment of the same view), the case's list of exports, the zip download, and deleting an
export's files by hand.

Who may: supervisors and admins of the agency, and investigators on the case, exactly the
people who see the case (``triage.access``); anyone else gets a 404. Deleting is for the
export's creator or a supervisor or admin (``selectors.may_delete``); another investigator
on the case gets a 403. Every response is ``Cache-Control: no-store``: an export lists
evidence hashes and reviewer decisions. An expired export's download answers 410 Gone."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from hub.access import agency_required
from hub.models import Role
from triage.access import batch_for, case_for
from triage.exports import manifest as manifest_mod
from triage.exports import selectors, services
from triage.models import ExportJob


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


@never_cache
@agency_required(Role.INVESTIGATOR)
@require_http_methods(["POST"])
def export_create(request, case):
    case = case_for(request, case)
    batch = None
    if request.POST.get("batch"):
        batch = batch_for(request, request.POST["batch"])
        if batch.case_id != case.pk:
            raise Http404("Not found")
    try:
        job = services.export_create(case=case, user=request.user, batch=batch, request=request)
    except services.ExportRefused as exc:
        messages.error(request, str(exc))
    else:
        if _is_htmx(request):
            messages.success(request, "Export started: it appears below when it is ready.")
            return _list_response(request, case)
        messages.success(request, "Export started: this page shows its progress.")
        return redirect("triage:export_detail", export=job.uuid)
    return redirect("triage:case_detail", case=case.uuid)


def _with_permissions(request, jobs):
    """The jobs, each told whether the requester may delete it (for its row's button)."""
    for job in jobs:
        job.may_delete = selectors.may_delete(request, job)
    return jobs


def _list_response(request, case):
    return render(
        request,
        "triage/exports/_list.html",
        {
            "case": case,
            "exports": _with_permissions(request, list(selectors.case_exports(case)[:50])),
        },
    )


def _signing_context(request) -> dict:
    """The agency's manifest-signing public key and its export retention, for the page."""
    return {
        "signing_key": manifest_mod.agency_signing_key(str(request.agency.uuid)),
        "export_retention_days": request.agency.policy.export_retention_days,
    }


@never_cache
@agency_required(Role.INVESTIGATOR)
@require_http_methods(["GET"])
def export_list(request, case):
    """The case's exports: a fragment for the case page (htmx), or a page of its own."""
    case = case_for(request, case)
    if _is_htmx(request):
        return _list_response(request, case)
    return render(
        request,
        "triage/exports/list.html",
        {
            "case": case,
            "exports": _with_permissions(request, list(selectors.case_exports(case)[:200])),
            "batches": list(case.batches.order_by("created_at")),
            **_signing_context(request),
        },
    )


@never_cache
@agency_required(Role.INVESTIGATOR)
@require_http_methods(["GET"])
def export_detail(request, export):
    job = selectors.export_for(request, export)
    _with_permissions(request, [job])
    if _is_htmx(request):
        return render(request, "triage/exports/_row.html", {"job": job})
    files = []
    if job.status == ExportJob.Status.DONE:
        try:
            with open(services.export_folder(job) / manifest_mod.MANIFEST, encoding="utf-8") as fh:
                files = json.load(fh).get("files", [])
        except (OSError, ValueError):
            files = []
    return render(
        request,
        "triage/exports/detail.html",
        {"job": job, "case": job.case, "files": files, **_signing_context(request)},
    )


def _gone(request, job):
    return render(
        request,
        "triage/exports/gone.html",
        {"job": job, "case": job.case, "message": services.gone_message(job)},
        status=410,
    )


@never_cache
@agency_required(Role.INVESTIGATOR)
@require_http_methods(["GET"])
def export_download(request, export):
    job = selectors.export_for(request, export)
    if job.is_expired:
        return _gone(request, job)
    if job.status != ExportJob.Status.DONE:
        raise Http404("This export is not ready.")
    try:
        handle = open(services.export_zip(job), "rb")  # noqa: SIM115 (FileResponse closes it)
    except OSError:
        job.refresh_from_db(fields=["status", "expired_at"])
        if job.is_expired:  # deleted since it was loaded above
            return _gone(request, job)
        raise Http404("The export file is missing.") from None
    services.export_download_record(job=job, request=request)
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=services.download_name(job),
        content_type="application/zip",
    )
    response["Cache-Control"] = "no-store, private"
    return response


@never_cache
@agency_required(Role.INVESTIGATOR)
@require_http_methods(["POST"])
def export_delete(request, export):
    """Delete a finished export's files now (audited ``export.deleted``); the row stays,
    expired. htmx gets the export's row back; a plain form goes back to the list."""
    job = selectors.export_for(request, export)
    if not selectors.may_delete(request, job):
        raise PermissionDenied(
            "Only the person who made this export, a supervisor or an admin may delete it."
        )
    try:
        deleted = services.export_delete(job=job, user=request.user, request=request)
    except services.ExportNotDeletable as exc:
        messages.error(request, str(exc))
    else:
        if deleted:
            messages.success(request, "Export deleted: its folder and zip no longer exist.")
        else:
            messages.info(request, "This export's files were deleted already.")
    if _is_htmx(request):
        job.refresh_from_db()
        _with_permissions(request, [job])
        return render(request, "triage/exports/_row.html", {"job": job})
    return redirect("triage:export_list", case=job.case.uuid)
