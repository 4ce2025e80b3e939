"""Dashboard figures against the generated world, computed here in plain Python."""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter, defaultdict

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from hub.models import Membership
from triage.dashboard import selectors as dash
from triage.dashboard.downloads import cell
from triage.review.selectors import queue_counts

AWAITING = {"queued", "second_review", "conflict"}
REVIEW_KINDS = {"first", "second", "supervisor", "verification"}


def day(t):
    return timezone.localtime(t).date()


def in_range(t, f):
    return t is not None and f.start <= day(t) <= f.end


def the_filter(w, **kw):
    start, end = dash.default_range()
    return dash.DashboardFilter(w.agency, start, end, now=w.now, **kw)


def expected_backlog(w, case_keys):
    per_case = {}
    for key in case_keys:
        recs = [r for r in w.items if r["case"] == key and r["review_state"] in AWAITING]
        groups = {r["group"] for r in recs if r["group"] is not None}
        per_case[key] = {
            "items": len(recs),
            "units": sum(1 for r in recs if r["group"] is None) + len(groups),
            "second_review": sum(r["review_state"] == "second_review" for r in recs),
            "conflict": sum(r["review_state"] == "conflict" for r in recs),
            "oldest": min((r["queued_at"] for r in recs), default=None),
        }
    return per_case


def test_backlog_and_case_rows(dash_world):
    w = dash_world
    f = the_filter(w)
    expected = expected_backlog(w, ["urgent", "routine"])  # the closed case is left out
    got = dash.backlog(f)
    assert got["items"] == sum(e["items"] for e in expected.values())
    assert got["units"] == sum(e["units"] for e in expected.values())
    assert got["units"] < got["items"]  # groups really count once in this fixture
    assert got["second_review"] == sum(e["second_review"] for e in expected.values())
    assert got["conflict"] == sum(e["conflict"] for e in expected.values())
    assert got["oldest"] == min(e["oldest"] for e in expected.values() if e["oldest"])
    rows = {r["reference"]: r for r in dash.case_rows(f, sort="backlog")}
    assert set(rows) == {"D-URG", "D-ROU"}
    assert rows["D-URG"]["units"] == expected["urgent"]["units"]
    assert rows["D-ROU"]["items"] == expected["routine"]["items"]
    ordered = [r["units"] for r in dash.case_rows(f, sort="backlog")]
    assert ordered == sorted(ordered, reverse=True)
    assert [r["reference"] for r in dash.case_rows(f, sort="urgency")][0] == "D-URG"


def test_flow_timings_and_rates(dash_world):
    w = dash_world
    f = the_filter(w)
    ingested = Counter(day(r["created_at"]) for r in w.items if in_range(r["created_at"], f))
    reviewed = Counter(
        day(d["created_at"])
        for d in w.decisions
        if d["kind"] in REVIEW_KINDS and not d["undone"] and in_range(d["created_at"], f)
    )
    flow = dash.flow_per_day(f)
    assert len(flow) == 14
    assert {r["day"]: r["ingested"] for r in flow} == {d: ingested.get(d, 0) for d in f.days()}
    assert {r["day"]: r["reviewed"] for r in flow} == {d: reviewed.get(d, 0) for d in f.days()}
    assert sum(r["reviewed"] for r in flow) > 0

    first = [r for r in w.items if in_range(r["first_reviewed_at"], f)]
    med = statistics.median(r["first_reviewed_at"] - r["created_at"] for r in first)
    med_q = statistics.median(r["first_reviewed_at"] - r["queued_at"] for r in first)
    t = dash.timings(f)
    assert abs((t["first_triage"] - med).total_seconds()) < 1
    assert abs((t["in_queue"] - med_q).total_seconds()) < 1

    processed = [r for r in w.items if r["status"] == "done" and in_range(r["processed_at"], f)]
    positives = [
        r
        for r in w.items
        if (r["classifier_score"] or 0) >= 0.5
        and r["review_state"] == "reviewed"
        and in_range(r["first_reviewed_at"], f)
    ]
    confirmed = [r for r in positives if r["category"] not in ("", "0")]  # 0: Project VIC NP
    rates = dash.rates(f)
    assert rates["processed"] == len(processed)
    assert rates["precategorized"] == sum(r["is_precategorized"] for r in processed)
    assert rates["positives_reviewed"] == len(positives) > 0
    assert rates["confirmed_rate"] == pytest.approx(len(confirmed) / len(positives))


def test_non_pertinent_code_follows_the_scheme(demo_agency):
    from hub.policy import AgencyPolicy

    assert dash.non_pertinent_code(AgencyPolicy()) == "0"
    assert dash.non_pertinent_code(AgencyPolicy(category_scheme="legacy")) == "5"
    assert dash.non_pertinent_code(AgencyPolicy(category_scheme="uk_caid")) == "NP"


def test_reviewer_days_weeks_and_guideline(dash_world, ivan):
    w = dash_world
    w.agency.settings = {"exposure_guideline_reveals_per_day": 1}
    w.agency.save()
    f = the_filter(w)
    decisions = Counter(
        (d["reviewer"].username, day(d["created_at"]))
        for d in w.decisions
        if d["kind"] in REVIEW_KINDS and not d["undone"] and in_range(d["created_at"], f)
    )
    reveals = Counter(
        (e["user"].username, day(e["started_at"]))
        for e in w.exposure
        if e["kind"] == "reveal" and in_range(e["started_at"], f)
    )
    video_ms = defaultdict(int)
    for e in w.exposure:
        if e["kind"] == "video" and in_range(e["started_at"], f):
            video_ms[(e["user"].username, day(e["started_at"]))] += e["duration_ms"]
    rows = {(r["reviewer"], r["day"]): r for r in dash.reviewer_days(f)}
    for key, r in rows.items():
        assert r["decisions"] == decisions.get(key, 0)
        assert r["reveals"] == reveals.get(key, 0)
        assert r["video_minutes"] == round(video_ms.get(key, 0) / 60000, 1)
        assert r["reveals_over"] == (reveals.get(key, 0) > 1)
    assert set(rows) >= set(decisions) | set(reveals)
    assert any(r["reveals_over"] for r in rows.values())

    weeks = dash.reviewer_weeks(list(rows.values()))
    week_reveals = Counter()
    for (who, d), n in reveals.items():
        week_reveals[(who, dash.week_start(d))] += n
    assert {(x["reviewer"], x["week"]): x["reveals"] for x in weeks if x["reveals"]} == dict(
        week_reveals
    )

    only_ivan = dash.reviewer_days(the_filter(w, member=ivan))
    assert {r["reviewer"] for r in only_ivan} <= {"ivan"}
    assert sum(r["decisions"] for r in only_ivan) == sum(
        n for (who, _), n in decisions.items() if who == "ivan"
    )


def test_case_filter_scopes_everything(dash_world):
    w = dash_world
    f = the_filter(w, case=w.cases["routine"])
    exp = expected_backlog(w, ["routine"])["routine"]
    assert dash.backlog(f)["items"] == exp["items"]
    ingested = sum(1 for r in w.items if r["case"] == "routine" and in_range(r["created_at"], f))
    assert sum(r["ingested"] for r in dash.flow_per_day(f)) == ingested


# --- HTTP ----------------------------------------------------------------------------


def test_investigator_gets_403(dash_world, client_for, ivan):
    assert client_for(ivan).get(reverse("triage:dashboard")).status_code == 403


def test_supervisor_sees_the_dashboard(dash_world, client_for, sam):
    response = client_for(sam).get(reverse("triage:dashboard"))
    assert response.status_code == 200
    body = response.content.decode()
    units = dash.backlog(the_filter(dash_world))["units"]
    assert f'data-testid="backlog-units">{units}<' in body
    assert "<svg" in body and "chart-flow" in body
    assert "O-1" not in body  # another agency's case never appears


def test_other_agency_case_in_filter_is_rejected(dash_world, client_for, sam):
    url = reverse("triage:dashboard") + f"?case={dash_world.other_case.uuid}"
    response = client_for(sam).get(url)
    assert response.status_code == 200
    assert response.context["f"].case is None
    assert response.context["form"].errors


def test_csv_download(dash_world, client_for, sam):
    c = client_for(sam)
    response = c.get(reverse("triage:dashboard"), {"format": "csv", "table": "flow"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["day", "ingested", "reviewed"]
    expected = dash.flow_per_day(the_filter(dash_world))
    assert rows[1:] == [
        [r["day"].isoformat(), str(r["ingested"]), str(r["reviewed"])] for r in expected
    ]
    cases = c.get(reverse("triage:dashboard"), {"format": "csv", "table": "cases"})
    text = cases.content.decode()
    assert "'=cmd" in text  # a formula in a title is neutralised
    assert c.get(reverse("triage:dashboard"), {"format": "csv", "table": "nope"}).status_code == 404


def test_cell_neutralises_formulas_not_numbers():
    assert cell("=1+1") == "'=1+1"
    assert cell("@SUM(A1)") == "'@SUM(A1)"
    assert cell("-3.5") == "-3.5"
    assert cell(None) == ""


def test_query_count_does_not_grow_with_items(
    dash_world, client_for, sam, ivan, iris, django_assert_max_num_queries
):
    # PostgreSQL: 8 (backlog per case, cases, ingested per day, decisions per reviewer
    # and day, first reviewed with both medians, processed, exposure, names), plus the
    # medians' sample and (this few rows: every duration sorted) their SET LOCAL
    # work_mem, its savepoint and release; elsewhere each median takes two queries of
    # its own. The windowed medians of many rows: tests/dashboard/test_medians.py.
    n = 8 + 1 + 3 if connection.vendor == "postgresql" else 12
    f = the_filter(dash_world)
    with django_assert_max_num_queries(n):
        dash.dashboard(f)
    c = client_for(sam)
    with django_assert_max_num_queries(n + 12):  # + session, user, agency, membership, scope...
        assert c.get(reverse("triage:dashboard")).status_code == 200
    from tests.dashboard.conftest import build_world

    build_world(
        dash_world.agency, [sam, ivan, iris], n_items=150, seed=99, prefix="E"
    )  # more cases, items
    with django_assert_max_num_queries(n):
        dash.dashboard(f)


# --- Close, reopen, summary ----------------------------------------------------------


def test_close_removes_from_queue_and_reopen_restores(dash_world, client_for, sam):
    w = dash_world
    case = w.cases["urgent"]
    before = queue_counts(sam, w.agency)["items"]
    in_case = queue_counts(sam, w.agency, case)["items"]
    assert in_case > 0
    c = client_for(sam)
    response = c.post(reverse("triage:case_close", kwargs={"case": case.uuid}))
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.is_closed and case.closed_at
    assert queue_counts(sam, w.agency)["items"] == before - in_case
    assert (
        dash.backlog(the_filter(w))["items"] == expected_backlog(w, ["routine"])["routine"]["items"]
    )
    from hub.models import AuditEvent

    assert AuditEvent.objects.filter(action="case.closed", object_id=str(case.uuid)).count() == 1
    c.post(reverse("triage:case_close", kwargs={"case": case.uuid}))  # again: no 2nd audit
    assert AuditEvent.objects.filter(action="case.closed").count() == 1
    c.post(reverse("triage:case_reopen", kwargs={"case": case.uuid}))
    case.refresh_from_db()
    assert not case.is_closed
    assert queue_counts(sam, w.agency)["items"] == before
    assert AuditEvent.objects.filter(action="case.reopened", object_id=str(case.uuid)).count() == 1


def test_lead_may_close_team_member_may_not(dash_world, client_for, ivan, iris):
    case = dash_world.cases["urgent"]  # ivan leads, iris is on the team
    url = reverse("triage:case_close", kwargs={"case": case.uuid})
    assert client_for(iris).post(url).status_code == 403
    assert client_for(ivan).post(url).status_code == 302
    case.refresh_from_db()
    assert case.is_closed


def test_close_needs_post(dash_world, client_for, sam):
    url = reverse("triage:case_close", kwargs={"case": dash_world.cases["urgent"].uuid})
    assert client_for(sam).get(url).status_code == 405


def test_other_agency_case_is_404(dash_world, client_for, sam, alice):
    oc = dash_world.other_case
    for who in (sam, alice):
        c = client_for(who)
        assert c.get(reverse("triage:case_summary", kwargs={"case": oc.uuid})).status_code == 404
        assert c.post(reverse("triage:case_close", kwargs={"case": oc.uuid})).status_code == 404
        assert c.post(reverse("triage:case_reopen", kwargs={"case": oc.uuid})).status_code == 404
    oc.refresh_from_db()
    assert not oc.is_closed


def test_investigator_not_on_case_gets_404_on_summary(dash_world, client_for, iris):
    # iris is not on the closed case (no team): not visible to her.
    url = reverse("triage:case_summary", kwargs={"case": dash_world.cases["closed"].uuid})
    assert client_for(iris).get(url).status_code == 404


def test_summary_counts(dash_world, client_for, sam):
    w = dash_world
    case = w.cases["routine"]
    response = client_for(sam).get(reverse("triage:case_summary", kwargs={"case": case.uuid}))
    assert response.status_code == 200
    summary = response.context["summary"]
    recs = [r for r in w.items if r["case"] == "routine"]
    assert {r["status"]: r["n"] for r in summary["by_status"]} == dict(
        Counter(r["status"] for r in recs)
    )
    assert {r["code"]: r["n"] for r in summary["by_category"]} == dict(
        Counter(r["category"] for r in recs if r["category"])
    )
    assert summary["exhibits"] == [{"exhibit_ref": "EX-routine", "batches": 1, "items": len(recs)}]
    # The tables show labels a person reads, never the stored codes.
    from triage.models import ItemStatus, ReviewState

    page = response.content.decode()
    for row in summary["by_review"]:
        assert f"<td>{ReviewState(row['review_state']).label}</td>" in page
    for row in summary["by_status"]:
        assert f"<td>{ItemStatus(row['status']).label}</td>" in page
    assert "<td>second_review</td>" not in page and "<td>auto_graded</td>" not in page


def test_summary_matches_by_list(demo_agency, sam, client_for):
    from triage.models import Case, EvidenceBatch, EvidenceItem, HashEntry, HashList, Match

    case = Case.objects.create(agency=demo_agency, reference="M-1", title="m")
    batch = EvidenceBatch.objects.create(agency=demo_agency, case=case)
    lists = [HashList.objects.create(agency=demo_agency, name=n) for n in ("Alpha", "Beta")]
    for i in range(5):
        item = EvidenceItem.objects.create(
            agency=demo_agency, case=case, batch=batch, path=str(i), original_name=str(i)
        )
        hl = lists[i % 2]
        entry = HashEntry.objects.create(hash_list=hl, md5=f"{i:032x}")
        Match.objects.create(item=item, entry=entry, hash_list=hl, algorithm="md5")
        Match.objects.create(item=item, entry=entry, hash_list=hl, algorithm="pdq", distance=3)
    response = client_for(sam).get(reverse("triage:case_summary", kwargs={"case": case.uuid}))
    rows = {r["hash_list__name"]: r for r in response.context["summary"]["matches"]}
    assert rows["Alpha"]["items"] == 3 and rows["Alpha"]["matches"] == 6
    assert rows["Beta"]["items"] == 2 and rows["Beta"]["exact"] == 2


def test_membership_filter_lists_only_agency_people(dash_world, client_for, sam):
    response = client_for(sam).get(reverse("triage:dashboard"))
    names = {u.username for u in response.context["form"].fields["member"].queryset}
    assert "oscar" not in names
    assert names == set(
        Membership.objects.filter(agency=dash_world.agency).values_list("user__username", flat=True)
    )


@pytest.mark.parametrize("member", [False, True])
def test_per_day_probes_match_group_by(dash_world, ivan, monkeypatch, member):
    """Ranges up to PROBED_DAYS are computed day by day (a range per day); longer ones
    with a GROUP BY on the local date: both give the same figures, filtered or not."""
    f = the_filter(dash_world)
    if member:
        f = dash.DashboardFilter(f.agency, f.start, f.end, member=ivan, now=f.now)
    probed = dash.items_ingested_per_day(f)
    flow, people = dash.flow_per_day(f), dash.reviewer_days(f)
    assert sum(probed.values()) > 0
    assert sum(r["reviewed"] for r in flow) > 0
    assert sum(r["reveals"] for r in people) > 0
    monkeypatch.setattr(dash, "PROBED_DAYS", 0)
    assert dash.items_ingested_per_day(f) == probed
    assert dash.flow_per_day(f) == flow
    assert dash.reviewer_days(f) == people


def test_dashboard_shares_queries_with_the_same_figures(dash_world):
    """The page's one-pass figures equal those of each selector on its own."""
    f = the_filter(dash_world)
    data = dash.dashboard(f)
    assert data["flow"] == dash.flow_per_day(f)
    assert data["timings"] == dash.timings(f)
    assert data["rates"] == dash.rates(f)
    assert data["reviewer_days"] == dash.reviewer_days(f)
    assert data["cases"] == dash.case_rows(f)
    assert data["backlog"] == dash.backlog(f)
