"""Evidence upload and batch pages.

The upload streams to disk (TemporaryFileUploadHandler above 2 MiB) and each file is
*moved* into the evidence store by ``batch_add_file``, so a large exhibit is never held in
memory nor copied twice. The agency's ``max_upload_bytes`` is enforced by an upload
handler while the body is read, before anything reaches the store."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import PurePosixPath

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import RequestDataTooBig, TooManyFilesSent
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.core.paginator import Paginator
from django.db.models import BooleanField, ExpressionWrapper
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from hub.access import agency_required
from hub.models import Role
from hub.policy import policy_for
from triage import selectors
from triage.access import batch_for, case_for
from triage.archives import printable, shortened
from triage.forms import SHA256_RE, UploadForm
from triage.services import intake

ITEMS_PER_PAGE = 50


class UploadSizeLimit(FileUploadHandler):
    """First upload handler: stops reading file data past the agency's limit. Placed
    before the temporary-file handler, so the excess never reaches the disk."""

    def __init__(self, request, limit: int):
        super().__init__(request)
        self.limit = limit
        self.received = 0
        self.exceeded = False

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length and content_length > self.limit:
            self.exceeded = True

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        if self.exceeded:
            # Discard the rest of the body without storing it, so the browser still
            # receives the explanation instead of a reset connection.
            raise StopUpload(connection_reset=False)

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.exceeded = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size):
        return None


def _wants_json(request) -> bool:
    return request.headers.get("X-Requested-With") == "XMLHttpRequest"


def _clean_relative_path(raw: str) -> str | None:
    """A folder upload's relative path, as provenance: forward slashes, no empty, '.'
    or '..' parts. None when nothing usable is left."""
    parts = [p for p in raw.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return str(PurePosixPath(*parts)) if parts else None


def _manifest(request, count: int) -> list[dict]:
    """Per-file extras sent by upload.js as ONE JSON field ("manifest": a list of
    {"path", "sha256"} in file order), so that 5,000 files do not hit Django's
    DATA_UPLOAD_MAX_NUMBER_FIELDS. Ignored unless it has exactly one entry per file (a
    plain form post sends none)."""
    blank = [{} for _ in range(count)]
    raw = request.POST.get("manifest", "")
    if not raw:
        return blank
    try:
        entries = json.loads(raw)
    except ValueError:
        return blank
    if not isinstance(entries, list) or len(entries) != count:
        return blank
    return [e if isinstance(e, dict) else {} for e in entries]


def _store(batch, uploaded, relative_path: str | None, client_sha256: str | None):
    """Hand one uploaded file to the intake service, moving it rather than copying."""
    if hasattr(uploaded, "temporary_file_path"):
        return intake.batch_add_file(
            batch=batch,
            src_path=uploaded.temporary_file_path(),
            name=uploaded.name,
            relative_path=relative_path,
            client_sha256=client_sha256,
            move=True,
        )
    # Small files arrive in memory: spill them to the upload area (same filesystem as the
    # temporary uploads) so the service has one path-based way in.
    fd, tmp_path = tempfile.mkstemp(dir=settings.UPLOAD_TEMP_ROOT, prefix="mem-")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in uploaded.chunks():
                out.write(chunk)
        return intake.batch_add_file(
            batch=batch,
            src_path=tmp_path,
            name=uploaded.name,
            relative_path=relative_path,
            client_sha256=client_sha256,
            move=True,
        )
    finally:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)


def _upload_error(request, case, form, error: str, status: int):
    if _wants_json(request):
        return JsonResponse({"errors": [error]}, status=status)
    if form is None:
        form = UploadForm()
    form.add_error(None, error)
    return render(
        request, "triage/batches/upload.html", _upload_context(request, case, form), status=status
    )


def _upload_context(request, case, form):
    return {
        "case": case,
        "form": form,
        "max_upload_bytes": policy_for(request.agency).max_upload_bytes,
        "max_files": settings.DATA_UPLOAD_MAX_NUMBER_FILES,
    }


@csrf_exempt  # checked by _batch_upload below, once the upload handlers are in place
@agency_required(Role.INVESTIGATOR)
@require_http_methods(["GET", "POST"])
def batch_upload(request, case):
    # Access first: nobody streams a body to disk for a case they cannot see.
    case = case_for(request, case)
    limiter = None
    if request.method == "POST":
        limiter = UploadSizeLimit(request, policy_for(request.agency).max_upload_bytes)
        request.upload_handlers.insert(0, limiter)
    return _batch_upload(request, case, limiter)


@csrf_protect
def _batch_upload(request, case, limiter):
    if request.method != "POST":
        return render(
            request, "triage/batches/upload.html", _upload_context(request, case, UploadForm())
        )
    if case.is_closed:
        return _upload_error(request, case, None, "This case is closed; reopen it first.", 409)
    try:
        form = UploadForm(request.POST, request.FILES)
        form.is_valid()
    except TooManyFilesSent:
        return _upload_error(
            request,
            case,
            None,
            f"Too many files in one upload (the limit is "
            f"{settings.DATA_UPLOAD_MAX_NUMBER_FILES}). Upload a zip or tar archive instead.",
            400,
        )
    except RequestDataTooBig:
        return _upload_error(request, case, None, "The form fields are too large.", 400)
    if limiter is not None and limiter.exceeded:
        limit = limiter.limit
        return _upload_error(
            request,
            case,
            UploadForm(request.POST),
            f"This upload is larger than your agency allows in one upload "
            f"({filesizeformat(limit)}). Split it into several uploads, or ask an admin to "
            f"raise the limit.",
            413,
        )
    if not form.is_valid():
        if _wants_json(request):
            errors = [e for errs in form.errors.values() for e in errs]
            return JsonResponse({"errors": errors}, status=400)
        return render(
            request, "triage/batches/upload.html", _upload_context(request, case, form), status=400
        )

    files = form.cleaned_data["files"]
    folder = form.cleaned_data["folder"]
    # upload.js sends everything as "files" plus a manifest of relative paths and hashes;
    # a plain form post keeps only the names (browsers strip folder paths there).
    extras = _manifest(request, len(files)) + [{} for _ in folder]

    batch = intake.batch_create(
        case=case,
        user=request.user,
        exhibit_ref=form.cleaned_data["exhibit_ref"],
        note=form.cleaned_data["note"],
        source="web",
    )
    accepted, rejected = 0, []
    for uploaded, extra in zip([*files, *folder], extras, strict=True):
        raw_path = str(extra.get("path") or "")
        client_sha = str(extra.get("sha256") or "").strip().lower() or None
        shown_name = shortened(printable(raw_path or uploaded.name))
        if client_sha is not None and not SHA256_RE.match(client_sha):
            rejected.append({"name": shown_name, "reason": "The browser's SHA-256 is malformed."})
            continue
        try:
            _store(batch, uploaded, _clean_relative_path(raw_path), client_sha)
        except intake.IntakeRejected as exc:
            rejected.append({"name": shown_name, "reason": str(exc)})
        else:
            accepted += 1
    intake.batch_submit(batch=batch, user=request.user)

    if accepted:
        messages.success(request, f"{accepted} file(s) received; processing has started.")
    for r in rejected:
        messages.error(request, f"{r['name']} was rejected: {r['reason']}")
    url = reverse("triage:batch_detail", kwargs={"batch": batch.uuid})
    if _wants_json(request):
        return JsonResponse({"redirect": url, "accepted": accepted, "rejected": rejected})
    return redirect(url)


def _progress_context(batch):
    progress = intake.batch_progress(batch)
    total = progress.get("found", 0) or 0
    finished = (progress.get("done", 0) or 0) + (progress.get("failed", 0) or 0)
    # What a person asks of an upload: how many items are known material, and how many
    # wait for review (the case's review page takes them).
    return {
        "batch": batch,
        "progress": progress,
        "known_matches": progress["known"],
        "awaiting_review": progress["awaiting_review"],
        "review_open": progress["awaiting_review"] > 0 and not batch.case.is_closed,
        "finished": finished,
        "percent": int(100 * finished / total)
        if total
        else (100 if progress["is_complete"] else 0),
        "polling": not progress["is_complete"] and batch.status != batch.Status.REFUSED,
    }


@agency_required(Role.INVESTIGATOR)
@require_http_methods(["GET"])
def batch_detail(request, batch):
    batch = batch_for(request, batch)
    show = request.GET.get("show", "all")
    if show not in ("all", "failed", "known"):
        show = "all"
    items = selectors.batch_items(batch, show=show).annotate(
        # Its known_state is an answer, not the field's default, once matching ran.
        match_checked=ExpressionWrapper(
            intake.past_stage("match", stopped_too=True), output_field=BooleanField()
        )
    )
    page = Paginator(items, ITEMS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        **_progress_context(batch),
        "case": batch.case,
        "failures": selectors.batch_failures(batch),
        "page": page,
        "show": show,
    }
    return render(request, "triage/batches/detail.html", context)


@agency_required(Role.INVESTIGATOR)
@require_http_methods(["GET"])
def batch_progress(request, batch):
    """The htmx progress fragment. Polled every 2 s while the batch runs; once it is
    complete, a poll asks htmx to reload the page so the final lists appear."""
    batch = batch_for(request, batch)
    context = _progress_context(batch)
    response = render(request, "triage/partials/batch_progress.html", context)
    if request.GET.get("live") == "1" and not context["polling"]:
        response["HX-Refresh"] = "true"
    return response
