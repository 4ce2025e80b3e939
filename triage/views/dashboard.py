"""The supervisor dashboard: backlog, flow, timings, rates, per-reviewer exposure and the
case list, filtered by case, team member and date range (a GET form). Every chart has
its numbers in a table and as CSV (``?format=csv&table=<name>``)."""

from __future__ import annotations

from django.shortcuts import render
from django.utils import timezone
from django.utils.timesince import timesince
from django.views.decorators.http import require_http_methods

from hub.access import agency_required
from hub.models import Role
from triage.dashboard import charts, downloads
from triage.dashboard import selectors as dash
from triage.dashboard.forms import DashboardFilterForm


def _filter(request) -> tuple[DashboardFilterForm, dash.DashboardFilter, str]:
    form = DashboardFilterForm(request.GET or None, agency=request.agency)
    start, end = dash.default_range()
    case = member = None
    sort = "urgency"
    # An invalid filter (e.g. another agency's case UUID) shows the default view with the
    # form's errors: the choice querysets are the active agency's only.
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        start, end = data["start"], data["end"]
        case, member, sort = data["case"], data["member"], data["sort"]
    return form, dash.DashboardFilter(request.agency, start, end, case, member), sort


def _hours(delta) -> float | None:
    return None if delta is None else round(delta.total_seconds() / 3600, 1)


def _wait(since, now) -> dict | None:
    """ "3 days", "18 minutes" as number and unit: the same humanised age as the case list
    (not "0.0 d"), the unit set smaller so that it fits a stat box on a phone."""
    if since is None:
        return None
    number, _, unit = timesince(since, now, depth=1).partition("\xa0")
    return {"number": number, "unit": unit}


def _pct(share) -> float | None:
    return None if share is None else round(share * 100, 1)


# --- Charts ----------------------------------------------------------------------------


def _charts(data: dict, f: dash.DashboardFilter) -> dict:
    labels = [d.strftime("%d %b") for d in f.days()]
    flow = charts.bar_chart(
        "chart-flow",
        "Items ingested and reviewed per day",
        labels,
        [
            charts.Series("Ingested", [r["ingested"] for r in data["flow"]]),
            charts.Series("Reviewed", [r["reviewed"] for r in data["flow"]]),
        ],
    )
    # Per reviewer, per day: one line each, with the agency's guideline dashed.
    people = sorted({r["reviewer"] for r in data["reviewer_days"]})
    index = {d: i for i, d in enumerate(f.days())}

    def per_person(key):
        out = []
        for person in people:
            values = [0.0] * len(index)
            for r in data["reviewer_days"]:
                if r["reviewer"] == person and r["day"] in index:
                    values[index[r["day"]]] = r[key]
            out.append(charts.Series(person, values))
        return out

    g = data["guideline"]
    return {
        "flow": flow,
        "reveals": charts.line_chart(
            "chart-reveals",
            "Reveals per reviewer per day",
            labels,
            per_person("reveals"),
            guideline=g["reveals_per_day"],
            guideline_label=f"Guideline ({g['reveals_per_day']}/day)",
        )
        if people
        else None,
        "video": charts.line_chart(
            "chart-video",
            "Minutes of video per reviewer per day",
            labels,
            per_person("video_minutes"),
            guideline=g["video_minutes_per_day"],
            guideline_label=f"Guideline ({g['video_minutes_per_day']} min/day)",
        )
        if people
        else None,
    }


@agency_required(Role.SUPERVISOR)
@require_http_methods(["GET"])
def dashboard(request):
    form, f, sort = _filter(request)
    data = dash.dashboard(f, sort=sort)
    if request.GET.get("format") == "csv":
        # Audited with the filters used (triage.dashboard.downloads).
        table = request.GET.get("table", "")
        return downloads.csv_download(request, data, f, table=table, sort=sort)
    query = request.GET.copy()
    query.pop("format", None)
    query.pop("table", None)
    sortless = query.copy()
    sortless.pop("sort", None)
    return render(
        request,
        "triage/dashboard/dashboard.html",
        {
            "form": form,
            "f": f,
            "sort": sort,
            "data": data,
            "charts": _charts(data, f),
            "timings": {k: _hours(v) for k, v in data["timings"].items()},
            "rates": {
                **data["rates"],
                "precategorized_pct": _pct(data["rates"]["precategorized_rate"]),
                "confirmed_pct": _pct(data["rates"]["confirmed_rate"]),
            },
            "query": query.urlencode(),
            "sortless_query": sortless.urlencode(),
            "table_names": list(downloads.tables(data)),
            "now": timezone.now(),
            "oldest_wait": _wait(data["backlog"]["oldest"], f.now),
        },
    )
