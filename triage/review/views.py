"""Inline video playback for the review screen.

The original of a video item, served only after the agency and case-visibility check
(``triage.access.item_for``), never cached (``no-store``), inline with its sniffed video
type (never as HTML, ``nosniff``) and with HTTP ``Range`` support so that ``<video>`` can
seek. Each load of the video (a request from its first byte) is an ``evidence.served``
audit row; every play and its length is recorded as exposure by ``static/js/review.js``
through ``review_exposure`` (``evidence.video_played``)."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_http_methods

from hub.access import agency_required
from hub.audit import audit_record
from hub.models import Role
from triage.access import item_for

CHUNK = 256 * 1024
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def playable(item) -> bool:
    """A video item whose original the browser may be able to play inline."""
    return (
        item.media_kind == "video"
        and item.blob_id is not None
        and (item.media_type or "").startswith("video/")
    )


def _original(item) -> Path:
    root = Path(settings.EVIDENCE_ROOT).resolve()
    relative = item.blob.storage_path
    full = (root / relative).resolve()
    if not relative or not full.is_relative_to(root) or not full.is_file():
        raise Http404("Not found")
    return full


def parse_range(header: str, size: int) -> tuple[int, int] | None | bool:
    """``(first, last)`` byte positions of a single ``bytes=`` range; ``None`` when there
    is no usable range header (serve everything); ``False`` when it cannot be satisfied."""
    match = RANGE.match((header or "").strip())
    if not match:
        return None  # absent, several ranges or another unit: the whole file (RFC 9110)
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = int(last)
        if length == 0:
            return False
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return False
    return start, end


def _stream(path: Path, start: int, length: int):
    with path.open("rb") as handle:
        handle.seek(start)
        left = length
        while left > 0:
            block = handle.read(min(CHUNK, left))
            if not block:
                return
            left -= len(block)
            yield block


def _no_store(response, content_type: str):
    response["Cache-Control"] = "no-store, private"
    response["Pragma"] = "no-cache"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Content-Disposition"] = "inline"
    response["Accept-Ranges"] = "bytes"
    return response


@agency_required(Role.INVESTIGATOR)
@require_http_methods(["GET"])
def review_video(request, item):
    item = item_for(request, item)
    if not playable(item):
        raise Http404("Not found")
    full = _original(item)
    size = full.stat().st_size
    content_type = item.media_type
    wanted = parse_range(request.headers.get("Range", ""), size)
    if wanted is False:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return _no_store(response, content_type)
    start, end = wanted if wanted else (0, size - 1)
    if start == 0:  # a (re)load of the video, not a seek or the rest of a buffer
        audit_record(
            "evidence.served",
            agency=request.agency,
            obj=item,
            request=request,
            data={"kind": "video", "case": str(item.case.uuid)},
        )
    length = end - start + 1 if size else 0
    response = StreamingHttpResponse(
        _stream(full, start, length),
        status=206 if wanted else 200,
        content_type=content_type,
    )
    response["Content-Length"] = str(length)
    if wanted:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return _no_store(response, content_type)
