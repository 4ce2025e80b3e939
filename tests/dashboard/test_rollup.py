"""The daily rollup (PostgreSQL): after any mix of writes, through the services or
around them (bulk updates, moves, deletes, cascades), the dashboard read from the rollup
equals the dashboard computed from the rows directly (the reference, also the SQLite
path), for every filter; the triggers' running sums equal a rebuild from scratch."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from hub import db_scope
from hub.models import Membership, Role
from tests.conftest import make_user
from triage.dashboard import rollup
from triage.dashboard import selectors as dash
from triage.dashboard.cases import case_close, case_reopen
from triage.models import (
    DailyActivity,
    EvidenceBatch,
    EvidenceItem,
    ExposureEvent,
    ReviewDecision,
)
from triage.review.service import exposure_record, review_decide, review_undo

pytestmark = [pytest.mark.services, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the rollup is PostgreSQL's (this is the SQLite run: rows read directly)")


def direct(f, monkeypatch):
    """The dashboard from the rows themselves: the rollup switched off."""
    with monkeypatch.context() as m:
        m.setattr(rollup, "read", lambda f: None)
        return dash.dashboard(f)


def fast(f):
    """The dashboard from the rollup (and the rollup really answering)."""
    assert dash.daily_activity(f) is not None
    with CaptureQueriesContext(connection) as ctx:
        data = dash.dashboard(f)
    sqls = [q["sql"] for q in ctx.captured_queries]
    assert any(rollup.TABLE in sql for sql in sqls)
    assert not any('"triage_exposureevent"' in sql for sql in sqls)
    return data


def filters(w, people, *, days=14):
    start, end = dash.default_range(days=days)
    yield dash.DashboardFilter(w.agency, start, end, now=w.now)
    for case in w.cases.values():
        yield dash.DashboardFilter(w.agency, start, end, case=case, now=w.now)
    for person in people:
        yield dash.DashboardFilter(w.agency, start, end, member=person, now=w.now)


def assert_same(w, people, monkeypatch):
    checked = 0
    for days in (14, 3, 90):  # 90: longer than PROBED_DAYS (one GROUP BY directly)
        for f in filters(w, people, days=days):
            expected = direct(f, monkeypatch)
            assert fast(f) == expected, (f.case, f.member, days)
            checked += bool(expected["flow"] and expected["reviewer_days"])
    assert checked  # the comparisons were not all between empty dashboards


def rebuild():
    """As ``manage.py rebuild_dashboard_rollup`` does: as the owner, every agency."""
    was_armed = db_scope.is_armed()
    db_scope.disarm()
    try:
        rollup.rebuild(connection, settings.TIME_ZONE)
    finally:
        if was_armed:
            db_scope.arm()


def rollup_rows() -> set:
    """The rollup's non-zero rows (a subtraction may leave zeros behind; a rebuild not)."""
    counters = rollup.COUNTERS
    return {
        tuple(r)
        for r in DailyActivity.objects.values_list(
            "agency_id", "case_id", "person_id", "day", *counters
        )
        if any(r[4:])
    }


def test_a_fresh_world_reads_the_same(dash_world, sam, ivan, iris, monkeypatch):
    assert_same(dash_world, [sam, ivan, iris], monkeypatch)


def test_a_mix_of_changes_keeps_the_rollup_exact(dash_world, sam, ivan, iris, monkeypatch):
    w = dash_world
    people = [sam, ivan, iris]
    now = timezone.now()
    urgent, routine = w.cases["urgent"], w.cases["routine"]
    batch = EvidenceBatch.objects.filter(case=urgent).first()

    # Ingest: one by one and in bulk, today and days ago.
    EvidenceItem.objects.bulk_create(
        EvidenceItem(
            agency=w.agency, case=urgent, batch=batch, path=f"new/{i}", original_name="n",
            created_at=now - timedelta(days=i % 5, hours=i), review_state="queued",
            queued_at=now - timedelta(days=i % 5),
        )
        for i in range(12)
    )  # fmt: skip
    fresh = list(EvidenceItem.objects.filter(path__startswith="new/").order_by("id"))

    # The pipeline finishes some (one bulk UPDATE), pre-categorised or not.
    EvidenceItem.objects.filter(pk__in=[i.pk for i in fresh[:6]]).update(
        status="done", processed_at=now
    )
    EvidenceItem.objects.filter(pk__in=[i.pk for i in fresh[:2]]).update(is_precategorized=True)
    # ...and a failure processed earlier becomes done on a retry, another done is undone.
    EvidenceItem.objects.filter(pk=fresh[6].pk).update(
        status="done", processed_at=now - timedelta(days=2)
    )
    EvidenceItem.objects.filter(pk=fresh[0].pk).update(status="errored")

    # Decisions through the service, some undone; an auto-grade (not a person's work).
    decided = []
    for item, person in zip(fresh[7:11], people + [sam], strict=True):
        decided.append((review_decide(item=item, user=person, category="1"), person))
    review_undo(decision=decided[0][0], user=decided[0][1])
    ReviewDecision.objects.create(
        agency=w.agency, item=fresh[11], kind="auto", category="2", reviewer=None
    )
    ReviewDecision.objects.create(  # a decision without a reviewer (a deleted user's)
        agency=w.agency, item=fresh[11], kind="first", category="2", reviewer=None
    )
    # Undo and redo by bulk update, around the service.
    old = ReviewDecision.objects.filter(kind="first", undone_at__isnull=True).exclude(
        item__in=fresh
    )[:5]
    ReviewDecision.objects.filter(pk__in=[d.pk for d in old]).update(undone_at=now)
    ReviewDecision.objects.filter(pk__in=[d.pk for d in old[:2]]).update(undone_at=None)
    ReviewDecision.objects.filter(pk=decided[1][0].pk).update(kind="supervisor")
    ReviewDecision.objects.filter(pk=decided[2][0].pk).update(created_at=now - timedelta(days=3))

    # Reveals and video plays, one in the agency's own scope (row-level security).
    for person, kind, ms in ((ivan, "reveal", 0), (iris, "video", 93_000), (sam, "original", 5)):
        exposure_record(user=person, item=fresh[8], kind=kind, duration_ms=ms)
    with db_scope.agency_scope(w.agency):
        exposure_record(user=ivan, item=fresh[9], kind="video", duration_ms=61_000)
    videos = ExposureEvent.objects.filter(kind="video").exclude(item__in=fresh)[:3]
    ExposureEvent.objects.filter(pk__in=[e.pk for e in videos]).update(duration_ms=12_345)

    # Cases closed and reopened; an item moved to another case with its decisions and
    # events; items moved between states; an item deleted with its decisions (cascade).
    case_close(case=urgent, user=sam)
    assert_same(w, people, monkeypatch)
    case_reopen(case=urgent, user=sam)
    EvidenceItem.objects.filter(pk=fresh[8].pk).update(case=routine)
    EvidenceItem.objects.filter(case=routine, review_state="queued").update(
        review_state="reviewed", first_reviewed_at=now
    )
    EvidenceItem.objects.filter(pk=fresh[3].pk).update(created_at=now - timedelta(days=40))
    EvidenceItem.objects.get(pk=fresh[9].pk).delete()

    # A reviewer leaves: decisions keep no reviewer, events go with the user.
    temp = make_user("tess", w.agency, Role.INVESTIGATOR)
    t_item = fresh[10]
    review_decide(item=EvidenceItem.objects.get(pk=fresh[5].pk), user=temp, category="1")
    exposure_record(user=temp, item=t_item, kind="reveal", duration_ms=0)
    Membership.objects.filter(user=temp).delete()
    temp.delete()

    assert_same(w, people, monkeypatch)
    incremental = rollup_rows()
    rebuild()
    assert rollup_rows() == incremental


def test_rebuild_from_scratch_equals_the_triggers(dash_world):
    incremental = rollup_rows()
    assert incremental
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {rollup.TABLE}")
    rebuild()
    assert rollup_rows() == incremental


def test_another_zone_reads_the_rows(dash_world, sam, monkeypatch):
    """The rollup's days are the zone's it was built for: a request in another zone gets
    the direct figures, and they are right there too."""
    zone = "Pacific/Kiritimati" if settings.TIME_ZONE != "Pacific/Kiritimati" else "UTC"
    with timezone.override(zone):
        start, end = dash.default_range()
        f = dash.DashboardFilter(dash_world.agency, start, end, now=dash_world.now)
        assert dash.daily_activity(f) is None
        data = dash.dashboard(f)
        with monkeypatch.context() as m:
            m.setattr(rollup, "read", lambda f: None)
            assert data == dash.dashboard(f)


def test_stale_state_reads_the_rows(dash_world):
    DailyActivity.objects.update(decisions=0)  # wrong on purpose...
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {rollup.STATE_TABLE} SET version = 'old'")  # ...and stale
    start, end = dash.default_range()
    assert dash.daily_activity(dash.DashboardFilter(dash_world.agency, start, end)) is None
    rebuild()  # current again
    assert dash.daily_activity(dash.DashboardFilter(dash_world.agency, start, end))


def test_rows_are_bound_by_the_agency_policy(dash_world, other_agency):
    if not db_scope.app_role():
        pytest.skip("no application role: the owner is not bound by row-level security")
    with db_scope.agency_scope(other_agency):
        agencies = set(DailyActivity.objects.values_list("agency_id", flat=True))
    assert agencies == {other_agency.pk}
    with db_scope.agency_scope(dash_world.agency), connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT agency_id FROM {rollup.TABLE}")
        assert {r[0] for r in cursor.fetchall()} == {dash_world.agency.pk}


def test_day_boundaries_follow_the_zone(dash_world, monkeypatch):
    """An item created a microsecond before local midnight counts on the day before."""
    w = dash_world
    case = w.cases["routine"]
    batch = EvidenceBatch.objects.filter(case=case).first()
    midnight = timezone.make_aware(dt.datetime.combine(timezone.localdate(), dt.time.min))
    for i, at in enumerate((midnight - timedelta(microseconds=1), midnight)):
        EvidenceItem.objects.create(
            agency=w.agency, case=case, batch=batch, path=f"edge/{i}", original_name="e",
            created_at=at,
        )  # fmt: skip
    start, end = dash.default_range()
    f = dash.DashboardFilter(w.agency, start, end, case=case, now=w.now)
    assert fast(f)["flow"] == direct(f, monkeypatch)["flow"]
