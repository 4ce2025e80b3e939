"""The daily rollup (PostgreSQL): after any mix of writes, through the services or
around them (bulk updates, moves, deletes, cascades), the dashboard read from the rollup
equals the dashboard computed from the rows directly (the reference, also the SQLite
path), for every filter, with the triggers' deltas compacted or not; the triggers'
running sums equal a rebuild from scratch, and so do they after compaction. Writers
never wait on each other for the rollup (real concurrent connections)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from hub import db_scope
from hub.models import Membership, Role
from tests.conftest import make_user
from triage.dashboard import rollup
from triage.dashboard import selectors as dash
from triage.dashboard.cases import case_close, case_reopen
from triage.dashboard.tasks import compact_rollup
from triage.models import (
    Case,
    DailyActivity,
    EvidenceBatch,
    EvidenceItem,
    ExposureEvent,
    ReviewDecision,
)
from triage.models.rollups import DailyActivityDelta
from triage.review.service import exposure_record, review_decide, review_undo

pytestmark = [pytest.mark.django_db]
# The PostgreSQL tests (all but the ones asking for ``any_database``).
services = pytest.mark.services


@pytest.fixture
def any_database():
    """Asked for by the tests that run on SQLite too."""


@pytest.fixture(autouse=True)
def _postgresql_only(request):
    if connection.vendor != "postgresql" and "any_database" not in request.fixturenames:
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
    """The rollup reads as the rows, with the triggers' deltas pending and once they are
    compacted (and the compaction changes no figure)."""
    assert DailyActivityDelta.objects.exists()  # the writes left deltas to compact
    before = assert_same_now(w, people, monkeypatch)
    assert compact() > 0
    assert not DailyActivityDelta.objects.exists()
    assert assert_same_now(w, people, monkeypatch) == before


def assert_same_now(w, people, monkeypatch) -> list:
    checked = 0
    figures = []
    for days in (14, 3, 90):  # 90: longer than PROBED_DAYS (one GROUP BY directly)
        for f in filters(w, people, days=days):
            expected = direct(f, monkeypatch)
            assert fast(f) == expected, (f.case, f.member, days)
            checked += bool(expected["flow"] and expected["reviewer_days"])
            figures.append(expected)
    assert checked  # the comparisons were not all between empty dashboards
    return figures


def compact(conn=None):
    """As the beat task does: hub-wide (the suite's scope is every agency)."""
    return rollup.compact(conn or connection)


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
    """The rollup's non-zero sums per key, of its compacted rows and its deltas (a
    subtraction may leave zeros behind; a rebuild not)."""
    keys, sums = ", ".join(rollup.KEYS), ", ".join(f"sum({c})" for c in rollup.COUNTERS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {keys}, {sums} FROM (SELECT {keys}, {', '.join(rollup.COUNTERS)} "
            f"FROM {rollup.TABLE} UNION ALL SELECT {keys}, {', '.join(rollup.COUNTERS)} "
            f"FROM {rollup.DELTA_TABLE}) AS r GROUP BY {keys}"
        )
        return {tuple(r) for r in cursor.fetchall() if any(r[4:])}


def compacted_rows() -> set:
    """``DailyActivity``'s own rows."""
    return set(
        DailyActivity.objects.values_list(
            "agency_id", "case_id", "person_id", "day", *rollup.COUNTERS
        )
    )


@services
def test_a_fresh_world_reads_the_same(dash_world, sam, ivan, iris, monkeypatch):
    assert_same(dash_world, [sam, ivan, iris], monkeypatch)


@services
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


@services
def test_rebuild_from_scratch_equals_the_triggers(dash_world):
    incremental = rollup_rows()
    assert incremental
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {rollup.TABLE}")
        cursor.execute(f"DELETE FROM {rollup.DELTA_TABLE}")
    rebuild()
    assert rollup_rows() == incremental
    assert not DailyActivityDelta.objects.exists()


@services
def test_compaction_is_exact(dash_world, sam):
    """Sums before compaction == after == a rebuild from scratch; the compacted table
    then holds them all, a second compaction has nothing left to do, and keys that
    came back to zero are removed."""
    pending = rollup_rows()
    assert DailyActivityDelta.objects.exists()
    assert compact() > 0
    assert not DailyActivityDelta.objects.exists()
    assert compacted_rows() == rollup_rows() == pending
    assert compact() == 0
    assert compacted_rows() == pending

    # More writes on compacted keys: deltas again, the same sums as a rebuild.
    case = dash_world.cases["routine"]
    batch = EvidenceBatch.objects.filter(case=case).first()
    item = EvidenceItem.objects.create(
        agency=dash_world.agency, case=case, batch=batch, path="c/1", original_name="c"
    )
    ReviewDecision.objects.create(
        agency=dash_world.agency, item=item, reviewer=sam, kind="first", category="1"
    )
    ReviewDecision.objects.filter(reviewer=sam, kind="first").update(undone_at=timezone.now())
    incremental = rollup_rows()
    assert incremental != pending
    compact()
    assert compacted_rows() == incremental
    rebuild()
    assert compacted_rows() == rollup_rows() == incremental

    # A key that exists only for one item: gone from the rollup once the item is.
    lone = Case.objects.create(agency=dash_world.agency, reference="LONE", title="Lone")
    lone_batch = EvidenceBatch.objects.create(agency=dash_world.agency, case=lone, exhibit_ref="L")
    EvidenceItem.objects.create(
        agency=dash_world.agency, case=lone, batch=lone_batch, path="l/1", original_name="l"
    )
    compact()
    assert DailyActivity.objects.filter(case=lone).exists()
    EvidenceItem.objects.filter(case=lone).delete()
    compact()
    assert not DailyActivity.objects.filter(case=lone).exists()
    assert compacted_rows() == rollup_rows() == incremental


def test_the_compactor_task(dash_world, any_database):
    """The beat task folds every agency's deltas in (PostgreSQL) and does nothing on
    SQLite: no query at all."""
    assert "triage.dashboard.compact_rollup" in db_scope.HUB_WIDE_TASKS
    from hub.celery import app

    beat = [e for e in app.conf.beat_schedule.values() if e["task"] == compact_rollup.name]
    assert beat and beat[0]["schedule"] <= 60
    if connection.vendor != "postgresql":
        with CaptureQueriesContext(connection) as ctx:
            assert compact_rollup() is None
        assert not ctx.captured_queries
        return
    pending = rollup_rows()
    agencies = set(DailyActivityDelta.objects.values_list("agency_id", flat=True))
    assert len(agencies) > 1  # the Other Force's too
    assert compact_rollup() > 0
    assert not DailyActivityDelta.objects.exists()
    assert compacted_rows() == pending


@services
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


@services
def test_stale_state_reads_the_rows(dash_world):
    DailyActivity.objects.update(decisions=0)  # wrong on purpose...
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {rollup.STATE_TABLE} SET version = 'old'")  # ...and stale
    start, end = dash.default_range()
    assert dash.daily_activity(dash.DashboardFilter(dash_world.agency, start, end)) is None
    rebuild()  # current again
    assert dash.daily_activity(dash.DashboardFilter(dash_world.agency, start, end))


@services
def test_rows_are_bound_by_the_agency_policy(dash_world, other_agency):
    if not db_scope.app_role():
        pytest.skip("no application role: the owner is not bound by row-level security")
    with db_scope.agency_scope(other_agency):
        agencies = set(DailyActivityDelta.objects.values_list("agency_id", flat=True))
    assert agencies == {other_agency.pk}
    with db_scope.agency_scope(dash_world.agency), connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT agency_id FROM {rollup.DELTA_TABLE}")
        assert {r[0] for r in cursor.fetchall()} == {dash_world.agency.pk}
    # Compacted in one agency's scope: that agency's deltas only (the beat task runs
    # hub-wide); the compacted rows are bound alike.
    with db_scope.agency_scope(other_agency):
        assert compact() > 0
        agencies = set(DailyActivity.objects.values_list("agency_id", flat=True))
    assert agencies == {other_agency.pk}
    assert set(DailyActivityDelta.objects.values_list("agency_id", flat=True)) == {
        dash_world.agency.pk
    }
    compact()
    with db_scope.agency_scope(dash_world.agency), connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT agency_id FROM {rollup.TABLE}")
        assert {r[0] for r in cursor.fetchall()} == {dash_world.agency.pk}


@services
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


def test_a_worker_finds_the_compactor_task(any_database):
    """A worker knows the beat task (Celery imports triage/tasks.py): in a fresh
    process, since this one has imported the task's module itself."""
    code = (
        "import django; django.setup()\n"
        "from hub.celery import app\n"
        "app.loader.import_default_modules()\n"
        "print('triage.dashboard.compact_rollup' in app.tasks)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "hub.settings"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split()[-1] == "True"


# --- Concurrency: real connections, one per thread -------------------------------------


def _scratch(agency, user):
    case = Case.objects.create(agency=agency, reference="CONC", title="Concurrent")
    case.team.set([user])
    batch = EvidenceBatch.objects.create(agency=agency, case=case, exhibit_ref="C")
    item = EvidenceItem.objects.create(
        agency=agency, case=case, batch=batch, path="conc/0", original_name="c"
    )
    return case, batch, item


def hold_open(write, *, timeout=20):
    """Runs ``write`` in a transaction on another connection (a thread's) and keeps it
    open, uncommitted, until the ``with`` block ends; then commits it."""

    class Held:
        def __init__(self):
            self.ready, self.release, self.errors, self.result = (
                threading.Event(),
                threading.Event(),
                [],
                None,
            )
            self.thread = threading.Thread(target=self.run)

        def run(self):
            try:
                with transaction.atomic():
                    self.result = write()
                    self.ready.set()
                    assert self.release.wait(timeout), "never released"
            except BaseException as exc:  # reported by the test
                self.errors.append(exc)
            finally:
                self.ready.set()
                connections.close_all()

        def __enter__(self):
            self.thread.start()
            assert self.ready.wait(timeout)
            assert not self.errors, self.errors
            return self

        def __exit__(self, *exc):
            self.release.set()
            self.thread.join(timeout)
            assert not self.thread.is_alive()
            assert not self.errors, self.errors

    return Held()


def without_waiting(write):
    """``write`` in a transaction that gives up on any lock it waits 2 s for (and so
    fails the test: this connection must never wait on the other one)."""
    started = time.monotonic()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '2s'")
        result = write()
    assert time.monotonic() - started < 2
    return result


@services
@pytest.mark.django_db(transaction=True)
def test_a_decision_and_an_exposure_report_never_wait_on_each_other(demo_agency, ivan):
    """A review decision is written and its transaction stays open (a reviewer's, with
    the rest of its work still to do); meanwhile an exposure report on the same item,
    by the same person, the same day (the same rollup key) commits at once. With an
    upsert into the rollup it waited for the decision's commit (and deadlocked with it
    when the decision's transaction also held the item's row)."""
    case, batch, item = _scratch(demo_agency, ivan)
    rebuild()  # a transactional test's database starts without the rollup's state row
    before = rollup_rows()
    with hold_open(
        lambda: ReviewDecision.objects.create(
            agency=demo_agency, item=item, reviewer=ivan, kind="first", category="1"
        )
    ):
        without_waiting(lambda: exposure_record(user=ivan, item=item, kind="reveal", duration_ms=0))
        # ...and a compaction meanwhile waits on neither.
        without_waiting(compact)
    assert rollup_rows() != before
    counted = rollup_rows()
    compact()
    rebuild()
    assert rollup_rows() == counted


@services
@pytest.mark.django_db(transaction=True)
def test_two_items_ingested_in_one_case_never_wait_on_each_other(demo_agency, ivan):
    """Two pipeline workers add items to the same case the same day (one rollup key)
    in transactions that stay open while they work on: neither waits on the other."""
    case, batch, item = _scratch(demo_agency, ivan)
    rebuild()

    def ingest(path):
        return lambda: EvidenceItem.objects.create(
            agency=demo_agency, case=case, batch=batch, path=path, original_name="c"
        )

    with hold_open(ingest("conc/a")):
        without_waiting(ingest("conc/b"))
        # The other worker's item is not counted before it commits...
        start, end = dash.default_range()
        f = dash.DashboardFilter(demo_agency, start, end, case=case)
        assert sum(dash.daily_activity(f).ingested.values()) == 2
    # ...and is once it does.
    assert sum(dash.daily_activity(f).ingested.values()) == 3
    counted = rollup_rows()
    rebuild()
    assert rollup_rows() == counted


@services
@pytest.mark.django_db(transaction=True)
def test_two_compactors_never_count_twice(demo_agency, ivan):
    """A compactor whose transaction is still open (so holding the advisory lock, its
    deltas moved but not committed): a second one returns at once without merging
    anything, readers see the same figures throughout, and the end result is a
    rebuild's."""
    case, batch, item = _scratch(demo_agency, ivan)
    rebuild()
    EvidenceItem.objects.create(
        agency=demo_agency, case=case, batch=batch, path="conc/1", original_name="c"
    )
    ReviewDecision.objects.create(
        agency=demo_agency, item=item, reviewer=ivan, kind="first", category="1"
    )
    counted = rollup_rows()
    assert DailyActivityDelta.objects.exists()
    with hold_open(compact) as first:
        assert first.result > 0
        assert without_waiting(compact) is None  # the other holds the lock: no-op
        assert rollup_rows() == counted  # its moves not committed yet: still the deltas
    assert not DailyActivityDelta.objects.exists()
    assert compacted_rows() == rollup_rows() == counted
    assert compact() == 0
    rebuild()
    assert compacted_rows() == rollup_rows() == counted
