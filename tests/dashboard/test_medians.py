"""The windowed exact median (PostgreSQL): a sample chooses a window, one scan counts the
rows below it and sorts only the rows inside; the figure must be percentile_cont's to the
microsecond whatever the sample did, and the fast path must really be the one taken."""

from __future__ import annotations

import random
import statistics
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from triage.dashboard import selectors as dash
from triage.models import Case, EvidenceBatch, EvidenceItem

pytestmark = [pytest.mark.services, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the windowed median is PostgreSQL's path (this is the SQLite run)")


def make_items(agency, durations, *, queued_gap=None, seed=1, other=None):
    """Items first reviewed yesterday with the given upload-to-review durations (seconds);
    queued ``queued_gap(i)`` seconds after upload (None: never queued). Returns the
    expected medians computed here, in Python."""
    rng = random.Random(seed)
    now = timezone.now()
    case = Case.objects.create(agency=agency, reference=f"MED-{seed}", title="m")
    batch = EvidenceBatch.objects.create(agency=agency, case=case)
    rows, triage, in_queue = [], [], []
    for i, seconds in enumerate(durations):
        reviewed = now - timedelta(days=1, seconds=rng.randint(0, 40_000))
        created = reviewed - timedelta(seconds=seconds)
        gap = None if queued_gap is None else queued_gap(i)
        queued = None if gap is None else created + timedelta(seconds=gap)
        rows.append(
            EvidenceItem(
                agency=agency, case=case, batch=batch, path=f"m/{i}", original_name="x",
                created_at=created, queued_at=queued, first_reviewed_at=reviewed,
                review_state="reviewed", status="done",
            )
        )  # fmt: skip
        triage.append(reviewed - created)
        if queued is not None:
            in_queue.append(reviewed - queued)
    EvidenceItem.objects.bulk_create(rows)
    return {
        "first_triage": statistics.median(triage) if triage else None,
        "in_queue": statistics.median(in_queue) if in_queue else None,
    }


def the_filter(agency):
    start, end = dash.default_range(days=3)
    return dash.DashboardFilter(agency, start, end)


def close(a, b):
    return a is b is None or abs((a - b).total_seconds()) < 1e-5


@pytest.fixture
def windowed(monkeypatch):
    """Sample every page, so that a test's few hundred rows take the windowed path."""
    monkeypatch.setattr(dash, "MEDIAN_SAMPLE_PERCENT", 100)
    monkeypatch.setattr(dash, "MEDIAN_MIN_SAMPLE", 50)


def run(f):
    with CaptureQueriesContext(connection) as ctx:
        got = dash.first_reviewed(f)
    sqls = [q["sql"] for q in ctx.captured_queries]
    return got, sqls


def sorted_everything(sqls):
    return any("percentile_cont" in sql for sql in sqls)


CASES = {
    # continuous durations, an odd and an even number of rows
    "odd": ([random.Random(3).uniform(60, 5 * 86400) for _ in range(301)], lambda i: 1800 + i),
    "even": ([random.Random(4).expovariate(1 / 7200) for _ in range(400)], lambda i: 60 * (i % 7)),
    # many ties (whole hours), as in bench/dashboard.py's data
    "ties": ([3600 * (2 + i % 41) for i in range(500)], lambda i: 3600),
    # a third never queued (imported as already graded, say): in_queue over the others
    "unqueued": (
        [random.Random(5).uniform(0, 86400) for _ in range(360)],
        lambda i: None if i % 3 == 0 else 600 + i,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_windowed_path_equals_percentile_cont(demo_agency, other_agency, windowed, name):
    durations, gap = CASES[name]
    expected = make_items(demo_agency, durations, queued_gap=gap)
    make_items(other_agency, [1.0] * 200, queued_gap=lambda i: 0, seed=9)  # never counted
    f = the_filter(demo_agency)
    got, sqls = run(f)
    assert not sorted_everything(sqls), "the windowed path was not taken"
    assert any("TABLESAMPLE" in sql for sql in sqls)
    assert len(sqls) == 2  # the sample and one scan
    for key in ("first_triage", "in_queue"):
        assert close(got[key], expected[key]), (key, got[key], expected[key])
    # Exactly percentile_cont's figure (same values, same interpolation).
    items = dash._items(f).filter(first_reviewed_at__gte=f.since, first_reviewed_at__lt=f.until)
    sorted_all = dash._sorted_medians(items, list(dash.DURATIONS))
    assert got["first_triage"] == dash._seconds(sorted_all["first_triage"])
    assert got["in_queue"] == dash._seconds(sorted_all["in_queue"])


def test_a_window_that_misses_falls_back_to_sorting(demo_agency, windowed, monkeypatch):
    durations = [random.Random(6).uniform(0, 86400) for _ in range(300)]
    expected = make_items(demo_agency, durations, queued_gap=lambda i: 5)
    real = dash.median_window
    # A window above every duration: all rows are below it, the counts must notice.
    monkeypatch.setattr(dash, "median_window", lambda q, n: (10**6, 2 * 10**6))
    got, sqls = run(the_filter(demo_agency))
    assert sorted_everything(sqls)
    assert close(got["first_triage"], expected["first_triage"])
    assert close(got["in_queue"], expected["in_queue"])
    # A window just below the median: every middle rank is above it.
    monkeypatch.setattr(dash, "median_window", lambda q, n: (0.0, 1.0))
    got, sqls = run(the_filter(demo_agency))
    assert sorted_everything(sqls)
    assert close(got["first_triage"], expected["first_triage"])
    monkeypatch.setattr(dash, "median_window", real)
    got, sqls = run(the_filter(demo_agency))
    assert not sorted_everything(sqls)
    assert close(got["first_triage"], expected["first_triage"])


def test_positives_come_from_the_same_scan(demo_agency, windowed):
    make_items(demo_agency, [float(i) for i in range(1, 200)], queued_gap=lambda i: 0)
    EvidenceItem.objects.filter(path__endswith="0").update(classifier_score=0.9)
    EvidenceItem.objects.filter(path__in=["m/10", "m/100"]).update(category="1")
    got, sqls = run(the_filter(demo_agency))
    assert not sorted_everything(sqls)
    positives = EvidenceItem.objects.filter(classifier_score__gte=0.5)
    assert got["positives_reviewed"] == positives.count() == 20
    assert got["positives_confirmed"] == positives.filter(category="1").count() == 2


def test_few_rows_sort_everything_without_a_window(demo_agency):
    expected = make_items(demo_agency, [10, 20, 30, 45], queued_gap=lambda i: 1)
    got, sqls = run(the_filter(demo_agency))
    assert sorted_everything(sqls)
    assert got["first_triage"] == timedelta(seconds=25)  # (20 + 30) / 2
    assert close(got["in_queue"], expected["in_queue"])


def test_no_rows(demo_agency, windowed):
    got, _ = run(the_filter(demo_agency))
    assert got["first_triage"] is None and got["in_queue"] is None
    assert got["positives_reviewed"] == 0


def test_middle_ranks():
    # n = 5: rank 3; the window holds ranks 3..4 (one below it)
    assert dash._middle(5, 2, 2, [7.0]) == 7.0
    # n = 6: ranks 3 and 4, interpolated
    assert dash._middle(6, 2, 3, [7.0, 8.0]) == 7.5
    assert dash._middle(6, 3, 3, [8.0]) is dash.MISSED  # rank 3 is below the window
    assert dash._middle(6, 0, 3, [3.0]) is dash.MISSED  # rank 4 is above the window
    assert dash._middle(0, 0, 0, None) is None


def test_window_width_follows_the_sample_size():
    quantiles = [float(i) for i in range(len(dash.MEDIAN_LEVELS))]
    assert dash.median_window(quantiles, dash.MEDIAN_MIN_SAMPLE - 1) is None
    assert dash.median_window(None, 10_000) is None
    at = dict(zip(dash.MEDIAN_LEVELS, quantiles, strict=True))
    # 10,000 rows: 3.5 standard errors = 0.0175 -> the narrowest window, 0.48..0.52
    assert dash.median_window(quantiles, 10_000) == (at[0.48], at[0.52])
    # 1,000 rows: 0.055 -> 0.435..0.565
    assert dash.median_window(quantiles, 1_000) == (at[0.435], at[0.565])


@pytest.mark.parametrize("scope", ["case", "member"])
def test_windowed_path_keeps_the_case_and_team_scope(demo_agency, ivan, windowed, scope):
    """The hand-written SQL wraps the ORM's WHERE clause: a case or a team member's cases
    narrow it exactly as for the sorted path (the other case's rows are not counted)."""
    expected = make_items(
        demo_agency, [random.Random(7).uniform(0, 9e4) for _ in range(250)], queued_gap=abs
    )
    make_items(demo_agency, [5.0] * 250, queued_gap=lambda i: 1, seed=8)  # another case
    case = Case.objects.get(reference="MED-1")
    case.team.set([ivan])
    start, end = dash.default_range(days=3)
    f = dash.DashboardFilter(
        demo_agency, start, end, **({"case": case} if scope == "case" else {"member": ivan})
    )
    got, sqls = run(f)
    assert not sorted_everything(sqls)
    assert close(got["first_triage"], expected["first_triage"])
    assert close(got["in_queue"], expected["in_queue"])
