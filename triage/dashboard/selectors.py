"""Read-only, agency-scoped aggregate queries behind the supervisor dashboard.

Every figure is computed by the database (GROUP BY / aggregates); Python only touches the
aggregated rows (one per case, per day or per reviewer), never one row per item, so the
cost of a page does not grow with the number of items in Python. Everything starts from a
``DashboardFilter`` whose ``agency`` is the request's active agency: nothing here can see
another agency's data.

Definitions (also shown on the page):

- *backlog*: items awaiting a person (queued, second review, conflict) in open cases, a
  near-duplicate group counting once per case, since one decision grades the group;
- *reviewed*: review decisions of kind first, second, supervisor or verification that
  were not undone (auto-grades by hash are not a person's work);
- *time to first triage*: ``first_reviewed_at - created_at`` of items first reviewed in
  the date range; *time in queue*: ``first_reviewed_at - queued_at`` of the same items;
- *pre-categorisation rate*: processed items (status done, processed in the range) that
  were pre-categorised by hash, over all processed items;
- *classifier confirmed*: reviewed items scored >= 0.5 whose category is not the agency's
  non-pertinent category, over reviewed items scored >= 0.5 (first reviewed in range).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from django.db import connection, connections, transaction
from django.db.models import (
    Aggregate,
    Count,
    DateField,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    Min,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone

from hub.models import User
from hub.policy import policy_for
from triage.dashboard import rollup
from triage.models import (
    Case,
    EvidenceItem,
    ExposureEvent,
    ItemStatus,
    ReviewDecision,
    ReviewState,
    Urgency,
)

AWAITING_REVIEW = (ReviewState.QUEUED, ReviewState.SECOND_REVIEW, ReviewState.CONFLICT)
REVIEW_KINDS = (
    ReviewDecision.Kind.FIRST,
    ReviewDecision.Kind.SECOND,
    ReviewDecision.Kind.SUPERVISOR,
    ReviewDecision.Kind.VERIFICATION,
)
POSITIVE_SCORE = 0.5
# Rows are counted by ``agency_id``: never null, and the first column of every index the
# dashboard reads, so that PostgreSQL counts from the index alone (index-only scans).
# ``Count("pk")`` would make it visit the table for every row.
ROWS = "agency"
MEDIAN_WORK_MEM = "16MB"
MAX_RANGE_DAYS = 366


@dataclass(frozen=True)
class DashboardFilter:
    """What the supervisor asked for. ``start`` and ``end`` are inclusive local dates."""

    agency: object
    start: dt.date
    end: dt.date
    case: Case | None = None
    member: object | None = None  # a user of the agency
    now: dt.datetime = field(default_factory=timezone.now)

    @property
    def since(self) -> dt.datetime:
        return _local_midnight(self.start)

    @property
    def until(self) -> dt.datetime:
        """Exclusive upper bound: midnight after ``end``."""
        return _local_midnight(self.end + dt.timedelta(days=1))

    def days(self) -> list[dt.date]:
        n = (self.end - self.start).days + 1
        return [self.start + dt.timedelta(days=i) for i in range(n)]


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def default_range(today: dt.date | None = None, days: int = 14) -> tuple[dt.date, dt.date]:
    today = today or timezone.localdate()
    return today - dt.timedelta(days=days - 1), today


# --- Scoping ---------------------------------------------------------------------------


def cases_in_scope(f: DashboardFilter, *, include_closed: bool = False) -> QuerySet[Case]:
    """The agency's cases the filter covers: one case, or the cases a team member is on
    (team or lead), or all. Closed cases only when asked for (or picked explicitly)."""
    cases = Case.objects.filter(agency_id=f.agency.pk)
    if f.case is not None:
        return cases.filter(pk=f.case.pk)
    if not include_closed:
        cases = cases.filter(is_closed=False)
    if f.member is not None:
        on_team = Case.team.through.objects.filter(user_id=f.member.pk).values("case_id")
        cases = cases.filter(Q(pk__in=on_team) | Q(lead_id=f.member.pk))
    return cases


def _items(f: DashboardFilter, *, include_closed: bool = True) -> QuerySet[EvidenceItem]:
    items = EvidenceItem.objects.filter(agency_id=f.agency.pk)
    if f.case is not None:
        return items.filter(case_id=f.case.pk)
    if f.member is not None or not include_closed:
        items = items.filter(case_id__in=cases_in_scope(f, include_closed=include_closed))
    return items


def _decisions(f: DashboardFilter) -> QuerySet[ReviewDecision]:
    decisions = ReviewDecision.objects.filter(
        agency_id=f.agency.pk,
        kind__in=REVIEW_KINDS,
        undone_at__isnull=True,
        created_at__gte=f.since,
        created_at__lt=f.until,
    )
    if f.case is not None:
        decisions = decisions.filter(item__case_id=f.case.pk)
    if f.member is not None:
        decisions = decisions.filter(reviewer_id=f.member.pk)
    return decisions


def _exposure(f: DashboardFilter) -> QuerySet[ExposureEvent]:
    events = ExposureEvent.objects.filter(
        agency_id=f.agency.pk, started_at__gte=f.since, started_at__lt=f.until
    )
    if f.case is not None:
        events = events.filter(item__case_id=f.case.pk)
    if f.member is not None:
        events = events.filter(user_id=f.member.pk)
    return events


# --- Medians ---------------------------------------------------------------------------

# The two durations whose medians the dashboard shows: first review minus this column.
DURATIONS = {"first_triage": "created_at", "in_queue": "queued_at"}


def _duration(name: str) -> ExpressionWrapper:
    return ExpressionWrapper(
        F("first_reviewed_at") - F(DURATIONS[name]), output_field=DurationField()
    )


class _PercentileCont(Aggregate):
    """PostgreSQL's ordered-set aggregate ``percentile_cont(p) WITHIN GROUP (ORDER BY x)``."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DurationField()


class _MedianSeconds(Aggregate):
    """The median of an interval in seconds (``float8``, exact to the microsecond):
    PostgreSQL sorts plain doubles several times faster than intervals."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY date_part('epoch', %(expressions)s))"
    output_field = FloatField()


def _seconds(value: float | None) -> dt.timedelta | None:
    return None if value is None else dt.timedelta(seconds=value)


def median_duration(qs: QuerySet, expression) -> dt.timedelta | None:
    """The median of ``expression`` over ``qs``, in the database. PostgreSQL: one
    ``percentile_cont`` query; other databases: a count, then the middle one or two rows
    read in ORDER BY order (two queries, at most two rows transferred)."""
    expression = ExpressionWrapper(expression, output_field=DurationField())
    if connection.vendor == "postgresql":
        return qs.aggregate(m=_PercentileCont(expression))["m"]
    n = qs.count()
    if n == 0:
        return None
    ordered = qs.annotate(_d=expression).order_by("_d").values_list("_d", flat=True)
    middle = list(ordered[(n - 1) // 2 : n // 2 + 1])
    return sum(middle, dt.timedelta()) / len(middle)


def _sorted_medians(items: QuerySet, names: list[str], counts: dict | None = None) -> dict:
    """PostgreSQL: the medians ``names`` in seconds (and ``counts``) in one query that
    sorts every duration (``percentile_cont``)."""
    medians = {}
    for name in names:
        column = DURATIONS[name]
        nullable = EvidenceItem._meta.get_field(column).null
        medians[name] = _MedianSeconds(
            _duration(name), filter=Q(**{f"{column}__isnull": False}) if nullable else None
        )
    # Each median sorts one double per item (~24 bytes): with the default 4 MB of
    # work_mem, a month at a million items spills the sorts to disk; sorting in memory
    # takes a third less time. For this one query only (SET LOCAL).
    with transaction.atomic(using=items.db):
        with connections[items.db].cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = %s", [MEDIAN_WORK_MEM])
        return items.aggregate(**medians, **(counts or {}))


# An exact median without sorting a million durations (PostgreSQL). Most of the cost of
# ``percentile_cont`` over the items first reviewed in a month is computing a duration
# for every row and sorting them all. Instead:
#
# 1. a sample of about 1% of the table's pages (``TABLESAMPLE SYSTEM``, a few ms) gives
#    each median's neighbourhood: the sample's quantiles at 0.5 ± d, a window [lo, hi]
#    that holds the true median unless the sample was off by more than MEDIAN_SIGMAS
#    standard errors;
# 2. one scan counts every row, the rows below the window (a timestamp comparison, no
#    duration computed) and collects the durations inside the window, sorted: the
#    middle row(s) are the ranks (n+1)/2 and n/2+1 minus the rows below.
#
# The figure is the same ``percentile_cont(0.5)`` to the last bit (same values, same
# interpolation); if the window missed the middle (the counts say so), that median is
# recomputed by sorting everything. The sample decides only how fast, never the figure.
MEDIAN_SAMPLE_PERCENT = 1.0
MEDIAN_MIN_SAMPLE = 400  # fewer sampled rows: so few rows in all that sorting is cheap
MEDIAN_SIGMAS = 3.5
# Half-widths d of the windows the sample may choose, narrowest first.
MEDIAN_HALF_WIDTHS = (0.02, 0.03, 0.04, 0.05, 0.065, 0.08, 0.1, 0.125, 0.15)
MEDIAN_LEVELS = tuple(
    sorted({round(0.5 + sign * d, 4) for d in MEDIAN_HALF_WIDTHS for sign in (-1, 1)})
)
MISSED = object()  # a window that did not hold the median


def median_window(quantiles: list[float] | None, sampled: int) -> tuple[float, float] | None:
    """The window [lo, hi] (seconds) around the sample's median that holds the true one
    with overwhelming probability, from the sample's quantiles at MEDIAN_LEVELS: the
    half-width is MEDIAN_SIGMAS standard errors of a sample quantile, 0.5 / sqrt(n).
    None if the sample is too small (or the window too wide to be worth it)."""
    if not quantiles or sampled < MEDIAN_MIN_SAMPLE:
        return None
    needed = MEDIAN_SIGMAS * 0.5 / math.sqrt(sampled)
    at = dict(zip(MEDIAN_LEVELS, quantiles, strict=True))
    for d in MEDIAN_HALF_WIDTHS:
        if d >= needed:
            return at[round(0.5 - d, 4)], at[round(0.5 + d, 4)]
    return None


def _windowed_medians(items: QuerySet, counts: dict[str, Q]) -> dict | None:
    """PostgreSQL: the medians of DURATIONS in seconds (``MISSED`` where the window did
    not hold the middle) and the number of rows matching each of ``counts``, in two
    queries (a sample, one scan; see above); None when the sample is too small to be
    worth it. The SQL is written here around the ORM's own WHERE clause (the agency,
    case and team scoping stay in ``_items``): compiling two querysets of a dozen
    annotations would cost more than the database spends sampling."""
    db = items.db
    query = items.query.clone()  # build_where below must not touch the caller's query
    compiler = query.get_compiler(db)
    where, where_params = compiler.compile(query.where)
    qn = connections[db].ops.quote_name
    table = qn(EvidenceItem._meta.db_table)

    def col(field: str) -> str:
        return f"{table}.{qn(EvidenceItem._meta.get_field(field).column)}"

    reviewed = col("first_reviewed_at")
    seconds = {
        name: f"date_part('epoch', {reviewed} - {col(column)})"
        for name, column in DURATIONS.items()
    }
    levels = "ARRAY[" + ",".join(repr(level) for level in MEDIAN_LEVELS) + "]::float8[]"
    select = []
    for name, column in DURATIONS.items():
        select += [
            f"count({col(column)})",
            f"percentile_disc({levels}) WITHIN GROUP (ORDER BY {seconds[name]})",
        ]
    # Constants and quoted identifiers of this module; the filter's values are parameters.
    sample_sql = (
        f"SELECT {', '.join(select)} FROM {table} "  # noqa: S608
        f"TABLESAMPLE SYSTEM ({MEDIAN_SAMPLE_PERCENT:g}) WHERE {where}"
    )
    with connections[db].cursor() as cursor:
        cursor.execute(sample_sql, where_params)
        row = cursor.fetchone()
    windows = {name: median_window(row[2 * i + 1], row[2 * i]) for i, name in enumerate(DURATIONS)}
    if None in windows.values():
        return None

    select, params = [], []
    for q in counts.values():
        sql, q_params = compiler.compile(query.build_where(q))
        select.append(f"count(*) FILTER (WHERE {sql})")
        params += q_params
    outer = [f"c{i}" for i in range(len(counts))]
    for i, (name, column) in enumerate(DURATIONS.items()):
        # Bounds as intervals of microseconds only (no days part): ``timestamptz +
        # interval`` is then integer arithmetic, exactly consistent with the seconds.
        lo, hi = (round(x * 1_000_000) for x in windows[name])
        bound = f"({col(column)} + %s * interval '1 microsecond')"
        select += [
            f"count({col(column)}) AS n{i}",
            f"count(*) FILTER (WHERE {reviewed} < {bound}) AS b{i}",
            f"array_agg({seconds[name]} ORDER BY {seconds[name]}) "
            f"FILTER (WHERE {reviewed} >= {bound} AND {reviewed} <= {bound}) AS w{i}",
        ]
        params += [lo, lo, hi]
        # Only the middle one or two values of each window leave the database.
        outer += [
            f"n{i}",
            f"b{i}",
            f"coalesce(array_length(w{i}, 1), 0)",
            f"w{i}[(n{i} + 1) / 2 - b{i} : n{i} / 2 + 1 - b{i}]",
        ]
    select = [f"{sql} AS c{i}" if i < len(counts) else sql for i, sql in enumerate(select)]
    sql = (
        f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(select)} "  # noqa: S608
        f"FROM {table} WHERE {where}) AS w"
    )
    with connections[db].cursor() as cursor:
        cursor.execute(sql, params + list(where_params))
        row = cursor.fetchone()
    out = dict(zip(counts, row[: len(counts)], strict=True))
    for i, name in enumerate(DURATIONS):
        n, below, size, middle = row[len(counts) + 4 * i : len(counts) + 4 * i + 4]
        out[name] = _middle(n, below, size, middle)
    return out


def _middle(n: int, below: int, size: int, middle: list[float] | None):
    """``percentile_cont(0.5)`` from the window's middle values: None for no rows,
    MISSED when the window did not hold the middle ranks."""
    if n == 0:
        return None
    lo_rank, hi_rank = (n + 1) // 2, n // 2 + 1  # 1-based; equal when n is odd
    if not (below < lo_rank and hi_rank <= below + size) or not middle:
        return MISSED
    lo, hi = middle[0], middle[-1]
    # percentile_cont's own interpolation (float8_lerp), so the result is identical.
    return lo + (hi - lo) * (0.5 if n % 2 == 0 else 0.0)


# --- Backlog and cases -----------------------------------------------------------------


def backlog_by_case(f: DashboardFilter) -> dict[int, dict]:
    """case id -> awaiting items, backlog units (a group once), second review, conflict
    and the oldest queued time. One GROUP BY query."""
    rows = (
        _items(f, include_closed=f.case is not None)
        .filter(review_state__in=AWAITING_REVIEW)
        .order_by()
        .values("case_id")
        .annotate(
            items=Count(ROWS),
            # Rows in a group (COUNT skips nulls; no FILTER to evaluate per row).
            grouped=Count("group"),
            # FILTER: only the grouped rows go into the DISTINCT sort.
            groups=Count("group", distinct=True, filter=Q(group__isnull=False)),
            second_review=Count(ROWS, filter=Q(review_state=ReviewState.SECOND_REVIEW)),
            conflict=Count(ROWS, filter=Q(review_state=ReviewState.CONFLICT)),
            oldest=Min("queued_at"),
            oldest_created=Min("created_at"),
        )
    )
    out = {}
    for row in rows:
        row["units"] = row["items"] - row.pop("grouped") + row.pop("groups")
        oldest_created = row.pop("oldest_created")
        row["oldest"] = row["oldest"] or oldest_created
        out[row.pop("case_id")] = row
    return out


CASE_SORTS = {
    "urgency": lambda r: (-r["urgency"], -r["units"], r["created_at"]),
    "backlog": lambda r: (-r["units"], -r["urgency"], r["created_at"]),
    "age": lambda r: (r["oldest"] is None, r["oldest"] or r["created_at"], -r["urgency"]),
}


def case_rows(f: DashboardFilter, *, sort: str = "urgency", per_case=None) -> list[dict]:
    """One row per case in scope with its backlog; sorted by urgency, backlog or age of
    the oldest unreviewed item (oldest first). Two queries (or one with ``per_case``)."""
    per_case = backlog_by_case(f) if per_case is None else per_case
    cases = cases_in_scope(f).values(
        "pk", "uuid", "reference", "title", "urgency", "is_closed", "created_at"
    )
    rows = []
    empty = {"items": 0, "units": 0, "second_review": 0, "conflict": 0, "oldest": None}
    for case in cases:
        row = {**case, **per_case.get(case["pk"], empty)}
        row["age_days"] = _age_days(f.now, row["oldest"])
        row["urgency_label"] = Urgency(row["urgency"]).label
        rows.append(row)
    rows.sort(key=CASE_SORTS.get(sort, CASE_SORTS["urgency"]))
    return rows


def _age_days(now, oldest) -> float | None:
    return None if oldest is None else round((now - oldest).total_seconds() / 86400, 1)


def backlog(f: DashboardFilter, per_case: dict | None = None) -> dict:
    per_case = backlog_by_case(f) if per_case is None else per_case
    oldest = min((r["oldest"] for r in per_case.values() if r["oldest"]), default=None)
    return {
        "items": sum(r["items"] for r in per_case.values()),
        "units": sum(r["units"] for r in per_case.values()),
        "second_review": sum(r["second_review"] for r in per_case.values()),
        "conflict": sum(r["conflict"] for r in per_case.values()),
        "oldest": oldest,
        "oldest_age_days": _age_days(f.now, oldest),
    }


# --- Flow ------------------------------------------------------------------------------


# Per-day figures for ranges up to this many days are computed day by day in one query,
# each day a plain range over the (agency, time) index: no per-row local-date arithmetic
# and a hash on the person alone, two to three times cheaper than one GROUP BY on the
# local date at a million items. Longer ranges: one GROUP BY (a query of hundreds of
# parts would be unwieldy).
PROBED_DAYS = 62


_SENTINEL_DAY = dt.date(1901, 1, 1)


def _per_day(f: DashboardFilter, qs: QuerySet, field: str, keys: tuple[str, ...], **aggregates):
    """Rows of ``keys``, ``day`` (local) and ``aggregates`` of ``qs`` grouped by ``keys``
    and the local day of ``field``, for the days of the range with any rows (without
    ``keys``: one row per day, zeros included). One query: a UNION ALL of one GROUP BY
    per day, or (long ranges) a GROUP BY on the local date.

    The per-day part is compiled once, with sentinel bounds whose parameters are then
    swapped for each day's: compiling dozens of querysets would cost more time in Python
    than the database spends answering."""
    days = f.days()
    if len(days) > PROBED_DAYS:
        tz = timezone.get_current_timezone()
        return list(
            qs.annotate(day=TruncDate(field, tzinfo=tz))
            .order_by()
            .values(*keys, "day")
            .annotate(**aggregates)
        )
    lo, hi = _local_midnight(_SENTINEL_DAY), _local_midnight(_SENTINEL_DAY + dt.timedelta(1))
    part = (
        qs.filter(**{f"{field}__gte": lo, f"{field}__lt": hi})
        .order_by()
        .annotate(day=Value(_SENTINEL_DAY, output_field=DateField()))
        .values(*keys, "day")
        .annotate(**aggregates)
    )
    db = connections[qs.db]
    sql, params = part.query.get_compiler(qs.db).as_sql()
    as_datetime = DateTimeField().get_db_prep_value
    as_date = DateField().get_db_prep_value
    sentinels = {
        as_datetime(lo, db): 0,
        as_datetime(hi, db): 1,
        as_date(_SENTINEL_DAY, db): 2,
    }
    slots = [
        (i, sentinels[p])
        for i, p in enumerate(params)
        if isinstance(p, str | dt.date) and p in sentinels
    ]
    if sorted(k for _, k in slots) != [0, 1, 2]:  # a parameter clashed with a sentinel
        raise RuntimeError("could not place the per-day parameters")
    bounds = [_local_midnight(d) for d in days] + [f.until]
    all_params: list = []
    for i, day in enumerate(days):
        values = [as_datetime(bounds[i], db), as_datetime(bounds[i + 1], db), as_date(day, db)]
        day_params = list(params)
        for index, kind in slots:
            day_params[index] = values[kind]
        all_params += day_params
    with db.cursor() as cursor:
        cursor.execute(" UNION ALL ".join([sql] * len(days)), all_params)
        names = [c[0] for c in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        if isinstance(row["day"], str):  # SQLite
            row["day"] = dt.date.fromisoformat(row["day"])
    return rows


# --- The daily rollup ------------------------------------------------------------------


@dataclass(frozen=True)
class Activity:
    """The per-day figures of a filter, read from the daily rollup (PostgreSQL, see
    triage/dashboard/rollup.py) in one query: the same values the direct queries below
    give, in the same shapes."""

    ingested: dict  # local day -> items created
    decisions: list  # rows of reviewer_id (None: no reviewer), day, n
    exposure: list  # rows of user_id, day, reveals, video_ms (None: no video)
    processed: int
    precategorized: int


def daily_activity(f: DashboardFilter) -> Activity | None:
    """The filter's per-day figures from the rollup, or None when it cannot answer
    (SQLite; not built, or built for another time zone): the callers then query the
    rows directly. One query."""
    rows = rollup.read(f)
    if rows is None:
        return None
    ingested: dict[dt.date, int] = {}
    decisions, exposure = [], []
    processed = precategorized = 0
    for r in rows:
        if r["ingested"]:
            ingested[r["day"]] = ingested.get(r["day"], 0) + r["ingested"]
        processed += r["processed"] or 0
        precategorized += r["precategorized"] or 0
        if r["decisions"]:
            decisions.append(
                {"reviewer_id": r["person_id"] or None, "day": r["day"], "n": r["decisions"]}
            )
        if r["reveals"] or r["videos"]:
            exposure.append(
                {
                    "user_id": r["person_id"],
                    "day": r["day"],
                    "reveals": r["reveals"] or 0,
                    "video_ms": r["video_ms"] if r["videos"] else None,
                }
            )
    return Activity(ingested, decisions, exposure, processed, precategorized)


_READ = object()  # "read the rollup" (the default of the selectors below)


def _activity(f: DashboardFilter, activity) -> Activity | None:
    return daily_activity(f) if activity is _READ else activity


def decisions_per_reviewer_day(f: DashboardFilter, activity=_READ) -> list[dict]:
    """Decisions in the range per (reviewer id, local day); decisions without a reviewer
    count under ``reviewer_id`` None. One query (the rollup's, or one on the decisions),
    shared by ``flow_per_day`` (per day) and ``reviewer_days`` (per person)."""
    if (activity := _activity(f, activity)) is not None:
        return activity.decisions
    return _per_day(f, _decisions(f), "created_at", ("reviewer_id",), n=Count(ROWS))


def items_ingested_per_day(f: DashboardFilter, activity=_READ) -> dict[dt.date, int]:
    """local day -> items ingested (created) that day, for the days of the range that
    have any. One query (the rollup's, or see ``_per_day``)."""
    if (activity := _activity(f, activity)) is not None:
        return activity.ingested
    rows = _per_day(f, _items(f), "created_at", (), n=Count(ROWS))
    return {r["day"]: r["n"] for r in rows if r["n"]}


def flow_per_day(
    f: DashboardFilter, decisions: list[dict] | None = None, activity=_READ
) -> list[dict]:
    """Items ingested and reviewed (decisions) per local day of the range, zeros filled.
    One query from the rollup; otherwise two, or one with ``decisions``
    (``decisions_per_reviewer_day``)."""
    activity = _activity(f, activity)
    ingested = items_ingested_per_day(f, activity)
    if decisions is None:
        decisions = decisions_per_reviewer_day(f, activity)
    reviewed: dict[dt.date, int] = {}
    for d in decisions:
        reviewed[d["day"]] = reviewed.get(d["day"], 0) + d["n"]
    return [
        {"day": d, "ingested": ingested.get(d, 0), "reviewed": reviewed.get(d, 0)} for d in f.days()
    ]


def first_reviewed(f: DashboardFilter) -> dict:
    """Everything about the items first reviewed in the range: the two medians (see the
    module docstring) and the classifier's positives reviewed and confirmed. PostgreSQL:
    a small sample and one scan (see ``_windowed_medians``), or one sorting query;
    other databases: the medians' queries plus one aggregate."""
    items = _items(f).filter(first_reviewed_at__gte=f.since, first_reviewed_at__lt=f.until)
    np_code = non_pertinent_code(policy_for(f.agency))
    confirmed_q = ~Q(category="") if np_code is None else ~Q(category__in=("", np_code))
    # COALESCE: an unscored item (most of them) is then plainly not positive, and the
    # database stops there instead of evaluating the state and category (NULL AND ...):
    # a fifth of the cost of this scan at a million items.
    scored = GreaterThanOrEqual(Coalesce("classifier_score", Value(0.0)), POSITIVE_SCORE)
    positive = Q(scored) & Q(review_state=ReviewState.REVIEWED)
    filters = {"positives_reviewed": positive, "positives_confirmed": positive & confirmed_q}
    counts = {name: Count(ROWS, filter=q) for name, q in filters.items()}
    if connection.vendor == "postgresql":
        out = _windowed_medians(items, filters)
        if out is None:  # few rows: sorting them all is cheap
            out = _sorted_medians(items, list(DURATIONS), counts)
        elif missed := [name for name in DURATIONS if out[name] is MISSED]:
            out.update(_sorted_medians(items, missed))  # the sample misled a window
        return {**out, **{name: _seconds(out[name]) for name in DURATIONS}}
    return {
        "first_triage": median_duration(items, _duration("first_triage")),
        "in_queue": median_duration(items.filter(queued_at__isnull=False), _duration("in_queue")),
        **items.aggregate(**counts),
    }


def timings(f: DashboardFilter, reviewed: dict | None = None) -> dict:
    """Medians over items first reviewed in the range (see the module docstring)."""
    reviewed = first_reviewed(f) if reviewed is None else reviewed
    return {"first_triage": reviewed["first_triage"], "in_queue": reviewed["in_queue"]}


def non_pertinent_code(policy) -> str | None:
    """The agency's "non-pertinent" code (0 in Project VIC US, 5 in legacy DHS, NP in UK
    CAID; by label in a custom scheme)."""
    for code, label in policy.categories:
        if label.lower().replace("-", " ").replace("_", " ").strip() in {
            "non pertinent",
            "not pertinent",
        }:
            return code
    return None


def processed_in_range(f: DashboardFilter, activity=_READ) -> dict:
    """Items done and processed in the range, and those of them pre-categorised. One
    query (the rollup's, or one on the items)."""
    if (activity := _activity(f, activity)) is not None:
        return {"total": activity.processed, "precategorized": activity.precategorized}
    return (
        _items(f)
        .filter(status=ItemStatus.DONE, processed_at__gte=f.since, processed_at__lt=f.until)
        .aggregate(total=Count(ROWS), precategorized=Count(ROWS, filter=Q(is_precategorized=True)))
    )


def rates(f: DashboardFilter, reviewed: dict | None = None, activity=_READ) -> dict:
    """Pre-categorisation rate and the classifier's share of positives confirmed. Two
    queries, or one with ``reviewed`` (``first_reviewed``) or ``activity``, none with
    both."""
    processed = processed_in_range(f, activity)
    reviewed = first_reviewed(f) if reviewed is None else reviewed
    positives, confirmed = reviewed["positives_reviewed"], reviewed["positives_confirmed"]
    return {
        "processed": processed["total"],
        "precategorized": processed["precategorized"],
        "precategorized_rate": _share(processed["precategorized"], processed["total"]),
        "positives_reviewed": positives,
        "positives_confirmed": confirmed,
        "confirmed_rate": _share(confirmed, positives),
    }


def _share(part: int, whole: int) -> float | None:
    return None if not whole else part / whole


# --- Reviewers -------------------------------------------------------------------------


def exposure_per_user_day(f: DashboardFilter, activity=_READ) -> list[dict]:
    """Reveals and video milliseconds (None: no video) per (user id, local day) with any
    reveal or video play in the range. One query (the rollup's, or see ``_per_day``)."""
    if (activity := _activity(f, activity)) is not None:
        return activity.exposure
    return _per_day(
        f,
        _exposure(f).filter(kind__in=(ExposureEvent.Kind.REVEAL, ExposureEvent.Kind.VIDEO)),
        "started_at",
        ("user_id",),
        reveals=Count(ROWS, filter=Q(kind=ExposureEvent.Kind.REVEAL)),
        video_ms=Sum("duration_ms", filter=Q(kind=ExposureEvent.Kind.VIDEO)),
    )


def reviewer_days(
    f: DashboardFilter, decisions: list[dict] | None = None, activity=_READ
) -> list[dict]:
    """One row per (reviewer, local day) with any activity in the range: decisions,
    reveals and minutes of video, each flagged against the agency's guideline. The
    rollup's one query, or two GROUP BY queries (one with ``decisions``, from
    ``decisions_per_reviewer_day``); and one for the names."""
    policy = policy_for(f.agency)
    activity = _activity(f, activity)
    if decisions is None:
        decisions = decisions_per_reviewer_day(f, activity)
    exposure = exposure_per_user_day(f, activity)
    # The names in one small query over the aggregated rows' ids: joining the users to
    # every decision and event before grouping costs more than the grouping itself.
    ids = {d["reviewer_id"] for d in decisions} | {e["user_id"] for e in exposure}
    names = dict(User.objects.filter(pk__in=ids - {None}).values_list("pk", "username"))
    rows: dict[tuple, dict] = {}

    def row(user_id, username, day):
        return rows.setdefault(
            (username, day),
            {
                "user_id": user_id,
                "reviewer": username,
                "day": day,
                "decisions": 0,
                "reveals": 0,
                "video_minutes": 0.0,
            },
        )

    for d in decisions:
        if d["reviewer_id"] is None:  # auto-grades have no reviewer (kind filtered anyway)
            continue
        row(d["reviewer_id"], names.get(d["reviewer_id"], ""), d["day"])["decisions"] = d["n"]
    for e in exposure:
        r = row(e["user_id"], names.get(e["user_id"], ""), e["day"])
        r["reveals"] = e["reveals"]
        r["video_minutes"] = round((e["video_ms"] or 0) / 60000, 1)
    for r in rows.values():
        r["reveals_over"] = r["reveals"] > policy.exposure_guideline_reveals_per_day
        r["video_over"] = r["video_minutes"] > policy.exposure_guideline_video_minutes_per_day
    return sorted(rows.values(), key=lambda r: (r["reviewer"], r["day"]))


def week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def reviewer_weeks(days: list[dict]) -> list[dict]:
    """Per (reviewer, ISO week starting Monday): totals and the number of days over the
    guideline, folded from ``reviewer_days`` rows (already aggregated)."""
    weeks: dict[tuple, dict] = {}
    for r in days:
        key = (r["reviewer"], week_start(r["day"]))
        w = weeks.setdefault(
            key,
            {
                "reviewer": r["reviewer"],
                "week": key[1],
                "active_days": 0,
                "decisions": 0,
                "reveals": 0,
                "video_minutes": 0.0,
                "days_over": 0,
            },
        )
        w["active_days"] += 1
        w["decisions"] += r["decisions"]
        w["reveals"] += r["reveals"]
        w["video_minutes"] = round(w["video_minutes"] + r["video_minutes"], 1)
        w["days_over"] += int(r["reveals_over"] or r["video_over"])
    for w in weeks.values():
        n = w["active_days"]
        w["decisions_per_day"] = round(w["decisions"] / n, 1)
        w["reveals_per_day"] = round(w["reveals"] / n, 1)
        w["video_minutes_per_day"] = round(w["video_minutes"] / n, 1)
    return sorted(weeks.values(), key=lambda w: (w["reviewer"], w["week"]))


def reviewer_summary(days: list[dict], n_days: int) -> list[dict]:
    """Per reviewer over the whole range: totals and averages per calendar day."""
    people: dict[str, dict] = {}
    for r in days:
        p = people.setdefault(
            r["reviewer"],
            {"reviewer": r["reviewer"], "decisions": 0, "reveals": 0, "video_minutes": 0.0},
        )
        p["decisions"] += r["decisions"]
        p["reveals"] += r["reveals"]
        p["video_minutes"] = round(p["video_minutes"] + r["video_minutes"], 1)
        p["days_over"] = p.get("days_over", 0) + int(r["reveals_over"] or r["video_over"])
    for p in people.values():
        p["decisions_per_day"] = round(p["decisions"] / n_days, 1)
        p["reveals_per_day"] = round(p["reveals"] / n_days, 1)
        p["video_minutes_per_day"] = round(p["video_minutes"] / n_days, 1)
    return sorted(people.values(), key=lambda p: p["reviewer"])


# --- Everything for the page -----------------------------------------------------------


def dashboard(f: DashboardFilter, *, sort: str = "urgency") -> dict:
    """All the dashboard's figures in eight queries, whatever the number of items: the
    backlog per case (shared by the totals and the case list), the cases, items ingested
    per day, decisions per reviewer and day (shared by the flow and the reviewers), the
    items first reviewed (medians and positives), the items processed, the exposure per
    person and day, the people's names (PostgreSQL; plus the medians' ``SET LOCAL``)."""
    per_case = backlog_by_case(f)
    activity = daily_activity(f)
    decisions = decisions_per_reviewer_day(f, activity)
    reviewed = first_reviewed(f)
    days = reviewer_days(f, decisions, activity)
    policy = policy_for(f.agency)
    return {
        "backlog": backlog(f, per_case),
        "cases": case_rows(f, sort=sort, per_case=per_case),
        "flow": flow_per_day(f, decisions, activity),
        "timings": timings(f, reviewed),
        "rates": rates(f, reviewed, activity),
        "reviewer_days": days,
        "reviewer_weeks": reviewer_weeks(days),
        "reviewers": reviewer_summary(days, len(f.days())),
        "guideline": {
            "reveals_per_day": policy.exposure_guideline_reveals_per_day,
            "video_minutes_per_day": policy.exposure_guideline_video_minutes_per_day,
        },
    }
