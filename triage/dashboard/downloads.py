"""CSV downloads of the dashboard's tables (``?format=csv&table=<name>``): exactly the
numbers of the page's tables, and every download audited with the filters used.

The figures are aggregates (no evidence), but a download leaves the system with the
agency's workload, per-person exposure and case references, so the audit log records who
took which table for which case, person and dates (``dashboard.csv_downloaded``)."""

from __future__ import annotations

import csv

from django.db import transaction
from django.http import Http404, HttpResponse

from hub.audit import audit_record
from triage.dashboard.selectors import DashboardFilter

AUDIT_ACTION = "dashboard.csv_downloaded"


def tables(data: dict) -> dict[str, tuple[list[str], list[list]]]:
    """table name -> (header, rows): exactly the numbers of the page's tables."""
    return {
        "cases": (
            ["reference", "title", "urgency", "closed", "backlog", "items_awaiting",
             "second_review", "conflict", "oldest_unreviewed_days"],
            [[r["reference"], r["title"], r["urgency"], r["is_closed"], r["units"], r["items"],
              r["second_review"], r["conflict"], r["age_days"]] for r in data["cases"]],
        ),
        "flow": (
            ["day", "ingested", "reviewed"],
            [[r["day"].isoformat(), r["ingested"], r["reviewed"]] for r in data["flow"]],
        ),
        "reviewers": (
            ["reviewer", "decisions", "decisions_per_day", "reveals", "reveals_per_day",
             "video_minutes", "video_minutes_per_day", "days_over_guideline"],
            [[r["reviewer"], r["decisions"], r["decisions_per_day"], r["reveals"],
              r["reveals_per_day"], r["video_minutes"], r["video_minutes_per_day"],
              r["days_over"]] for r in data["reviewers"]],
        ),
        "reviewer_days": (
            ["reviewer", "day", "decisions", "reveals", "video_minutes",
             "reveals_over_guideline", "video_over_guideline"],
            [[r["reviewer"], r["day"].isoformat(), r["decisions"], r["reveals"],
              r["video_minutes"], r["reveals_over"], r["video_over"]]
             for r in data["reviewer_days"]],
        ),
        "reviewer_weeks": (
            ["reviewer", "week_starting", "active_days", "decisions", "reveals",
             "video_minutes", "days_over_guideline"],
            [[r["reviewer"], r["week"].isoformat(), r["active_days"], r["decisions"],
              r["reveals"], r["video_minutes"], r["days_over"]] for r in data["reviewer_weeks"]],
        ),
    }  # fmt: skip


def cell(value) -> str:
    """Neutralise spreadsheet formulas (CSV injection) in text cells such as case titles
    and user names; numbers (also negative ones) are left alone."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def filters_used(f: DashboardFilter, *, sort: str | None = None) -> dict:
    """The filter as the audit log keeps it: dates, and the case and person by their
    public identifiers (a UUID and a reference; a user name), never database ids."""
    out: dict = {"start": f.start.isoformat(), "end": f.end.isoformat()}
    if f.case is not None:
        out["case"] = {"uuid": str(f.case.uuid), "reference": f.case.reference}
    if f.member is not None:
        out["member"] = f.member.username
    if sort:
        out["sort"] = sort
    return out


def dashboard_download_record(
    *, f: DashboardFilter, table: str, rows: int, user, sort: str | None = None, request=None
):
    """Audit one CSV download: which table, how many rows, with which filters."""
    with transaction.atomic():
        return audit_record(
            AUDIT_ACTION,
            agency=f.agency,
            actor=user,
            object_type="DashboardTable",
            object_id=table,
            data={"table": table, "rows": rows, "filters": filters_used(f, sort=sort)},
            request=request,
        )


def csv_download(request, data: dict, f: DashboardFilter, *, table: str, sort=None):
    """The CSV of one of the page's tables, audited before it is handed over. An unknown
    table is a 404 (and nothing is recorded)."""
    all_tables = tables(data)
    if table not in all_tables:
        raise Http404("No such table")
    header, rows = all_tables[table]
    dashboard_download_record(
        f=f, table=table, rows=len(rows), user=request.user, sort=sort, request=request
    )
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"dashboard-{table}-{f.start.isoformat()}-{f.end.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return response
