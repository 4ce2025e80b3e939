"""Row-level security: the database's own backstop for agency isolation.

The application scopes every query to the active agency (``hub.access`` and
``triage.access``). PostgreSQL enforces the same rule underneath: the evidence tables
have a row-level security policy that shows a row only when its agency is the one named
by the session setting ``hub.agency_id``, or when ``hub.all_agencies`` is ``on``. A
query that forgets its agency filter therefore returns nothing of another agency's.

The policy binds only a role that neither owns the tables nor has BYPASSRLS. Web and
worker processes switch to that role (``HUB_DB_APP_ROLE``) on every connection once
:func:`arm` has been called (``hub.wsgi`` and the Celery worker call it); migrations and
``manage.py`` commands run as the connecting (owner) role and see every agency.

The scope travels with the work:

* a request runs in its active agency's scope (``TenantScopeMiddleware``; an API token
  sets its agency when it authenticates);
* a Celery task runs in the scope that was current when it was queued (a message
  header), and the hub-wide maintenance tasks in :data:`HUB_WIDE_TASKS` run across
  agencies;
* hub-operator pages and maintenance code that must see every agency say so with
  :func:`all_agencies`.

On SQLite none of this exists; the functions keep the bookkeeping and skip the SQL.
"""

from __future__ import annotations

import contextlib
import contextvars
import re

from django.conf import settings
from django.db import connections
from django.db.backends.signals import connection_created

ALL = "*"
NONE = ""
HEADER = "hub_scope"

# Tasks that serve the whole hub rather than one agency's work.
HUB_WIDE_TASKS = frozenset(
    {
        "triage.maintenance.reconcile",
        "triage.exports.fixity_sweep",
        "triage.exports.expire",
        "triage.review.release_expired_leases",
        "triage.classify.sync_models",
        "triage.dashboard.compact_rollup",
    }
)

# The evidence tables: each row belongs to one agency (``agency_id`` is never null).
# Hash lists are not here: a list may be hub-wide or shared with chosen agencies, which the
# application decides (``triage.matching.lists``); the evidence they match is here.
AGENCY_TABLES = (
    "triage_case",
    "triage_evidencebatch",
    "triage_blob",
    "triage_evidenceitem",
    "triage_itemgroup",
    "triage_reviewdecision",
    "triage_exposureevent",
    "triage_exportjob",
)
SHARED_TABLES: tuple[str, ...] = ()

_scope: contextvars.ContextVar[str] = contextvars.ContextVar("hub_db_scope")
_process_default = NONE  # every thread of the process starts from it
_armed = False
_ROLE_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def app_role() -> str:
    role = getattr(settings, "HUB_DB_APP_ROLE", "") or ""
    if role and not _ROLE_RE.match(role):
        raise ValueError(f"HUB_DB_APP_ROLE {role!r} is not a plain lower-case role name")
    return role


def _is_postgres(connection) -> bool:
    return connection.vendor == "postgresql"


def current() -> str:
    return _scope.get(_process_default)


def _value(agency) -> str:
    if agency is None or agency == NONE:
        return NONE
    if agency == ALL:
        return ALL
    return str(getattr(agency, "pk", agency))


def _apply(connection, value: str) -> None:
    """Write the scope into the connection's session settings (PostgreSQL only)."""
    if not _armed or not _is_postgres(connection) or connection.connection is None:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('hub.agency_id', %s, false),"
            " set_config('hub.all_agencies', %s, false)",
            [value if value not in (NONE, ALL) else "0", "on" if value == ALL else "off"],
        )


def _set(value: str) -> contextvars.Token:
    token = _scope.set(value)
    _apply(connections["default"], value)
    return token


def _reset(token: contextvars.Token) -> None:
    _scope.reset(token)
    _apply(connections["default"], _scope.get(_process_default))


@contextlib.contextmanager
def agency_scope(agency):
    """Run the block in one agency's scope (an Agency, its id, ``ALL`` or ``None``)."""
    token = _set(_value(agency))
    try:
        yield
    finally:
        _reset(token)


def all_agencies():
    """Run the block across every agency: hub-operator pages and hub maintenance only."""
    return agency_scope(ALL)


def narrow_to(agency) -> None:
    """Set the scope of the rest of the current request (used by API token auth, which
    learns the agency after the middleware ran; the middleware restores it after)."""
    _scope.set(_value(agency))
    _apply(connections["default"], _scope.get(_process_default))


def set_process_default(value) -> None:
    """The scope of a process that has no request or task around it (manage.py)."""
    global _process_default
    _process_default = _value(value)


def arm() -> None:
    """From now on, connections of this process switch to the application role and carry
    the scope. Called by hub.wsgi, the Celery worker and the test suite."""
    global _armed
    _armed = True
    conn = connections["default"]
    if conn.connection is not None:
        _on_connect(conn)


def disarm() -> None:
    """Owner mode: used while migrating (and by tests that need it)."""
    global _armed
    conn = connections["default"]
    if _armed and conn.connection is not None and _is_postgres(conn) and app_role():
        with conn.cursor() as cursor:
            cursor.execute("RESET ROLE")
    _armed = False


def is_armed() -> bool:
    return _armed


def _on_connect(connection, **kwargs) -> None:
    if not _armed or not _is_postgres(connection) or connection.alias != "default":
        return
    role = app_role()
    if role:
        with connection.cursor() as cursor:
            cursor.execute(f'SET ROLE "{role}"')
    _apply(connection, _scope.get(_process_default))


connection_created.connect(_on_connect, dispatch_uid="hub.db_scope")


class TenantScopeMiddleware:
    """Runs each request in its active agency's scope, and restores the outer scope."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        agency = getattr(request, "agency", None)
        token = _set(_value(agency))
        try:
            return self.get_response(request)
        finally:
            _reset(token)


# --- Celery: the scope rides along with each message --------------------------------


def on_before_publish(headers=None, **kwargs) -> None:
    if headers is not None and HEADER not in headers:
        headers[HEADER] = _scope.get(_process_default)


_task_tokens: dict[str, contextvars.Token] = {}


def on_task_prerun(task_id=None, task=None, **kwargs) -> None:
    if task is None:
        return
    if task.name in HUB_WIDE_TASKS:
        value = ALL
    else:
        value = getattr(task.request, HEADER, None)
        if value is None:
            headers = getattr(task.request, "headers", None) or {}
            value = headers.get(HEADER)
        if value is None:
            # Eager (in-process) execution: keep the caller's scope.
            return
    _task_tokens[task_id] = _set(value)


def on_task_postrun(task_id=None, **kwargs) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        _reset(token)


# --- SQL for the migration and the role ----------------------------------------------

_POLICY = (
    "current_setting('hub.all_agencies', true) = 'on' OR agency_id = "
    "coalesce(nullif(current_setting('hub.agency_id', true), ''), '0')::bigint"
)


def enable_rls_sql() -> list[str]:
    statements = []
    for table in AGENCY_TABLES:
        statements += [
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
            f"DROP POLICY IF EXISTS agency_isolation ON {table}",
            f"CREATE POLICY agency_isolation ON {table} USING ({_POLICY}) WITH CHECK ({_POLICY})",
        ]
    for table in SHARED_TABLES:
        rule = f"agency_id IS NULL OR {_POLICY}"
        statements += [
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
            f"DROP POLICY IF EXISTS agency_isolation ON {table}",
            f"CREATE POLICY agency_isolation ON {table} USING ({rule}) WITH CHECK ({rule})",
        ]
    return statements


def disable_rls_sql() -> list[str]:
    statements = []
    for table in AGENCY_TABLES + SHARED_TABLES:
        statements += [
            f"DROP POLICY IF EXISTS agency_isolation ON {table}",
            f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
        ]
    return statements


def grant_app_role(connection) -> None:
    """Create the application role if missing (NOLOGIN, NOBYPASSRLS; a DBA may create it
    with LOGIN instead) and give it the data privileges, never ownership."""
    role = app_role()
    if not role or not _is_postgres(connection):
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE ROLE "{role}" NOLOGIN NOSUPERUSER NOBYPASSRLS')
        cursor.execute("SELECT current_user")
        owner = cursor.fetchone()[0]
        cursor.execute(f'GRANT "{role}" TO "{owner}"')
        cursor.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        cursor.execute(
            "GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES"
            f' ON ALL TABLES IN SCHEMA public TO "{role}"'
        )
        cursor.execute(f'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO "{role}"')


def agency_policy_sql(table: str) -> list[str]:
    """The same agency policy on a table derived from the evidence tables (the
    dashboard's rollup, installed with its triggers by ``migrate``): its rows are one
    agency's figures, bound like the rows they are computed from."""
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS agency_isolation ON {table}",
        f"CREATE POLICY agency_isolation ON {table} USING ({_POLICY}) WITH CHECK ({_POLICY})",
    ]
