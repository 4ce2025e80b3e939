"""The agency's audit log: filter, page, export as CSV, and show the chain's integrity."""

from __future__ import annotations

import csv

from django.core.paginator import Paginator
from django.db import transaction
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from hub.access import agency_required
from hub.audit import audit_record, chain_key, verify_chain
from hub.forms import AuditFilterForm
from hub.models import AuditEvent, Role

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


@require_http_methods(["GET"])
@agency_required(Role.ADMIN)
def audit_export(request):
    form = AuditFilterForm(request.GET)
    events = _events(request, form).order_by("seq")
    with transaction.atomic():
        audit_record(
            "audit.exported",
            agency=request.agency,
            actor=request.user,
            data={"filters": {k: v for k, v in request.GET.items() if v}},
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
                    e.actor_label,
                    e.action,
                    e.object_type,
                    e.object_id,
                    e.ip or "",
                    e.data,
                    e.hash,
                ]
            )

    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = (
        f'attachment; filename="audit-{request.agency.slug}-{stamp}.csv"'
    )
    return response
