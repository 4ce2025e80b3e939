"""The dashboard's daily rollup on PostgreSQL: triggers that keep ``DailyActivity`` (with
``DailyActivityDelta``) exact, its compaction, its rebuild, and the one query the
dashboard reads it with.

Every row of the items, decisions and exposure tables *contributes* to a few rollup
keys (agency, case, person, local day); the contribution is a pure function of the row
(``triage_activity_of_*`` below, the one definition used by the triggers and by the
rebuild alike). A trigger adds the new row's contribution and subtracts the old row's,
so inserts, updates (undo, state changes, bulk ``UPDATE``s), deletes and cascades all
keep the sums exact, in the writer's own transaction. Updates that touch none of the
columns that count (claims, leases, stage markers, priorities) do not fire the trigger
at all (``WHEN``).

Append-only: a trigger *inserts* its summed contributions, one row per key, into the
delta table, which has no unique key, so writers never wait on each other (an upsert
into the rollup itself row-locked a hot (agency, case, person, day) row until the
writer committed: review decisions, exposure reports and pipeline stages serialised on
it, and deadlocked with their other locks). ``compact`` folds the deltas into
``DailyActivity`` in one statement, one compactor at a time (an advisory lock; the beat
task ``triage.dashboard.compact_rollup`` runs it every minute), and only compactors and
the rebuild write ``DailyActivity``. ``read`` sums both tables in one snapshot, so its
figures are exact whether or not the deltas have been compacted yet.

A decision or exposure event is counted under its item's case while that item exists,
so the item's trigger moves them when the item changes case (or appears, or goes).

Local days are the time zone's of ``migrate`` (``settings.TIME_ZONE``), built into the
SQL: the state row records the SQL's version (a hash that includes the zone), and the
dashboard reads the rollup only when it matches the zone it runs in; otherwise (and
always on SQLite) it queries the rows directly, which stays the reference."""

# The SQL here is built from this module's constants only; every value is a parameter.
# ruff: noqa: S608

from __future__ import annotations

import functools
import hashlib

from django.db import connections, transaction
from django.utils import timezone

from hub import db_scope

TABLE = "triage_dailyactivity"
DELTA_TABLE = "triage_dailyactivitydelta"
STATE_TABLE = "triage_dailyactivitystate"
COUNTERS = (
    "ingested",
    "processed",
    "precategorized",
    "decisions",
    "reveals",
    "videos",
    "video_ms",
)
KEYS = ("agency_id", "case_id", "person_id", "day")
REVIEW_KINDS_SQL = "('first', 'second', 'supervisor', 'verification')"

# "activity_write": the first version's row-level trigger, dropped where it exists.
TRIGGERS = ("activity_insert", "activity_update", "activity_delete", "activity_write")
_ROW_TYPE = (
    "agency_id bigint, case_id bigint, person_id bigint, day date, ingested int, "
    "processed int, precategorized int, decisions int, reveals int, videos int, "
    "video_ms bigint"
)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_SUMS = ", ".join(f"sum({c})" for c in COUNTERS)
_NONZERO = " OR ".join(f"sum({c}) <> 0" for c in COUNTERS)


def _append(rows: str) -> str:
    """One plain INSERT into the delta table of the summed contributions ``rows`` (a
    SELECT of _ROW_TYPE), a row per key: no unique key, so it never waits on another
    writer's (and no ON CONFLICT: that would lock)."""
    return (
        f"INSERT INTO {DELTA_TABLE} ({', '.join(KEYS + COUNTERS)}) "
        f"SELECT {', '.join(KEYS)}, {_SUMS} FROM ({rows}) AS c "
        f"GROUP BY {', '.join(KEYS)} HAVING {_NONZERO}"
    )


def _merge(rows: str, *, returning: bool = False) -> str:
    """One ordered upsert into ``DailyActivity`` of the summed ``rows`` (optionally
    returning each key's counters after it). Only the compactor (one at a time) and the
    rebuild run it: writers never wait on these rows."""
    add = ", ".join(f"{c} = a.{c} + EXCLUDED.{c}" for c in COUNTERS)
    sql = (
        f"INSERT INTO {TABLE} AS a ({', '.join(KEYS + COUNTERS)}) "
        f"SELECT {', '.join(KEYS)}, {_SUMS} FROM ({rows}) AS c "
        f"GROUP BY {', '.join(KEYS)} HAVING {_NONZERO} ORDER BY {', '.join(KEYS)} "
        f"ON CONFLICT ({', '.join(KEYS)}) DO UPDATE SET {add}"
    )
    if returning:
        sql += f" RETURNING {', '.join(f'a.{k}' for k in KEYS + COUNTERS)}"
    return sql


def _item_children(rows: str, case: str, sign: int) -> str:
    """The contributions of the decisions and events of the items ``rows`` (a FROM
    item aliased ``r``, or ``MOVED``), counted under the case ``case``. LATERAL: an
    index probe per item, never a scan of every decision."""
    return (
        f"SELECT c.* FROM {rows}, LATERAL (SELECT c.* FROM triage_reviewdecision d, "
        f"triage_activity_of_decision(d, {case}, {sign}) c WHERE d.item_id = r.id "
        "UNION ALL SELECT c.* FROM triage_exposureevent e, "
        f"triage_activity_of_exposure(e, {case}, {sign}) c WHERE e.item_id = r.id) c"
    )


def _item_of(alias: str, item: str = "ri") -> str:
    """Joins the item of the decision or event ``alias`` as ``item`` (none once the item
    is deleted: then its own trigger has taken the decision or event out)."""
    return f"LEFT JOIN triage_evidenceitem {item} ON {item}.id = {alias}.item_id"


def _trigger_function(name: str, *, insert: str, delete: str) -> str:
    """The INSERT and DELETE triggers' function: once per statement, over its rows."""
    return (
        f"CREATE OR REPLACE FUNCTION triage_activity_{name}_written() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        f"IF TG_OP = 'INSERT' THEN {insert}; ELSE {delete}; END IF; RETURN NULL; END $$"
    )


def _update_function(name: str, body: str) -> str:
    """The UPDATE trigger's function: per row, only for rows whose counted columns
    changed (its WHEN), so claims, leases and stage markers never run it."""
    return (
        f"CREATE OR REPLACE FUNCTION triage_activity_{name}_updated() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN {body}; RETURN NULL; END $$"
    )


def _changed(columns) -> str:
    return " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)


# The columns a row's contribution depends on (the UPDATE triggers' WHEN).
COLUMNS = {
    "item": ("agency_id", "case_id", "created_at", "status", "processed_at", "is_precategorized"),
    "decision": ("agency_id", "item_id", "reviewer_id", "kind", "created_at", "undone_at"),
    "exposure": ("agency_id", "item_id", "user_id", "kind", "started_at", "duration_ms"),
}
CASE_OF = "(SELECT i.case_id FROM triage_evidenceitem i WHERE i.id = {}.item_id)"


@functools.cache
def install_sql(time_zone: str) -> tuple[str, ...]:
    """The functions and triggers for ``time_zone`` (idempotent: CREATE OR REPLACE)."""
    statements = [
        # The local day of a moment, in the zone the rollup is built for.
        "CREATE OR REPLACE FUNCTION triage_activity_day(ts timestamptz) RETURNS date "
        f"LANGUAGE sql IMMUTABLE AS $$ SELECT (ts AT TIME ZONE {_quote(time_zone)})::date $$",
        # What one row counts for (none for a NULL row: OLD on insert, NEW on delete).
        "CREATE OR REPLACE FUNCTION triage_activity_of_item(r triage_evidenceitem, sign int) "
        f"RETURNS TABLE ({_ROW_TYPE}) LANGUAGE sql STABLE AS $$ "
        "SELECT r.agency_id, r.case_id, 0::bigint, triage_activity_day(r.created_at), "
        "sign, 0, 0, 0, 0, 0, 0::bigint WHERE r.id IS NOT NULL "
        "UNION ALL SELECT r.agency_id, r.case_id, 0::bigint, "
        "triage_activity_day(r.processed_at), 0, sign, "
        "CASE WHEN r.is_precategorized THEN sign ELSE 0 END, 0, 0, 0, 0::bigint "
        "WHERE r.status = 'done' AND r.processed_at IS NOT NULL $$",
        "CREATE OR REPLACE FUNCTION triage_activity_of_decision("
        "r triage_reviewdecision, item_case bigint, sign int) "
        f"RETURNS TABLE ({_ROW_TYPE}) LANGUAGE sql STABLE AS $$ "
        "SELECT r.agency_id, item_case, coalesce(r.reviewer_id, 0)::bigint, "
        "triage_activity_day(r.created_at), 0, 0, 0, sign, 0, 0, 0::bigint "
        f"WHERE item_case IS NOT NULL AND r.kind IN {REVIEW_KINDS_SQL} "
        "AND r.undone_at IS NULL $$",
        "CREATE OR REPLACE FUNCTION triage_activity_of_exposure("
        "r triage_exposureevent, item_case bigint, sign int) "
        f"RETURNS TABLE ({_ROW_TYPE}) LANGUAGE sql STABLE AS $$ "
        "SELECT r.agency_id, item_case, r.user_id::bigint, "
        "triage_activity_day(r.started_at), 0, 0, 0, 0, "
        "CASE WHEN r.kind = 'reveal' THEN sign ELSE 0 END, "
        "CASE WHEN r.kind = 'video' THEN sign ELSE 0 END, "
        "CASE WHEN r.kind = 'video' THEN sign * r.duration_ms::bigint ELSE 0 END "
        "WHERE item_case IS NOT NULL AND r.kind IN ('reveal', 'video') $$",
        # INSERT and DELETE: once per statement, over its rows (transition tables), in
        # one append. UPDATE: per changed row (see _update_function).
        _trigger_function(
            "item",
            insert=_append(
                "SELECT c.* FROM new_rows r, triage_activity_of_item(r, 1) c UNION ALL "
                + _item_children("new_rows r", "r.case_id", 1)
            ),
            delete=_append(
                "SELECT c.* FROM old_rows r, triage_activity_of_item(r, -1) c UNION ALL "
                + _item_children("old_rows r", "r.case_id", -1)
            ),
        ),
        _update_function(
            "item",
            _append(
                "SELECT * FROM triage_activity_of_item(OLD, -1) "
                "UNION ALL SELECT * FROM triage_activity_of_item(NEW, 1)"
            )
            # A case change moves the item's decisions and events with it.
            + "; IF OLD.case_id IS DISTINCT FROM NEW.case_id THEN "
            + _append(
                _item_children("(SELECT OLD.*) r", "r.case_id", -1)
                + " UNION ALL "
                + _item_children("(SELECT NEW.*) r", "r.case_id", 1)
            )
            + "; END IF",
        ),
    ]
    for name in ("decision", "exposure"):
        of = f"triage_activity_of_{name}"
        statements += [
            _trigger_function(
                name,
                insert=_append(
                    f"SELECT c.* FROM new_rows r {_item_of('r')}, {of}(r, ri.case_id, 1) c"
                ),
                delete=_append(
                    f"SELECT c.* FROM old_rows r {_item_of('r')}, {of}(r, ri.case_id, -1) c"
                ),
            ),
            _update_function(
                name,
                _append(
                    f"SELECT * FROM {of}(OLD, {CASE_OF.format('OLD')}, -1) "
                    f"UNION ALL SELECT * FROM {of}(NEW, {CASE_OF.format('NEW')}, 1)"
                ),
            ),
        ]
    for table, name in (
        ("triage_evidenceitem", "item"),
        ("triage_reviewdecision", "decision"),
        ("triage_exposureevent", "exposure"),
    ):
        written = f"triage_activity_{name}_written()"
        statements += [f"DROP TRIGGER IF EXISTS {t} ON {table}" for t in TRIGGERS] + [
            f"CREATE TRIGGER activity_insert AFTER INSERT ON {table} "
            f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {written}",
            f"CREATE TRIGGER activity_delete AFTER DELETE ON {table} "
            f"REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {written}",
            f"CREATE TRIGGER activity_update AFTER UPDATE ON {table} FOR EACH ROW "
            f"WHEN ({_changed(COLUMNS[name])}) "
            f"EXECUTE FUNCTION triage_activity_{name}_updated()",
        ]
    statements += db_scope.agency_policy_sql(TABLE) + db_scope.agency_policy_sql(DELTA_TABLE)
    return tuple(statements)


@functools.cache
def version(time_zone: str) -> str:
    """Changes whenever the SQL (or the zone built into it) does."""
    text = "\n".join(install_sql(time_zone))
    return hashlib.sha256(text.encode()).hexdigest()[:40]


REBUILD_ROWS = (
    "SELECT c.* FROM triage_evidenceitem i, triage_activity_of_item(i, 1) c "
    "UNION ALL SELECT c.* FROM triage_reviewdecision d "
    "JOIN triage_evidenceitem i ON i.id = d.item_id, "
    "triage_activity_of_decision(d, i.case_id, 1) c "
    "UNION ALL SELECT c.* FROM triage_exposureevent e "
    "JOIN triage_evidenceitem i ON i.id = e.item_id, "
    "triage_activity_of_exposure(e, i.case_id, 1) c"
)


def install(connection, time_zone: str) -> None:
    """Create or replace the functions and triggers (as the tables' owner)."""
    with connection.cursor() as cursor:
        for statement in install_sql(time_zone):
            cursor.execute(statement)


def rebuild(connection, time_zone: str) -> int:
    """Recompute the whole rollup from the rows, with writers held off (SHARE locks)
    so that nothing is counted twice or missed; installs the triggers first. Run as the
    owner (it must see every agency). Returns the number of rollup rows."""
    with transaction.atomic(using=connection.alias):
        install(connection, time_zone)
        with connection.cursor() as cursor:
            cursor.execute(
                "LOCK TABLE triage_evidenceitem, triage_reviewdecision, "
                "triage_exposureevent IN SHARE MODE"
            )
            cursor.execute(f"TRUNCATE {TABLE}, {DELTA_TABLE}")
            cursor.execute(_merge(REBUILD_ROWS))
            n = cursor.rowcount
            cursor.execute(f"DELETE FROM {STATE_TABLE}")
            cursor.execute(
                f"INSERT INTO {STATE_TABLE} (version, time_zone, built_at) VALUES (%s, %s, now())",
                [version(time_zone), time_zone],
            )
    return n


# Any constant: the key of the compactors' advisory lock (one compactor at a time).
COMPACT_LOCK = 0x7472_6961_6765_01  # "triage" 1


def compact(connection) -> int | None:
    """Fold the deltas into ``DailyActivity``: in one statement, delete the delta rows
    (those committed when it starts; later ones wait for the next run) and add their sums
    per key, in key order; then delete the keys whose counters all came to zero. Under
    an advisory lock: a second compactor meanwhile returns None at once. Writers never
    wait on it (they only insert deltas) and readers see the same sums before and after.
    Returns the number of keys merged. Bound by row-level security like any query: run
    it hub-wide (the beat task is) or it folds the scope's agency's deltas only."""
    if connection.vendor != "postgresql":
        return None
    names = ", ".join(KEYS + COUNTERS)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        # (Nothing to do either where the rollup is not migrated in.)
        cursor.execute(
            "SELECT to_regclass(%s) IS NOT NULL AND pg_try_advisory_xact_lock(%s)",
            [DELTA_TABLE, COMPACT_LOCK],
        )
        if not cursor.fetchone()[0]:
            return None
        cursor.execute(
            f"WITH moved AS (DELETE FROM {DELTA_TABLE} RETURNING {names}) "
            + _merge("SELECT * FROM moved", returning=True)
        )
        merged = cursor.fetchall()
        zero = [row[: len(KEYS)] for row in merged if not any(row[len(KEYS) :])]
        if zero:
            cursor.execute(
                f"DELETE FROM {TABLE} WHERE ({', '.join(KEYS)}) IN "
                "(SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::date[])) "
                + " ".join(f"AND {c} = 0" for c in COUNTERS),
                [list(column) for column in zip(*zero, strict=True)],
            )
    return len(merged)


def uninstall(connection) -> None:
    """Drop the triggers (the rollup's tables are gone: migrated back before them)."""
    with connection.cursor() as cursor:
        for table in ("triage_evidenceitem", "triage_reviewdecision", "triage_exposureevent"):
            for trigger in TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")


def is_current(connection, time_zone: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT version FROM {STATE_TABLE}")
        return [row[0] for row in cursor.fetchall()] == [version(time_zone)]


def ensure(connection, time_zone: str) -> bool:
    """Install the triggers; rebuild when they or the zone changed. True if rebuilt."""
    if is_current(connection, time_zone):
        install(connection, time_zone)
        return False
    rebuild(connection, time_zone)
    return True


# --- Reading ---------------------------------------------------------------------------


def read(f, *, using: str = "default") -> list[dict] | None:
    """The rollup's rows for filter ``f`` summed per (person, day), or None when the
    rollup cannot answer (not PostgreSQL, not built, built for another zone or version).
    One query; the state check rides along as a marker row.

    Scope, as the direct queries (triage/dashboard/selectors.py): item counts over the
    filter's cases (a case, or a member's cases including closed ones, or all);
    decisions and exposure over the case, or the member as the person, or all."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    from triage.dashboard.selectors import cases_in_scope

    tz = timezone.get_current_timezone_name()
    params: list = [version(tz)]
    where = ["agency_id = %s", "day >= %s", "day <= %s"]
    params_where: list = [f.agency.pk, f.start, f.end]
    items_only = people_only = "true"
    if f.case is not None:
        where.append("case_id = %s")
        params_where.append(f.case.pk)
    elif f.member is not None:
        cases_sql, cases_params = (
            cases_in_scope(f, include_closed=True).values("pk").query.sql_with_params()
        )
        items_only = f"person_id = 0 AND case_id IN ({cases_sql})"
        people_only = "person_id = %s"
        where.append(f"(({items_only}) OR {people_only})")
        params_where += [*cases_params, f.member.pk]
    item_counters = ("ingested", "processed", "precategorized")
    select = []
    select_params: list = []
    for c in COUNTERS:
        scope = items_only if c in item_counters else people_only
        # ::bigint: sum(bigint) is numeric, which Python would read as a Decimal.
        if scope == "true":
            select.append(f"sum({c})::bigint")
        else:
            select.append(f"(sum({c}) FILTER (WHERE {scope}))::bigint")
            if f.member is not None:
                select_params += list(cases_params) if c in item_counters else [f.member.pk]
    # The compacted rows and the deltas not compacted yet, in one snapshot: the same sums
    # whether or not (or while) the compactor runs.
    columns = ", ".join(("case_id", "person_id", "day", *COUNTERS))
    rows_sql = " UNION ALL ".join(
        f"SELECT {columns} FROM {table} WHERE {' AND '.join(where)}"
        for table in (TABLE, DELTA_TABLE)
    )
    sql = (
        f"SELECT true, NULL::bigint, NULL::date, {', '.join(['NULL::bigint'] * len(COUNTERS))} "
        f"FROM {STATE_TABLE} WHERE version = %s "
        f"UNION ALL SELECT false, person_id, day, {', '.join(select)} FROM ({rows_sql}) AS r "
        "GROUP BY person_id, day"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params + select_params + params_where + params_where)
        rows = cursor.fetchall()
    if not any(row[0] for row in rows):
        return None
    names = ("person_id", "day", *COUNTERS)
    return [dict(zip(names, row[1:], strict=True)) for row in rows if not row[0]]
