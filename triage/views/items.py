"""The item page: provenance, hashes, media facts, processing state, and the sections of
the other areas (matches, scores, review). The preview is always a derivative shown
blurred and grayscale; the original is never embedded. Every view is audited."""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from hub.access import agency_required
from hub.audit import audit_record
from hub.models import Role
from triage import selectors
from triage.access import item_for
from triage.models import Derivative

# Which derivative previews an item, best first (a video's contact sheet before a frame).
PREVIEW_ORDER = (Derivative.Kind.BLURRED, Derivative.Kind.CONTACT_SHEET, Derivative.Kind.THUMB)


@agency_required(Role.INVESTIGATOR)
@require_http_methods(["GET"])
def item_detail(request, item):
    item = item_for(request, item)
    derivatives = selectors.item_derivatives(item)
    preview = next((derivatives[k] for k in PREVIEW_ORDER if k in derivatives), None)
    audit_record(
        "evidence.item_viewed",
        agency=request.agency,
        obj=item,
        request=request,
        data={"case": str(item.case.uuid), "batch": str(item.batch.uuid)},
    )
    return render(
        request,
        "triage/items/detail.html",
        {
            "item": item,
            "case": item.case,
            "batch": item.batch,
            "blob": item.blob,
            "preview": preview,
            "derivatives": derivatives,
            "children_count": item.children.count(),
        },
    )
