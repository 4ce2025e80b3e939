"""Every CSV download of the dashboard is audited with the table, its number of rows and
the filters used (case, team member, dates, sort)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.http import Http404
from django.test import RequestFactory
from django.urls import reverse

from hub.models import AuditEvent
from triage.dashboard import downloads
from triage.dashboard import selectors as dash

TABLES = ["cases", "flow", "reviewers", "reviewer_days", "reviewer_weeks"]


def _request(user):
    request = RequestFactory().get("/dashboard/", REMOTE_ADDR="10.1.2.3")
    request.user = user
    return request


def _rows(response):
    return list(csv.reader(io.StringIO(response.content.decode())))


def _downloads(agency):
    return AuditEvent.objects.filter(agency=agency, action=downloads.AUDIT_ACTION).order_by("seq")


def test_each_table_download_is_audited_with_its_filters(dash_world, sam, ivan):
    w = dash_world
    start, end = dash.default_range(days=10)
    f = dash.DashboardFilter(w.agency, start, end, case=w.cases["urgent"], member=ivan, now=w.now)
    data = dash.dashboard(f, sort="age")
    for table in TABLES:
        response = downloads.csv_download(_request(sam), data, f, table=table, sort="age")
        event = _downloads(w.agency).last()
        assert event.actor == sam and event.ip == "10.1.2.3"
        assert event.object_type == "DashboardTable" and event.object_id == table
        assert event.data["rows"] == len(_rows(response)) - 1
        assert event.data["filters"] == {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "case": {"uuid": str(w.cases["urgent"].uuid), "reference": "D-URG"},
            "member": "ivan",
            "sort": "age",
        }
    assert list(_downloads(w.agency).values_list("object_id", flat=True)) == TABLES
    assert not AuditEvent.objects.filter(agency=w.other_case.agency).exists()


def test_unfiltered_download_records_the_dates_only(dash_world, sam):
    f = dash.DashboardFilter(
        dash_world.agency, dt.date(2024, 1, 1), dt.date(2024, 1, 31), now=dash_world.now
    )
    response = downloads.csv_download(_request(sam), dash.dashboard(f), f, table="flow")
    assert len(_rows(response)) == 1 + 31
    event = _downloads(dash_world.agency).get()
    assert event.data == {
        "table": "flow",
        "rows": 31,
        "filters": {"start": "2024-01-01", "end": "2024-01-31"},
    }


def test_unknown_table_is_404_and_not_audited(dash_world, sam):
    f = dash.DashboardFilter(dash_world.agency, *dash.default_range(), now=dash_world.now)
    with pytest.raises(Http404):
        downloads.csv_download(_request(sam), dash.dashboard(f), f, table="nope")
    assert not _downloads(dash_world.agency).exists()


def test_downloads_through_the_page_are_audited(dash_world, client_for, sam, iris):
    w = dash_world
    c = client_for(sam)
    start, end = dash.default_range(days=7)
    params = {
        "case": str(w.cases["routine"].uuid),
        "member": "iris",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "sort": "backlog",
    }
    for table in TABLES:
        response = c.get(reverse("triage:dashboard"), {**params, "format": "csv", "table": table})
        assert response.status_code == 200
        event = _downloads(w.agency).last()
        assert event is not None and event.object_id == table and event.actor == sam
        assert event.data["rows"] == len(_rows(response)) - 1
        assert event.data["filters"] == {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "case": {"uuid": params["case"], "reference": "D-ROU"},
            "member": "iris",
            "sort": "backlog",
        }
    assert _downloads(w.agency).count() == len(TABLES)
    # The page itself and an unknown table record nothing.
    assert c.get(reverse("triage:dashboard"), params).status_code == 200
    assert c.get(reverse("triage:dashboard"), {"format": "csv", "table": "x"}).status_code == 404
    assert _downloads(w.agency).count() == len(TABLES)
