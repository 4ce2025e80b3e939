"""Benchmark the supervisor dashboard's selectors on a scratch PostgreSQL database.

    .venv/bin/python bench/dashboard.py            # 100k items
    .venv/bin/python bench/dashboard.py --n 1000000

Creates (or recreates with --fresh) ``hub_bench_dash`` on 127.0.0.1 (trust auth), builds
the schema with ``migrate --run-syncdb``, generates items, decisions and exposure events
with ``generate_series`` (seconds, not hours), then prints the median of 5 runs per
selector in ms. Goal: the whole dashboard <= 300 ms at 1M items."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB = "hub_bench_dash"


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


GENERATE = """
INSERT INTO triage_evidenceitem (
  uuid, agency_id, case_id, batch_id, path, original_name, size, depth, status, stage,
  failure_reason, error_traceback, attempts, processed_at, media_type, media_kind, pdq,
  pdq_dihedral, known_state, classifier_score, priority, priority_reasons, review_state,
  group_id, category, is_precategorized, precategorization_source, needs_verification,
  queued_at, first_reviewed_at, created_at)
SELECT gen_random_uuid(), %(agency)s, c.id, c.batch, 'p/' || g, 'f', 1, 0,
  CASE WHEN g %% 50 = 0 THEN 'failed' ELSE 'done' END, '', '', '', 1,
  t.created + interval '5 minutes', 'image/jpeg', 'image', '', '[]', 'unknown',
  CASE WHEN g %% 3 = 0 THEN random() END, 0, '[]',
  (ARRAY['queued','reviewed','auto_graded','second_review','conflict','reviewed'])[1 + g %% 6],
  NULL, (ARRAY['','0','1','2'])[1 + g %% 4], g %% 4 = 0, '', false,
  t.created + interval '1 hour',
  CASE WHEN g %% 6 IN (1, 3, 4, 5) THEN t.created + interval '1 hour' * (1 + g %% 40) END,
  t.created
FROM generate_series(1, %(n)s) g
CROSS JOIN LATERAL (SELECT now() - interval '1 minute' * (g %% (60*24*60)) AS created) t
CROSS JOIN LATERAL (
  SELECT id, (SELECT b.id FROM triage_evidencebatch b WHERE b.case_id = cc.id LIMIT 1) AS batch
  FROM triage_case cc WHERE cc.agency_id = %(agency)s ORDER BY cc.id OFFSET (g %% 20) LIMIT 1
) c
"""

DECISIONS = """
INSERT INTO triage_reviewdecision (uuid, agency_id, item_id, reviewer_id, kind, category,
  note, source, created_at, previous_state, previous_category)
SELECT gen_random_uuid(), agency_id, id, (%(users)s::int[])[1 + id %% 5],
  (ARRAY['first','second','auto','supervisor','verification'])[1 + id %% 5], '1', '', '',
  first_reviewed_at, '', ''
FROM triage_evidenceitem WHERE first_reviewed_at IS NOT NULL AND agency_id = %(agency)s
"""

EXPOSURE = """
INSERT INTO triage_exposureevent (agency_id, user_id, item_id, kind, started_at, duration_ms)
SELECT agency_id, (%(users)s::int[])[1 + id %% 5], id,
  CASE WHEN id %% 7 = 0 THEN 'video' ELSE 'reveal' END, first_reviewed_at, (id %% 300) * 1000
FROM triage_evidenceitem WHERE first_reviewed_at IS NOT NULL AND agency_id = %(agency)s
"""


def populate(n: int) -> None:
    from django.db import connection

    from hub.models import Agency, Membership, Role, User
    from triage.models import Case, EvidenceBatch, EvidenceItem

    if EvidenceItem.objects.count() >= n:
        print(f"reusing {EvidenceItem.objects.count()} items")
        return
    agency, _ = Agency.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    users = []
    for i in range(5):
        u, _ = User.objects.get_or_create(username=f"bench{i}")
        Membership.objects.get_or_create(user=u, agency=agency, defaults={"role": Role.SUPERVISOR})
        users.append(u.pk)
    for i in range(20):
        case, _ = Case.objects.get_or_create(
            agency=agency, reference=f"B-{i}", defaults={"title": f"Bench {i}", "urgency": i % 4}
        )
        if not case.batches.exists():
            EvidenceBatch.objects.create(agency=agency, case=case, exhibit_ref=f"E{i}")
    t = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute(GENERATE, {"agency": agency.pk, "n": n})
        cur.execute(DECISIONS, {"agency": agency.pk, "users": users})
        cur.execute(EXPOSURE, {"agency": agency.pk, "users": users})
        cur.execute("ANALYZE")
    print(f"generated {n} items in {time.perf_counter() - t:.1f}s")


def timed(fn, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    ensure_db(args.fresh)
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB}"
    os.environ.setdefault("HUB_DATA_DIR", "/tmp/hub-bench-dash")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    import django

    django.setup()
    from django.apps import apps
    from django.conf import settings
    from django.core.management import call_command

    # Migrations may lag the models (other engineers' files): build the scratch schema
    # from the models themselves, as the test suite does with --nomigrations.
    settings.MIGRATION_MODULES = {a.label: None for a in apps.get_app_configs()}
    call_command("migrate", run_syncdb=True, verbosity=0)
    populate(args.n)

    from hub.models import Agency
    from triage.dashboard import selectors as dash

    agency = Agency.objects.get(slug="bench")
    start, end = dash.default_range(days=30)
    f = dash.DashboardFilter(agency, start, end)
    rows = {
        "backlog_by_case": lambda: dash.backlog_by_case(f),
        "case_rows": lambda: dash.case_rows(f),
        "flow_per_day": lambda: dash.flow_per_day(f),
        "timings (medians)": lambda: dash.timings(f),
        "rates": lambda: dash.rates(f),
        "reviewer_days": lambda: dash.reviewer_days(f),
        "dashboard (all)": lambda: dash.dashboard(f),
    }
    print(f"items: {args.n}, range {start}..{end} (median of 5, ms)")
    for name, fn in rows.items():
        print(f"  {name:<20} {timed(fn):8.1f}")


if __name__ == "__main__":
    main()
