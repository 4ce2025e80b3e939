"""The agency's audit log: filter, page, export as CSV, and show the chain's integrity."""

from __future__ import annotations

import csv
import json
import uuid

from django.apps import apps
from django.core.paginator import Paginator
from django.db import transaction
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from hub.access import agency_required
from hub.audit import audit_record, chain_key, verify_chain
from hub.forms import AuditFilterForm
from hub.models import AuditChain, AuditEvent, Role, User

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


# Keys of ``AuditEvent.data`` whose values are references the page can name: a case by its
# UUID, people by their user ids (``case.created`` records its team as ids).
CASE_KEYS = frozenset({"case"})
USER_ID_KEYS = frozenset({"team", "user", "lead", "reviewer", "members"})
LIST_SHOWN = 10
TEXT_SHOWN = 200


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _collect(data, case_ids: set, user_ids: set) -> None:
    for key, value in data.items() if isinstance(data, dict) else ():
        if isinstance(value, dict):
            _collect(value, case_ids, user_ids)
        elif key in CASE_KEYS and isinstance(value, str) and _is_uuid(value):
            case_ids.add(value)
        elif key in USER_ID_KEYS:
            values = value if isinstance(value, list) else [value]
            user_ids.update(v for v in values if isinstance(v, int) and not isinstance(v, bool))


class _Names:
    """Case references and usernames for the references of one page of events: one query
    each for the whole page, never one per row. Only the active agency's cases and
    members are named; anything else stays as recorded."""

    def __init__(self, events, agency):
        case_ids: set = set()
        user_ids: set = set()
        for e in events:
            _collect(e.data, case_ids, user_ids)
            if e.object_type == "Case" and _is_uuid(e.object_id):
                case_ids.add(e.object_id)
        self.cases: dict[str, str] = {}
        self.users: dict[int, str] = {}
        if case_ids:
            case_model = apps.get_model("triage", "Case")  # the platform app does not import triage
            self.cases = {
                str(u): ref
                for u, ref in case_model.objects.filter(
                    agency=agency, uuid__in=case_ids
                ).values_list("uuid", "reference")
            }
        if user_ids:
            self.users = dict(
                User.objects.filter(pk__in=user_ids, memberships__agency=agency)
                .values_list("pk", "username")
                .distinct()
            )

    def text(self, key: str, value) -> str:
        if value is None:
            return "–"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, list):
            if not value:
                return "none"
            shown = [self.text(key, v) for v in value[:LIST_SHOWN]]
            more = len(value) - LIST_SHOWN
            return ", ".join(shown) + (f" … ({more} more)" if more > 0 else "")
        if isinstance(value, dict):
            if not value:
                return "none"
            return ", ".join(f"{k.replace('_', ' ')} {self.text(k, v)}" for k, v in value.items())
        if key in CASE_KEYS and str(value) in self.cases:
            return self.cases[str(value)]
        if key in USER_ID_KEYS and isinstance(value, int) and value in self.users:
            return self.users[value]
        text = str(value)
        return text if len(text) <= TEXT_SHOWN else text[: TEXT_SHOWN - 1] + "…"

    def rows(self, data, prefix: str = "") -> list[tuple[str, str, bool]]:
        """``(label, text, mono)`` per detail; nested records are flattened (``changes``
        needs no label of its own) and an old/new pair reads ``old → new``."""
        out = []
        for key, value in data.items() if isinstance(data, dict) else ():
            label = f"{prefix}{key.replace('_', ' ')}"
            if isinstance(value, dict) and set(value) == {"old", "new"}:
                old, new = value["old"], value["new"]
                if isinstance(old, dict) and isinstance(new, dict):
                    for sub in [k for k in new if old.get(k) != new.get(k)]:
                        text = f"{self.text(sub, old.get(sub))} → {self.text(sub, new[sub])}"
                        out.append((f"{label} {sub.replace('_', ' ')}", text, False))
                    continue
                out.append((label, f"{self.text(key, old)} → {self.text(key, new)}", False))
            elif isinstance(value, dict) and value:
                out += self.rows(value, "" if key == "changes" else f"{label} ")
            else:
                text = self.text(key, value)
                # Hashes, UUIDs and paths: monospace, and free to break anywhere.
                mono = isinstance(value, str | list) and any(
                    len(token) >= 20 for token in text.replace(",", " ").split()
                )
                out.append((label, text, mono))
        return out


def _describe(events, agency) -> None:
    """Give each event of a page readable ``details`` and an ``object_label``."""
    names = _Names(events, agency)
    for e in events:
        e.details = names.rows(e.data)
        e.object_label = names.cases.get(e.object_id) if e.object_type == "Case" else None


@require_http_methods(["GET"])
@agency_required(Role.ADMIN)
def audit_log(request):
    form = AuditFilterForm(request.GET)  # every field is optional: an empty form is valid
    events = _events(request, form)
    page = Paginator(events.select_related("actor").order_by("-seq"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    page.object_list = list(page.object_list)
    _describe(page.object_list, request.agency)
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
