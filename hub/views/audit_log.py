"""The agency's audit log: filter, page, export as CSV, and show the chain's integrity."""

from __future__ import annotations

import csv
import json

from django.core.paginator import Paginator
from django.db import transaction
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from hub.access import agency_required
from hub.audit import audit_record, chain_key, verify_chain
from hub.forms import AuditFilterForm
from hub.models import AuditChain, AuditEvent, Role

PAGE_SIZE = 50
CSV_COLUMNS = [
    "seq",
    "created_at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "ip",
    "data",
    "hash",
]


def _events(request, form):
    key = chain_key(request.agency)
    return form.filter(AuditEvent.objects.filter(chain=key, agency=request.agency))


@require_http_methods(["GET"])
@agency_required(Role.ADMIN)
def audit_log(request):
    form = AuditFilterForm(request.GET)  # every field is optional: an empty form is valid
    events = _events(request, form)
    page = Paginator(events.select_related("actor").order_by("-seq"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "hub/audit_log.html",
        {
            "form": form,
            "page": page,
            "status": verify_chain(chain_key(request.agency)),
            "query": query.urlencode(),
        },
    )


class _Echo:
    def write(self, value):
        return value


def _cell(value) -> str:
    """Neutralise spreadsheet formulas (CSV injection): a user name such as ``=cmd|...``
    or ``@SUM(...)`` must not run when the export is opened in a spreadsheet. The chain is
    verified from the database (``verify_audit``), never from an export."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _filters_used(request, form) -> dict:
    """The filters as given, only the form's own fields (other query parameters are not
    filters), and whether they were valid (an invalid filter exports nothing)."""
    filters = {name: request.GET[name] for name in form.fields if request.GET.get(name)}
    return filters if form.is_valid() else {**filters, "invalid": True}


@require_http_methods(["GET"])
@agency_required(Role.ADMIN)
def audit_export(request):
    form = AuditFilterForm(request.GET)
    events = _events(request, form).order_by("seq")
    # A snapshot: the events up to the chain's head now, so the rows recorded below are
    # exactly the rows of the file, whatever is appended while it streams (this event too).
    head = (
        AuditChain.objects.filter(key=chain_key(request.agency))
        .values_list("last_seq", flat=True)
        .first()
    )
    events = events.filter(seq__lte=head or 0)
    with transaction.atomic():
        audit_record(
            "audit.exported",
            agency=request.agency,
            actor=request.user,
            data={
                "filters": _filters_used(request, form),
                "rows": events.count(),
                "up_to_seq": head or 0,
            },
            request=request,
        )
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(CSV_COLUMNS)
        for e in events.iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    e.seq,
                    e.created_at.isoformat(),
                    _cell(e.actor_label),
                    _cell(e.action),
                    _cell(e.object_type),
                    _cell(e.object_id),
                    e.ip or "",
                    # JSON, as stored and hashed (not Python's repr): machine-readable.
                    json.dumps(e.data, sort_keys=True, default=str),
                    e.hash,
                ]
            )

    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = (
        f'attachment; filename="audit-{request.agency.slug}-{stamp}.csv"'
    )
    return response
