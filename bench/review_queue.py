"""Review-queue claim benchmark at scale (PostgreSQL): 1M items, 20 concurrent reviewers.

    .venv/bin/python bench/review_queue.py                    # 1M items, 20 reviewers
    .venv/bin/python bench/review_queue.py --reuse            # reuse the database built before
    .venv/bin/python bench/review_queue.py --items 100000 --reviewers 4
    BENCH_PLAN=1 .venv/bin/python bench/review_queue.py --reuse   # print the full plans

(Not ``bench/queue.py``: a script's folder comes first on ``sys.path``, and a ``queue.py``
there would shadow the standard library's ``queue`` for every script in ``bench/``.)

1. Builds ``--items`` items awaiting review in a scratch PostgreSQL database (``--db``,
   default ``hub_bench_queue`` on the server of ``DATABASE_URL``, else 127.0.0.1:5432):
   the schema from the project's migrations, then the rows server-side with one
   ``INSERT … SELECT generate_series`` per table (no row crosses the wire), spread over
   ``--cases`` cases with every reviewer on the team; 10% of the items in near-duplicate
   groups of 5 (the queue shows each group once, through its representative), 3% awaiting
   a second review after a first decision by one of the reviewers (who must not get it
   again); plus ``--history`` items reviewed earlier, each with a decision by one of the
   reviewers (a reviewer's past decisions are what the second-review check searches).
   With ``--reuse`` a database built with the same sizes is reset (earlier runs'
   decisions and leases undone, vacuumed) instead of rebuilt.
2. For the claim ``before`` (``review_claim`` and its selectors as of ``--before``) and
   ``after`` (the working tree): the plan of the claim query (EXPLAIN ANALYZE, BUFFERS)
   with its server-side planning and execution times, then ``--reviewers`` processes (as
   web workers are) that each claim and decide ``--claims`` times through the services
   (``review_claim``, ``review_decide``), all at once, with ``--pause`` seconds between a
   decision and the next claim (0: back to back, the worst case; a person needs seconds
   per item). Prints p50/p95/p99 of the claim's wall time and what it is made of: the
   time in database calls as the client sees them, and the claim's own CPU time in the
   reviewer process. Both variants run in this one run, on the same data.
3. The same number of processes send only the claim statement through bare psycopg2
   connections (no Django, no decisions): the database's share under the same
   concurrency.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
os.environ.setdefault("HUB_DATA_DIR", "/tmp/hub-bench")

BUILD_VERSION = 5  # bump when the generated data changes
BEFORE = "60c96b9"  # the commit before the claim was made one compiled statement
AGENCY_SLUG = "bench-queue"
GROUP_EVERY = 10  # g % 10 == 0: in a group (10% of the items)
GROUP_SIZE = 5  # consecutive grouped items form a group of 5
SECOND_EVERY = 33  # g % 33 == 1: awaiting second review (3%)
SETUP_TIME = "2020-01-01T00:00:00Z"  # decisions of the setup; later ones are the runs'

# The generated state of row g, used both to build and to reset (keep them identical).
STATE_SQL = (
    f"CASE WHEN mod(g, {SECOND_EVERY}) = 1 AND mod(g, {GROUP_EVERY}) <> 0 "
    "THEN 'second_review' ELSE 'queued' END"
)
# A spread of priorities like the priority function's: -60 (exact) … +110.
PRIORITY_SQL = "round((mod(abs(hashint4(g)), 170000) / 1000.0 - 60)::numeric, 3)::float8"


def database_url(name: str) -> str:
    import dj_database_url

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    cfg = dj_database_url.parse(base)
    if cfg["ENGINE"] != "django.db.backends.postgresql":
        base = "postgres://postgres@127.0.0.1:5432/postgres"
        cfg = dj_database_url.parse(base)
    user = cfg.get("USER") or "postgres"
    password = f":{cfg['PASSWORD']}" if cfg.get("PASSWORD") else ""
    host = cfg.get("HOST") or "127.0.0.1"
    port = cfg.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{name}"


def _admin_connection(url: str):
    import psycopg2

    conn = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres")
    conn.autocommit = True
    return conn


def database_exists(url: str, name: str) -> bool:
    conn = _admin_connection(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            return cur.fetchone() is not None
    finally:
        conn.close()


def recreate_database(url: str, name: str) -> None:
    conn = _admin_connection(url)
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    # The page timings below use Django's test client: its host, and no second factor
    # (a local bench, as the demo is).
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost,testserver"
    os.environ.setdefault("HUB_DEMO", "true")
    os.environ.setdefault("HUB_REQUIRE_2FA", "false")
    import django

    django.setup()


def built_size() -> tuple | None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass('bench_queue_meta') IS NOT NULL")
        if not cur.fetchone()[0]:
            return None
        cur.execute("SELECT items, history, version FROM bench_queue_meta")
        row = cur.fetchone()
    return (row[0], row[1]) if row and row[2] == BUILD_VERSION else None


def personas(n_reviewers: int, n_cases: int):
    """The agency, ``n_reviewers`` investigators and the cases (created when missing)."""
    from hub.models import Agency, Membership, Role, User
    from triage.models import Case, EvidenceBatch

    agency, _ = Agency.objects.get_or_create(slug=AGENCY_SLUG, defaults={"name": "Bench Queue"})
    users = []
    for k in range(n_reviewers):
        user, made = User.objects.get_or_create(username=f"qreviewer{k}")
        if made:
            Membership.objects.create(user=user, agency=agency, role=Role.INVESTIGATOR)
        users.append(user)
    cases = []
    for k in range(n_cases):
        case, _ = Case.objects.get_or_create(
            agency=agency,
            reference=f"Q-{k}",
            defaults={"title": "Queue", "urgency": k % 4, "created_by": users[0]},
        )
        case.team.add(*users)
        batch = EvidenceBatch.objects.filter(case=case).first()
        batch = batch or EvidenceBatch.objects.create(agency=agency, case=case, status="complete")
        cases.append((case, batch))
    return agency, users, cases


ITEM_COLUMNS = """uuid, agency_id, case_id, batch_id, path, original_name, size, depth, status,
    stage, failure_reason, error_traceback, attempts, media_type, media_kind, pdq,
    pdq_dihedral, known_state, priority, priority_reasons, review_state, category,
    is_precategorized, precategorization_source, needs_verification, queued_at,
    processed_at, first_reviewed_at, created_at"""


def _insert_items(cur, agency, cases, *, prefix: str, count: int, state: str) -> None:
    n_cases = len(cases)
    case_ids = ",".join(str(c.pk) for c, _ in cases)
    batch_ids = ",".join(str(b.pk) for _, b in cases)
    reviewed = "'0'" if state != STATE_SQL else "''"
    first = "%s::timestamptz" if state != STATE_SQL else "NULL"
    params = [agency.pk] + ([SETUP_TIME] if state != STATE_SQL else []) + [count]
    cur.execute(
        f"""
        INSERT INTO triage_evidenceitem ({ITEM_COLUMNS})
        SELECT gen_random_uuid(), %s, (ARRAY[{case_ids}])[1 + mod(g / 100, {n_cases})],
            (ARRAY[{batch_ids}])[1 + mod(g / 100, {n_cases})], '{prefix}/' || g, g || '.png',
            1000, 0, 'done', 'prioritise', '', '', 1, 'image/png', 'image', '', '[]',
            'unknown', {PRIORITY_SQL}, '[]', {state}, {reviewed}, false, '', false,
            now() - mod(g, 90) * interval '1 day', now(), {first},
            now() - mod(g, 90) * interval '1 day'
        FROM generate_series(0, %s - 1) AS g
        """,
        params,
    )


def build(n_items: int, n_history: int, n_reviewers: int, n_cases: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    t1 = time.perf_counter()
    agency, users, cases = personas(max(n_reviewers, 20), n_cases)
    reviewer_ids = ",".join(str(u.pk) for u in users[:20])
    with connection.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        _insert_items(cur, agency, cases, prefix="q", count=n_items, state=STATE_SQL)
        _insert_items(cur, agency, cases, prefix="h", count=n_history, state="'reviewed'")
        # Groups: 5 grouped queue items (g = 50k, 50k+10, … 50k+40: the same block of 100
        # rows, so the same case); the member with the highest priority represents it.
        # Group k gets the k-th id of one INSERT (checked), so no join is needed.
        grouped = (
            f"agency_id = {int(agency.pk)} AND path LIKE 'q/%%' "
            f"AND mod(split_part(path, '/', 2)::int, {GROUP_EVERY}) = 0"
        )
        span = GROUP_EVERY * GROUP_SIZE
        cur.execute(
            f"""
            INSERT INTO triage_itemgroup (uuid, agency_id, case_id, size, pinned, created_at)
            SELECT gen_random_uuid(), %s,
                (ARRAY[{",".join(str(c.pk) for c, _ in cases)}])[1 + mod(k * {span} / 100, %s)],
                {GROUP_SIZE}, false, now()
            FROM generate_series(0, (%s - 1) / {span}) AS k ORDER BY k
            """,
            [agency.pk, len(cases), n_items],
        )
        cur.execute(
            "SELECT min(id), max(id), count(*) FROM triage_itemgroup WHERE agency_id = %s",
            [agency.pk],
        )
        first, last, count = cur.fetchone()
        if last - first + 1 != count:
            raise RuntimeError("group ids are not consecutive; rebuild into a fresh database")
        cur.execute(
            "UPDATE triage_evidenceitem "
            f"SET group_id = %s + split_part(path, '/', 2)::int / {span} WHERE {grouped}",
            [first],
        )
        cur.execute(
            """
            UPDATE triage_itemgroup g SET representative_id = best.id
            FROM (SELECT DISTINCT ON (group_id) group_id, id FROM triage_evidenceitem
                  WHERE group_id IS NOT NULL ORDER BY group_id, priority DESC, id) best
            WHERE best.group_id = g.id
            """
        )
        # The first decisions of the items awaiting a second review, and the history.
        cur.execute(
            f"""
            INSERT INTO triage_reviewdecision (
                uuid, agency_id, item_id, reviewer_id, kind, category, note, source,
                created_at, previous_state, previous_category)
            SELECT gen_random_uuid(), agency_id, id,
                (ARRAY[{reviewer_ids}])[1 + mod(split_part(path, '/', 2)::int, 20)],
                'first', CASE WHEN review_state = 'reviewed' THEN '0' ELSE '1' END, '', '',
                %s, 'queued', ''
            FROM triage_evidenceitem
            WHERE agency_id = %s AND review_state IN ('second_review', 'reviewed')
            """,
            [SETUP_TIME, agency.pk],
        )
        cur.execute(
            "UPDATE triage_evidenceitem SET category = '1', first_reviewed_at = %s "
            "WHERE agency_id = %s AND review_state = 'second_review'",
            [SETUP_TIME, agency.pk],
        )
        cur.execute("DROP TABLE IF EXISTS bench_queue_meta")
        cur.execute("CREATE TABLE bench_queue_meta (items int, history int, version int)")
        cur.execute(
            "INSERT INTO bench_queue_meta VALUES (%s, %s, %s)", [n_items, n_history, BUILD_VERSION]
        )
    vacuum()
    t2 = time.perf_counter()
    print(
        f"built: {n_items:,} queue items and {n_history:,} reviewed ones in {n_cases} cases "
        f"(schema {t1 - t0:.1f} s, rows + vacuum {t2 - t1:.1f} s)"
    )


def vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        for table in ("triage_evidenceitem", "triage_itemgroup", "triage_reviewdecision"):
            cur.execute(f"VACUUM ANALYZE {table}")


def reset(agency) -> None:
    """Undo what earlier runs did (decisions, leases), so every run starts the same."""
    from django.db import connection

    t0 = time.perf_counter()
    state = STATE_SQL.replace("(g,", "(split_part(path, '/', 2)::int,")
    with connection.cursor() as cur:
        cur.execute(
            f"""
            UPDATE triage_evidenceitem SET
                review_state = {state},
                category = CASE WHEN {state} = 'second_review' THEN '1' ELSE '' END,
                first_reviewed_at = CASE WHEN {state} = 'second_review'
                    THEN %s::timestamptz END,
                claimed_by_id = NULL, lease_expires_at = NULL, needs_verification = false
            WHERE agency_id = %s AND path LIKE 'q/%%' AND (claimed_by_id IS NOT NULL
                OR first_reviewed_at > %s
                OR id IN (SELECT item_id FROM triage_reviewdecision WHERE created_at > %s))
            """,
            [SETUP_TIME, agency.pk, SETUP_TIME, SETUP_TIME],
        )
        touched = cur.rowcount
        cur.execute(
            "DELETE FROM triage_reviewdecision WHERE agency_id = %s AND created_at > %s",
            [agency.pk, SETUP_TIME],
        )
    vacuum()
    print(f"  (reset: {touched:,} items restored in {time.perf_counter() - t0:.1f} s)")


# --- the claim before and after -----------------------------------------------------------


_BEFORE: dict = {}


def load_before(ref: str):
    """``review_claim`` as of git ``ref``, with the selectors of that commit."""
    return load_before_modules(ref)["service"].review_claim


def load_before_modules(ref: str) -> dict:
    """The review ``selectors`` and ``service`` modules as of git ``ref``."""
    if ref in _BEFORE:
        return _BEFORE[ref]
    import subprocess
    import types

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    modules = {}
    for name in ("selectors", "service"):
        path = f"triage/review/{name}.py"
        src = subprocess.run(
            ["git", "show", f"{ref}:{path}"], cwd=root, capture_output=True, text=True, check=True
        ).stdout
        module = types.ModuleType(f"before_{name}")
        sys.modules[module.__name__] = module
        exec(compile(src, f"{ref}:{path}", "exec"), module.__dict__)  # noqa: S102
        modules[name] = module
    modules["service"].selectors = modules["selectors"]
    _BEFORE[ref] = modules
    return modules


def claim_function(variant: str, ref: str):
    if variant == "before":
        return load_before(ref)
    from triage.review.service import review_claim

    return review_claim


def claim_sql(claim, user, agency) -> tuple[str, list]:
    """The statement that chooses and locks the next item, and every statement sent."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from triage.review.service import review_release

    warm = claim(user=user, agency=agency)  # compiles what is compiled once per process
    if warm is not None:
        review_release(item=warm, user=user)
    with CaptureQueriesContext(connection) as ctx:
        item = claim(user=user, agency=agency)
    if item is not None:
        review_release(item=item, user=user)  # outside the capture
    sqls = [q["sql"] for q in ctx.captured_queries]
    chosen = next((s for s in sqls if "SKIP LOCKED" in s or s.startswith("EXECUTE ")), "")
    return chosen, sqls


def explain(claim, user, agency) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) of the claim statement (rolled back: nothing stays)."""
    from django.db import connection, transaction

    sql, sqls = claim_sql(claim, user, agency)
    if not sql:
        print("  (no claim statement captured)")
        return {}
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        plan = "\n".join(r[0] for r in cur.fetchall())
        transaction.set_rollback(True)
    planning, execution = [], []
    for _ in range(30):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("EXPLAIN (ANALYZE, TIMING OFF, SUMMARY) " + sql)
            rows = [r[0] for r in cur.fetchall()]
            transaction.set_rollback(True)
        for label, out in (("Planning Time", planning), ("Execution Time", execution)):
            line = next(r for r in rows if r.startswith(label))
            out.append(float(line.split(":")[1].split()[0]))
    # The walk's worst case: a second-review item first in line, whose check reads the
    # reviewer's own first decisions (the history built above), rolled back.
    second = []
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            """
            UPDATE triage_evidenceitem SET priority = 1000 WHERE id = (
                SELECT i.id FROM triage_evidenceitem i
                JOIN triage_reviewdecision d ON d.item_id = i.id
                WHERE i.agency_id = %s AND i.review_state = 'second_review'
                  AND d.reviewer_id <> %s ORDER BY i.id LIMIT 1)
            """,
            [agency.pk, user.pk],
        )
        for _ in range(5):
            with transaction.atomic():
                cur.execute("EXPLAIN (ANALYZE, TIMING OFF, SUMMARY) " + sql)
                rows = [r[0] for r in cur.fetchall()]
                transaction.set_rollback(True)
            line = next(r for r in rows if r.startswith("Execution Time"))
            second.append(float(line.split(":")[1].split()[0]))
        transaction.set_rollback(True)
    if os.environ.get("BENCH_PLAN"):
        print("  statements of one claim:")
        for s in sqls:
            print("   ", s)
        print(plan)
    lines = [line.strip().lstrip("->").strip() for line in plan.splitlines()]
    scan = next((line for line in lines if "item_queue" in line), "")
    if "SKIP LOCKED" not in sql and not any(line.startswith("LockRows") for line in lines):
        print("  (the claim statement locks nothing!)")
    buffers = next((line for line in lines if line.startswith("Buffers")), "")
    print(f"  {len(sqls)} statement(s) per claim; the queue walk: {scan.split('  (')[0]}")
    print(
        f"  claim statement on the server (one session, median of 30): planning "
        f"{statistics.median(planning):.2f} ms + execution {statistics.median(execution):.2f}"
        f" ms ({buffers.lower()}); with a second-review item first in line: execution "
        f"{statistics.median(second):.2f} ms"
    )
    return {
        "sql": sql,
        "statements": len(sqls),
        "planning": statistics.median(planning),
        "execution": statistics.median(execution),
        "second": statistics.median(second),
    }


# --- concurrent reviewers -----------------------------------------------------------------


def _reviewer(args):
    """One reviewer process: claim (timed), decide, pause, repeat."""
    variant, ref, agency_id, user_id, claims, pause, seed, barrier = args
    import random

    from django.db import connection, connections

    from hub.models import Agency, User
    from triage.review.service import review_decide

    connections.close_all()  # this process's own connection
    review_claim = claim_function(variant, ref)
    rng = random.Random(seed)
    db = {"t": 0.0, "n": 0}

    def timed(execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            db["t"] += time.perf_counter() - start
            db["n"] += 1

    agency, user = Agency.objects.get(pk=agency_id), User.objects.get(pk=user_id)
    commit = connection._commit

    def timed_commit():  # COMMIT does not pass through execute wrappers
        start = time.perf_counter()
        try:
            return commit()
        finally:
            db["t"] += time.perf_counter() - start
            db["n"] += 1

    connection._commit = timed_commit
    first = review_claim(user=user, agency=agency)  # warm up, not timed
    if first is not None:
        review_decide(item=first, user=user, category="0")
    rows, seen = [], []
    server0 = backend_cpu(connection)
    cpu_all = time.process_time()
    barrier.wait()
    with connection.execute_wrapper(timed):
        for _ in range(claims):
            db["t"], db["n"] = 0.0, 0
            cpu0 = time.process_time()
            start = time.perf_counter()
            item = review_claim(user=user, agency=agency)
            wall = time.perf_counter() - start
            cpu = time.process_time() - cpu0
            if item is None:
                break
            rows.append((wall, db["t"], cpu, db["n"]))
            seen.append(item.pk)
            review_decide(item=item, user=user, category="0")
            if pause:
                time.sleep(rng.uniform(0.5 * pause, 1.5 * pause))
    cpu_all = time.process_time() - cpu_all
    server = backend_cpu(connection) - server0
    connections.close_all()
    return rows, seen, cpu_all, server


def _sql_reviewer(args):
    """One bare-psycopg2 process: the claim statement (autocommit, timed), then a bare
    decision (the item leaves the queue, not timed), until done."""
    url, prepare, sql, claims, barrier = args
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute(prepare or "SELECT 1")
    out = []
    barrier.wait()
    for _ in range(claims):
        start = time.perf_counter()
        cur.execute(sql)
        row = cur.fetchone()
        out.append(time.perf_counter() - start)
        if row is None:
            break
        cur.execute(
            "UPDATE triage_evidenceitem SET review_state = 'reviewed', claimed_by_id = NULL, "
            "lease_expires_at = NULL, first_reviewed_at = now() WHERE id = %s",
            [row[0]],
        )
    conn.close()
    return out


def pct(values, q) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else 0.0


def backend_cpu(connection) -> float:
    """CPU seconds used so far by this connection's PostgreSQL backend process (NaN when
    the server runs on another machine or the process is not visible)."""
    try:
        import psutil

        with connection.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        times = psutil.Process(pid).cpu_times()
        return times.user + times.system
    except Exception:  # noqa: BLE001 - a figure we can do without
        return float("nan")


def run_reviewers(variant, ref, agency, users, claims: int, pause: float) -> dict:
    import multiprocessing

    from django.db import connections

    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Manager().Barrier(len(users))
    wall = time.perf_counter()
    with ctx.Pool(len(users)) as pool:
        results = pool.map(
            _reviewer,
            [
                (variant, ref, agency.pk, u.pk, claims, pause, k, barrier)
                for k, u in enumerate(users)
            ],
            chunksize=1,
        )
    wall = time.perf_counter() - wall
    rows = [r for res, _, _, _ in results for r in res]
    seen = [pk for _, pks, _, _ in results for pk in pks]
    client_cpu = sum(r[2] for r in results)
    server = sum(r[3] for r in results)
    claim_cpu = sum(r[2] for r in rows)
    walls, dbs, cpus = [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
    calls = statistics.median(r[3] for r in rows) if rows else 0
    print(
        f"  {len(rows)} claims (each followed by a decision) by {len(users)} reviewer processes"
        f" in {wall:.1f} s, pause {pause:g} s; the same item twice: {len(seen) - len(set(seen))}"
    )
    print(
        f"  CLAIM TIME p50 {pct(walls, 0.5):.1f} ms, p95 {pct(walls, 0.95):.1f} ms, "
        f"p99 {pct(walls, 0.99):.1f} ms (goal p95 <= 50 ms)"
    )
    print(
        f"    of which in {calls:g} database call(s): p50 {pct(dbs, 0.5):.1f} ms, "
        f"p95 {pct(dbs, 0.95):.1f} ms; the claim's CPU in its process: "
        f"p50 {pct(cpus, 0.5):.2f} ms, p95 {pct(cpus, 0.95):.2f} ms"
    )
    print(
        f"    CPU used in the run: reviewer processes {client_cpu:.1f} s (of which claims "
        f"{claim_cpu:.1f} s), their PostgreSQL backends {server:.1f} s; "
        f"{wall * os.cpu_count():.1f} core-seconds passed"
    )
    return {
        "p50": pct(walls, 0.5),
        "p95": pct(walls, 0.95),
        "p99": pct(walls, 0.99),
        "cpu_p50": pct(cpus, 0.5),
        "db_p50": pct(dbs, 0.5),
    }


def run_sql_only(url: str, prepare: str, statements: list[str], claims: int) -> dict:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Manager().Barrier(len(statements))
    with ctx.Pool(len(statements)) as pool:
        results = pool.map(
            _sql_reviewer,
            [(url, prepare, sql, claims, barrier) for sql in statements],
            chunksize=1,
        )
    times = [t for res in results for t in res]
    print(
        f"  bare claim statement (psycopg2, {len(statements)} processes, no Django, a bare "
        f"UPDATE as the decision): p50 {pct(times, 0.5):.1f} ms, p95 {pct(times, 0.95):.1f} ms, "
        f"p99 {pct(times, 0.99):.1f} ms"
    )
    return {"p50": pct(times, 0.5), "p95": pct(times, 0.95)}


def measure_counts(ref: str, user, agency) -> None:
    """The queue meter's count on every review page, before and after (median of 3)."""
    from triage.review import selectors

    before = load_before_modules(ref)["selectors"]

    def median_ms(fn) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    b = median_ms(lambda: before.queue_counts(user, agency))
    a = median_ms(lambda: selectors.queue_counts(user, agency))
    print(
        f"  the page's queue count: before {b:.1f} ms (every item counted), after {a:.1f} ms "
        f"(counted to {selectors.COUNT_CAP:,}, shown as “1,000+”): {b / a:.1f}x"
    )


def measure_pages(user, n: int) -> None:
    """One reviewer grading with the keyboard, as the browser does it: each digit is an
    htmx POST that decides and answers with the next item's panel. Server time per step."""
    import re

    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    html = client.get(reverse("triage:review")).content.decode()
    times = []
    for _ in range(n):
        found = re.search(r'id="review-item"[^>]*?data-item="([0-9a-f-]{36})"', html, re.S)
        if not found:
            break
        start = time.perf_counter()
        response = client.post(
            reverse("triage:review_decide", kwargs={"item": found[1]}),
            {"category": "0", "scope": ""},
            HTTP_HX_REQUEST="true",
        )
        times.append(time.perf_counter() - start)
        if response.status_code != 200:
            print(f"  (the decision answered {response.status_code})")
            break
        html = response.content.decode()
    print(
        f"  grade -> next item on screen (decide, claim, render the panel; {len(times)} "
        f"steps, one reviewer): p50 {pct(times, 0.5):.0f} ms, p95 {pct(times, 0.95):.0f} ms"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="queue items (1M)")
    parser.add_argument(
        "--history", type=int, default=None, help="items reviewed earlier (default items/5)"
    )
    parser.add_argument("--reviewers", type=int, default=20, help="concurrent reviewers")
    parser.add_argument("--claims", type=int, default=25, help="claims per reviewer")
    parser.add_argument("--cases", type=int, default=20, help="cases the items spread over")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between items")
    parser.add_argument("--db", default="hub_bench_queue", help="scratch database name")
    parser.add_argument("--reuse", action="store_true", help="reuse a database built before")
    parser.add_argument("--before", default=BEFORE, help="git ref of the claim to compare")
    parser.add_argument(
        "--variants", default="before,after", help="which claims to run (before,after)"
    )
    parser.add_argument("--no-sql", action="store_true", help="skip the bare SQL run")
    parser.add_argument("--pages", type=int, default=20, help="review pages to time (0: none)")
    args = parser.parse_args(argv)
    history = args.items // 5 if args.history is None else args.history

    url = database_url(args.db)
    fresh = not (args.reuse and database_exists(url, args.db))
    if fresh:
        recreate_database(url, args.db)
    setup_django(url)
    if not fresh and built_size() != (args.items, history):
        print("the database was built with other sizes or an older generator: rebuilding")
        from django.db import connections

        connections.close_all()
        recreate_database(url, args.db)
        fresh = True
    if fresh:
        build(args.items, history, args.reviewers, args.cases)
    agency, users, _ = personas(args.reviewers, args.cases)
    print(
        f"queue: {args.items:,} items awaiting review (+{history:,} reviewed) in {args.db}, "
        f"{args.reviewers} reviewers, {os.cpu_count()} cores"
    )
    results = {}
    for variant in [v.strip() for v in args.variants.split(",") if v.strip()]:
        print(
            f"\n{variant}:"
            + (
                f" review_claim as of {args.before}"
                if variant == "before"
                else " review_claim of the working tree"
            )
        )
        reset(agency)
        claim = claim_function(variant, args.before)
        info = explain(claim, users[0], agency)
        results[variant] = {
            **info,
            **run_reviewers(variant, args.before, agency, users, args.claims, args.pause),
        }
    after = results.get("after", {})
    if after.get("sql") and not args.no_sql:
        print("\nthe database alone:")
        reset(agency)
        from triage.review.selectors import claim_statement

        statements = [claim_sql(claim_function("after", args.before), u, agency)[0] for u in users]
        run_sql_only(url, claim_statement(scoped=False).prepare, statements, args.claims)
    if args.pages:
        print("\nthe review page:")
        reset(agency)
        measure_counts(args.before, users[0], agency)
        measure_pages(users[0], args.pages)
    if "before" in results and "after" in results:
        b, a = results["before"], results["after"]
        print(
            f"\nafter vs before (one run): claim p95 {b['p95']:.1f} -> {a['p95']:.1f} ms "
            f"({b['p95'] / a['p95']:.1f}x), p50 {b['p50']:.1f} -> {a['p50']:.1f} ms "
            f"({b['p50'] / a['p50']:.1f}x); claim CPU per claim {b['cpu_p50']:.2f} -> "
            f"{a['cpu_p50']:.2f} ms ({b['cpu_p50'] / a['cpu_p50']:.1f}x); statements "
            f"{b.get('statements', '?')} -> {a.get('statements', '?')}; planning "
            f"{b.get('planning', 0):.2f} -> {a.get('planning', 0):.2f} ms; walk past a second "
            f"review {b.get('second', 0):.2f} -> {a.get('second', 0):.2f} ms"
        )
    if "after" in results:
        from bench._report import result as report

        a = results["after"]
        note = f"before {results['before']['p95']:.1f} ms" if "before" in results else ""
        report(
            "review_queue", "claim p95, concurrent reviewer processes", f"{a['p95']:.1f} ms", note
        )
    reset(agency)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
