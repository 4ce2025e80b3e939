"""Evidence serving. No public media URL exists: every byte of evidence (original or
derivative) leaves through these views, after the agency and case-visibility check, with
``no-store`` caching and an ``evidence.served`` audit row."""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse
from django.views.decorators.http import require_http_methods
from PIL import Image

from hub.access import agency_required
from hub.audit import audit_record
from hub.models import Role
from triage.access import item_for
from triage.media import thumbs
from triage.models import Derivative
from triage.review.selectors import viewing_prefs

logger = logging.getLogger(__name__)


def _evidence_file(relative: str) -> Path:
    """Resolve a stored path strictly inside EVIDENCE_ROOT (a crafted path is a 404)."""
    root = Path(settings.EVIDENCE_ROOT).resolve()
    full = (root / relative).resolve()
    if not relative or not full.is_relative_to(root) or not full.is_file():
        raise Http404("Not found")
    return full


def _serve(
    request, item, full: Path, *, kind: str, content_type: str, attachment: bool, gray=False
):
    data = {"kind": kind, "case": str(item.case.uuid)}
    if gray:
        # A derivative turned grayscale for the viewer (a few ms for a 640 px sheet). One
        # that does not decode is not sent at all (its colour is unknown).
        try:
            content = thumbs.grayscale_jpeg(full.read_bytes())
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            logger.warning("derivative %s of item %s does not decode: %s", kind, item.uuid, exc)
            raise Http404("Not found") from exc
        response = HttpResponse(content, content_type="image/jpeg")
        response["Content-Disposition"] = f'inline; filename="{item.uuid}-{kind}.jpg"'
        data["grayscale"] = True
    else:
        response = FileResponse(
            full.open("rb"),
            as_attachment=attachment,
            filename=item.original_name if attachment else f"{item.uuid}-{kind}{full.suffix}",
            content_type=content_type,
        )
    audit_record("evidence.served", agency=request.agency, obj=item, request=request, data=data)
    response["Cache-Control"] = "no-store, private"
    response["Pragma"] = "no-cache"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@agency_required(Role.INVESTIGATOR)
@require_http_methods(["GET"])
def item_thumb(request, item, kind):
    item = item_for(request, item)
    if kind not in Derivative.Kind.values:
        raise Http404("Not found")
    derivative = item.derivatives.filter(kind=kind).first()
    if derivative is None:
        raise Http404("Not found")
    full = _evidence_file(derivative.storage_path)
    content_type = mimetypes.guess_type(full.name)[0] or "image/jpeg"
    if not content_type.startswith("image/"):
        content_type = "application/octet-stream"
    # Sharp derivatives keep their colour on disk; a viewer who prefers grayscale gets it
    # from the server (the blurred derivative is grayscale already).
    gray = (
        kind in (Derivative.Kind.THUMB, Derivative.Kind.CONTACT_SHEET)
        and content_type.startswith("image/")
        and viewing_prefs(request.user, request.agency)["gray"]
    )
    return _serve(
        request, item, full, kind=kind, content_type=content_type, attachment=False, gray=gray
    )


@agency_required(Role.INVESTIGATOR)
@require_http_methods(["GET"])
def item_original(request, item):
    """The original, always as a download (never rendered inline by the browser)."""
    item = item_for(request, item)
    if item.blob is None:
        raise Http404("Not found")
    full = _evidence_file(item.blob.storage_path)
    return _serve(
        request,
        item,
        full,
        kind="original",
        content_type="application/octet-stream",
        attachment=True,
    )
