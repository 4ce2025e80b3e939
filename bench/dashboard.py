"""Benchmark the supervisor dashboard's selectors on a scratch PostgreSQL database.

    .venv/bin/python bench/dashboard.py                  # 100k items
    .venv/bin/python bench/dashboard.py --n 1000000      # the issue's goal: <= 300 ms
    .venv/bin/python bench/dashboard.py --n 1000000 --runs 9 --before HEAD

Creates (or recreates with --fresh) ``hub_bench_dash_<n>`` on 127.0.0.1 (trust auth), builds
the schema with ``migrate --run-syncdb``, generates items, decisions and exposure events
with ``generate_series`` (three agencies, 20 cases in the bench one, near-duplicate
groups, decisions for ~60% of the items, exposure events; ~15 min at 1M on a busy
2-core machine, then kept and reused), adds any ``Meta.indexes`` missing from the tables,
then times each selector ``--runs`` times, the selectors of ``--before`` (a git ref,
default HEAD) and of the working tree *interleaved* run by run (so a machine busy with
other work slows both alike), and prints the medians in ms and their ratio
(after / before), plus the backend's CPU time of the whole dashboard (less sensitive to
other load than wall time). Both must give the same figures: checked and printed.

The flow, rate and reviewer figures are read from the daily rollup (triage/dashboard/
rollup.py), which triggers keep up to date on every write: the generation runs with the
triggers off and then rebuilds it from the rows (timed and printed; ``migrate`` rebuilds
it too when it is stale), so both sides are timed against the same rows. The triggers
append deltas that a beat task folds into the rollup every minute: the "after" side is
timed compacted, as that task leaves it, and then once more with ``--deltas`` (50k)
deltas not compacted yet (real ones, from undoing the latest decisions in a transaction
that is rolled back), the cost of a compactor that lags behind."""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB = "hub_bench_dash"  # + "_<n>": one scratch database per size, kept between runs
# When a change adds dashboard indexes, the "before" run goes without them (and with the
# ones they replaced), in a transaction that is rolled back. The windowed medians (the
# current change) add none: both runs use the same indexes.
ADDED_INDEXES: tuple[str, ...] = ()
REPLACED_INDEXES: dict[str, str] = {}


def ensure_db(fresh: bool) -> None:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    conn.autocommit = True
    cur = conn.cursor()
    if fresh:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB])
    if not cur.fetchone():
        cur.execute(f"CREATE DATABASE {DB}")
    conn.close()


# Three agencies: the bench agency holds 80% of the items (20 cases, 2 of them closed),
# two others the rest (their rows must cost the bench agency's queries nothing). Item
# attributes come from residues of g by coprime moduli (independent, deterministic, and
# fast: no per-row subqueries). Review states: 5% not queued, 20% queued, 5% second
# review, 5% conflict, 15% auto-graded, 50% reviewed; created over 60 days.
GENERATE = """
INSERT INTO triage_evidenceitem (
  uuid, agency_id, case_id, batch_id, path, original_name, size, depth, status, stage,
  failure_reason, error_traceback, attempts, processed_at, media_type, media_kind, pdq,
  pdq_dihedral, known_state, classifier_score, priority, priority_reasons, review_state,
  group_id, category, is_precategorized, precategorization_source, needs_verification,
  queued_at, first_reviewed_at, created_at)
SELECT gen_random_uuid(), a.agency, a.cases[1 + (g / 10) %% a.n], a.batches[1 + (g / 10) %% a.n],
  'p/' || g, 'f', 1, 0,
  CASE WHEN s.st = 'not_queued' THEN (ARRAY['failed','errored','pending'])[1 + g %% 3]
       ELSE 'done' END, '', '', '', 1,
  t.created + interval '5 minutes', 'image/jpeg', 'image', '', '[]',
  CASE WHEN s.st = 'auto_graded' THEN 'exact' ELSE 'unknown' END,
  CASE WHEN g %% 3 = 0 THEN ((g::bigint * 7919) %% 1000) / 1000.0 END, (g %% 97) / 97.0, '[]',
  s.st, NULL,
  CASE WHEN s.st IN ('reviewed', 'auto_graded', 'second_review', 'conflict')
       THEN (ARRAY['0','1','2','3','4'])[1 + g %% 5] ELSE '' END,
  s.st = 'auto_graded', '', false,
  CASE WHEN s.st <> 'not_queued' THEN t.created + interval '1 hour' END,
  CASE WHEN s.st IN ('reviewed', 'second_review', 'conflict')
       THEN LEAST(now(), t.created + interval '1 hour' * (2 + g %% 41)) END,
  t.created
FROM generate_series(1, %(n)s) g
CROSS JOIN LATERAL (
  SELECT now() - interval '1 second' * ((g::bigint * 48271) %% (86400 * 60)) AS created
) t
CROSS JOIN LATERAL (
  SELECT (ARRAY['not_queued','queued','queued','queued','queued','second_review','conflict',
                'auto_graded','auto_graded','auto_graded','reviewed','reviewed','reviewed',
                'reviewed','reviewed','reviewed','reviewed','reviewed','reviewed','reviewed'
               ])[1 + (g::bigint * 40503) %% 65521 %% 20] AS st
) s
JOIN (SELECT unnest(%(agencies)s::int[]) AS agency, generate_series(0, 9) AS slot) sl
  ON sl.slot = g %% 10
JOIN (
  SELECT c.agency_id AS agency, array_agg(c.id ORDER BY c.id) AS cases,
    array_agg(b.id ORDER BY c.id) AS batches, count(*)::int AS n
  FROM triage_case c JOIN LATERAL (
    SELECT id FROM triage_evidencebatch WHERE case_id = c.id ORDER BY id LIMIT 1) b ON true
  GROUP BY c.agency_id
) a ON a.agency = sl.agency
"""

# Near-duplicate groups: 10% of the items, a few per case in each run of 400 ids.
GROUPS = """
INSERT INTO triage_itemgroup (uuid, agency_id, case_id, representative_id, size, pinned,
  created_at)
SELECT gen_random_uuid(), agency_id, case_id, min(id), count(*), false, min(created_at)
FROM triage_evidenceitem WHERE id % 10 = 0 GROUP BY agency_id, case_id, id / 400;
UPDATE triage_evidenceitem i SET group_id = grp.id
FROM triage_itemgroup grp
WHERE i.id % 10 = 0 AND grp.case_id = i.case_id AND grp.representative_id / 400 = i.id / 400;
"""

# A person's decision for every item first reviewed (about 60%: reviewed, second review
# and conflict), a second one for conflicts, an auto-grade for auto-graded items; 2% of
# decisions undone.
DECISIONS = """
INSERT INTO triage_reviewdecision (uuid, agency_id, item_id, reviewer_id, kind, category,
  note, source, created_at, undone_at, previous_state, previous_category)
SELECT gen_random_uuid(), i.agency_id, i.id,
  CASE WHEN d.kind = 'auto' THEN NULL ELSE u.users[1 + (i.id / 3) % array_length(u.users, 1)] END,
  d.kind, '1', '', '', d.at, CASE WHEN i.id % 50 = 0 THEN d.at + interval '1 minute' END, '', ''
FROM triage_evidenceitem i
JOIN (SELECT agency_id, array_agg(user_id ORDER BY user_id) AS users FROM hub_membership
      GROUP BY agency_id) u ON u.agency_id = i.agency_id
CROSS JOIN LATERAL (
  SELECT CASE WHEN i.id % 23 = 0 THEN 'supervisor' WHEN i.id % 29 = 0 THEN 'verification'
              ELSE 'first' END AS kind, i.first_reviewed_at AS at
  WHERE i.first_reviewed_at IS NOT NULL
  UNION ALL
  SELECT 'second', i.first_reviewed_at + interval '2 hours' WHERE i.review_state = 'conflict'
  UNION ALL
  SELECT 'auto', i.processed_at WHERE i.review_state = 'auto_graded'
) d
"""

# A reveal for most decisions and a video play for one in seven; now and then an original
# opened.
EXPOSURE = """
INSERT INTO triage_exposureevent (agency_id, user_id, item_id, kind, started_at, duration_ms)
SELECT agency_id, reviewer_id, item_id,
  CASE WHEN id % 7 = 0 THEN 'video' WHEN id % 31 = 0 THEN 'original' ELSE 'reveal' END,
  created_at - interval '30 seconds', (id % 300) * 1000
FROM triage_reviewdecision WHERE reviewer_id IS NOT NULL AND id % 10 <> 0
"""


def populate(n: int) -> None:
    from django.db import connection

    from hub.models import Agency, Membership, Role, User
    from triage.models import Case, EvidenceBatch, EvidenceItem

    if EvidenceItem.objects.count() >= n:
        print(f"reusing {EvidenceItem.objects.count()} items")
        return
    slots = []  # ten slots: 8 for the bench agency, one for each other
    for slug, n_cases, n_users, share in (
        ("bench", 20, 6, 8),
        ("north", 5, 3, 1),
        ("south", 5, 3, 1),
    ):
        agency, _ = Agency.objects.get_or_create(slug=slug, defaults={"name": slug.title()})
        slots += [agency.pk] * share
        for i in range(n_users):
            u, _ = User.objects.get_or_create(username=f"{slug}{i}")
            Membership.objects.get_or_create(
                user=u, agency=agency, defaults={"role": Role.SUPERVISOR}
            )
        for i in range(n_cases):
            case, _ = Case.objects.get_or_create(
                agency=agency,
                reference=f"{slug.upper()}-{i}",
                defaults={"title": f"{slug} {i}", "urgency": i % 4, "is_closed": i in (7, 13)},
            )
            if not case.batches.exists():
                EvidenceBatch.objects.create(agency=agency, case=case, exhibit_ref=f"E{i}")
    t = time.perf_counter()
    with connection.cursor() as cur:
        # The dashboard rollup's triggers off while generating (a row-by-row upsert for
        # every generated row); the rollup is rebuilt from the rows afterwards, as after a
        # restore (manage.py rebuild_dashboard_rollup).
        cur.execute("SET session_replication_role = replica")
        cur.execute(GENERATE, {"agencies": slots, "n": n})
        cur.execute(GROUPS)
        cur.execute(DECISIONS)
        cur.execute(EXPOSURE)
        cur.execute("SET session_replication_role = DEFAULT")
    print(f"generated {n} items in {time.perf_counter() - t:.1f}s")
    build_rollup(force=True)
    connection.close()
    vacuum_analyze()


def build_rollup(force: bool = False) -> None:
    """The dashboard's daily rollup: rebuilt when forced (after generating) or stale
    (``migrate`` already rebuilds a stale one; this says so and how long it takes), then
    its deltas compacted, as the beat task leaves it."""
    from django.conf import settings
    from django.db import connection

    from triage.dashboard import rollup

    t = time.perf_counter()
    if force or not rollup.is_current(connection, settings.TIME_ZONE):
        rows = rollup.rebuild(connection, settings.TIME_ZONE)
        print(f"rebuilt the dashboard rollup ({rows} rows) in {time.perf_counter() - t:.1f}s")
    else:
        print("the dashboard rollup is current (kept up by its triggers)")
    t = time.perf_counter()
    keys = rollup.compact(connection)
    with connection.cursor() as cur:
        cur.execute(f"ANALYZE {rollup.TABLE}, {rollup.DELTA_TABLE}")
    print(f"compacted the rollup's deltas ({keys} keys) in {time.perf_counter() - t:.2f}s")


# Deltas not compacted yet, as a lagging compactor leaves them: the triggers' own, from
# undoing the latest decisions of the bench agency (one delta row each), in the
# transaction that is then rolled back.
UNDO_LATEST = """
UPDATE triage_reviewdecision SET undone_at = now() WHERE id IN (
  SELECT id FROM triage_reviewdecision
  WHERE agency_id = %s AND undone_at IS NULL AND kind <> 'auto'
  ORDER BY created_at DESC LIMIT %s)
"""


def measure_deltas(n_deltas: int, runs: int, f, before_dash, f0) -> None:
    """The rollup read and the whole dashboard, compacted and with ``n_deltas`` deltas
    pending (medians of ``runs``; the two states one after the other, not interleaved),
    and the figures checked against the direct queries of ``before_dash``."""
    from django.db import connection, transaction

    from triage.dashboard import rollup
    from triage.dashboard import selectors as dash

    timed = {
        "rollup read": lambda: dash.daily_activity(f),
        "dashboard (all)": lambda: dash.dashboard(f),
    }

    def medians():
        for fn in timed.values():
            fn()  # warm
        return {name: statistics.median(_ms(fn) for _ in range(runs)) for name, fn in timed.items()}

    compacted = medians()
    with transaction.atomic():
        t = time.perf_counter()
        with connection.cursor() as cur:
            cur.execute(UNDO_LATEST, [f.agency.pk, n_deltas])
            undone = cur.rowcount
            cur.execute(f"SELECT count(*) FROM {rollup.DELTA_TABLE}")
            pending = cur.fetchone()[0]
        print(
            f"undid {undone} decisions: {pending} deltas pending "
            f"(triggers: {time.perf_counter() - t:.1f}s)"
        )
        stale_stats = medians()
        with connection.cursor() as cur:
            cur.execute(f"ANALYZE {rollup.DELTA_TABLE}")
        analyzed = medians()
        if before_dash is not None:
            same = before_dash.dashboard(f0) == dash.dashboard(f)
            print(f"same figures as the direct queries with the deltas pending: {same}")
        t = time.perf_counter()
        keys = rollup.compact(connection)
        print(f"compacting them: {keys} keys in {(time.perf_counter() - t) * 1000:.0f} ms")
        transaction.set_rollback(True)
    print(f"rollup with {pending} uncompacted deltas, median of {runs} runs (ms)")
    print(f"  {'':<20} {'compacted':>10} {'deltas':>8} {'ratio':>6} {'analyzed':>9} {'ratio':>6}")
    for name in timed:
        c, d, a = compacted[name], stale_stats[name], analyzed[name]
        print(f"  {name:<20} {c:10.1f} {d:8.1f} {d / c:6.2f} {a:9.1f} {a / c:6.2f}")


def vacuum_analyze() -> None:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=DB)
    conn.autocommit = True
    conn.cursor().execute("VACUUM ANALYZE")
    conn.close()


def _ms(fn) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def _backend_cpu_ms(connection) -> float | None:
    """CPU time used so far by this connection's PostgreSQL backend (Linux, same host)."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    try:
        with open(f"/proc/{pid}/schedstat") as fh:
            return int(fh.read().split()[0]) / 1e6
    except OSError:
        return None


def ensure_indexes() -> None:
    """``migrate --run-syncdb`` creates missing tables, not the indexes added to existing
    ones: add every ``Meta.indexes`` entry of the dashboard's tables that is missing."""
    from django.db import connection

    from triage.models import EvidenceItem, ExposureEvent, ReviewDecision

    for model in (EvidenceItem, ReviewDecision, ExposureEvent):
        with connection.cursor() as cur:
            existing = connection.introspection.get_constraints(cur, model._meta.db_table)
        missing = [i for i in model._meta.indexes if i.name not in existing]
        with connection.schema_editor() as editor:
            for index in missing:
                t = time.perf_counter()
                editor.add_index(model, index)
                print(f"created index {index.name} in {time.perf_counter() - t:.1f}s")
    with connection.cursor() as cur:
        for name in REPLACED_INDEXES:
            cur.execute(f'DROP INDEX IF EXISTS "{name}"')
        cur.execute("ANALYZE")


def load_selectors(ref: str):
    """The selectors module as of git ``ref`` (None if it is the current one)."""
    path = "triage/dashboard/selectors.py"
    src = subprocess.run(
        ["git", "show", f"{ref}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    if src == (ROOT / path).read_text():
        return None
    module = types.ModuleType(f"selectors_{ref}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(src, f"{ref}:{path}", "exec"), module.__dict__)
    return module


SELECTORS = {
    "backlog_by_case": lambda dash, f: dash.backlog_by_case(f),
    "case_rows": lambda dash, f: dash.case_rows(f),
    "flow_per_day": lambda dash, f: dash.flow_per_day(f),
    "timings (medians)": lambda dash, f: dash.timings(f),
    "rates": lambda dash, f: dash.rates(f),
    "reviewer_days": lambda dash, f: dash.reviewer_days(f),
    "dashboard (all)": lambda dash, f: dash.dashboard(f),
}


def measure(runs: int, sides: dict) -> dict:
    """sides: name -> (selectors module, filter, setup context). Each run times every
    selector on every side in turn; returns name -> selector -> list of ms, and
    name -> list of backend CPU ms of ``dashboard``."""
    from django.db import connection

    wall = {side: {name: [] for name in SELECTORS} for side in sides}
    cpu = {side: [] for side in sides}
    for _ in range(runs):
        for name, fn in SELECTORS.items():
            for side, (dash, f, context) in sides.items():
                with context():
                    before = _backend_cpu_ms(connection) if name == "dashboard (all)" else None
                    wall[side][name].append(_ms(lambda: fn(dash, f)))  # noqa: B023
                    if before is not None:
                        cpu[side].append(_backend_cpu_ms(connection) - before)
    return {"wall": wall, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--deltas",
        type=int,
        default=50_000,
        help="uncompacted rollup deltas to time the dashboard with at the end (0: none)",
    )
    parser.add_argument(
        "--serial",
        action="store_true",
        help="no parallel query workers: the backend's CPU time is then all the work "
        "(a busy machine's wall times are noisy; this figure much less so)",
    )
    parser.add_argument(
        "--before",
        default="HEAD",
        help="git ref of the selectors to compare with (run without the indexes in "
        "ADDED_INDEXES, dropped in a transaction that is rolled back)",
    )
    args = parser.parse_args()
    global DB
    DB = f"{DB}_{args.n}"
    ensure_db(args.fresh)
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB}"
    os.environ.setdefault("HUB_DATA_DIR", "/tmp/hub-bench-dash")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    import django

    django.setup()
    from django.apps import apps
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, transaction

    # Migrations may lag the models (other engineers' files): build the scratch schema
    # from the models themselves, as the test suite does with --nomigrations.
    settings.MIGRATION_MODULES = {a.label: None for a in apps.get_app_configs()}
    call_command("migrate", run_syncdb=True, verbosity=0)
    populate(args.n)
    ensure_indexes()
    build_rollup()

    from hub.models import Agency
    from triage.dashboard import selectors as dash

    agency = Agency.objects.get(slug="bench")
    start, end = dash.default_range(days=30)
    f = dash.DashboardFilter(agency, start, end)
    sides = {"after": (dash, f, contextlib.nullcontext)}
    before_dash = load_selectors(args.before)
    if before_dash is not None:
        f0 = before_dash.DashboardFilter(agency, start, end, now=f.now)

        @contextlib.contextmanager
        def before_indexes():
            # The indexes as they were before (only when a change adds some): dropped
            # and recreated in a transaction that is rolled back.
            if not ADDED_INDEXES and not REPLACED_INDEXES:
                yield
                return
            with transaction.atomic():
                with connection.cursor() as cur:
                    for name in ADDED_INDEXES:
                        cur.execute(f'DROP INDEX IF EXISTS "{name}"')
                    for sql in REPLACED_INDEXES.values():
                        cur.execute(sql)
                    cur.execute("ANALYZE triage_evidenceitem")
                yield
                transaction.set_rollback(True)

        sides["before"] = (before_dash, f0, before_indexes)
        with before_indexes():
            old = before_dash.dashboard(f0)
        print(f"same figures before and after: {old == dash.dashboard(f)}")
    else:
        print(f"the selectors are the same as {args.before}: no 'before' run")
    print(f"after reads the daily rollup: {dash.daily_activity(f) is not None}")
    if args.serial:
        with connection.cursor() as cur:
            cur.execute("SET max_parallel_workers_per_gather = 0")
    dash.dashboard(f)  # warm the caches once
    result = measure(args.runs, sides)
    wall, cpu = result["wall"], result["cpu"]
    med = statistics.median
    mode = ", no parallel workers" if args.serial else ""
    print(
        f"items: {args.n}, range {start}..{end}, median of {args.runs} interleaved runs (ms{mode})"
    )
    print(f"  {'selector':<20} {'before':>8} {'after':>8} {'after/before':>13}")
    for name in SELECTORS:
        a = med(wall["after"][name])
        if "before" in wall:
            b = med(wall["before"][name])
            print(f"  {name:<20} {b:8.1f} {a:8.1f} {a / b:13.2f}")
        else:
            print(f"  {name:<20} {'-':>8} {a:8.1f} {'-':>13}")
    if all(cpu.values()) and None not in sum(cpu.values(), []):
        line = f"  {'dashboard db cpu':<20}"
        if "before" in cpu:
            b, a = med(cpu["before"]), med(cpu["after"])
            print(f"{line} {b:8.1f} {a:8.1f} {a / b:13.2f}")
        else:
            print(f"{line} {'-':>8} {med(cpu['after']):8.1f} {'-':>13}")
    from bench._report import result as report

    total = "dashboard (all)"
    after = med(wall["after"][total])
    if "before" in wall:
        ratio = after / med(wall["before"][total])
        report(
            "dashboard",
            f"whole dashboard at {args.n:,} items",
            f"{after:.0f} ms",
            f"{ratio:.2f}× of before",
        )
    else:
        report(
            "dashboard",
            f"whole dashboard at {args.n:,} items",
            f"{after:.0f} ms",
            "goal ≤ 300 ms at 1M",
        )
    if args.deltas:
        measure_deltas(
            args.deltas, args.runs, f, before_dash, f0 if before_dash is not None else None
        )


if __name__ == "__main__":
    main()
