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
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Min,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from hub.policy import policy_for
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


class _PercentileCont(Aggregate):
    """PostgreSQL's ordered-set aggregate ``percentile_cont(p) WITHIN GROUP (ORDER BY x)``."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DurationField()


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
            items=Count("pk"),
            ungrouped=Count("pk", filter=Q(group__isnull=True)),
            groups=Count("group", distinct=True),
            second_review=Count("pk", filter=Q(review_state=ReviewState.SECOND_REVIEW)),
            conflict=Count("pk", filter=Q(review_state=ReviewState.CONFLICT)),
            oldest=Min("queued_at"),
            oldest_created=Min("created_at"),
        )
    )
    out = {}
    for row in rows:
        row["units"] = row.pop("ungrouped") + row.pop("groups")
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


def flow_per_day(f: DashboardFilter) -> list[dict]:
    """Items ingested and reviewed (decisions) per local day of the range, zeros filled."""
    tz = timezone.get_current_timezone()
    ingested = dict(
        _items(f)
        .filter(created_at__gte=f.since, created_at__lt=f.until)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .order_by()
        .values("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )
    reviewed = dict(
        _decisions(f)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .order_by()
        .values("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )
    return [
        {"day": d, "ingested": ingested.get(d, 0), "reviewed": reviewed.get(d, 0)} for d in f.days()
    ]


def timings(f: DashboardFilter) -> dict:
    """Medians over items first reviewed in the range (see the module docstring)."""
    first_reviewed = _items(f).filter(first_reviewed_at__gte=f.since, first_reviewed_at__lt=f.until)
    return {
        "first_triage": median_duration(first_reviewed, F("first_reviewed_at") - F("created_at")),
        "in_queue": median_duration(
            first_reviewed.filter(queued_at__isnull=False), F("first_reviewed_at") - F("queued_at")
        ),
    }


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


def rates(f: DashboardFilter) -> dict:
    """Pre-categorisation rate and the classifier's share of positives confirmed."""
    processed = (
        _items(f)
        .filter(status=ItemStatus.DONE, processed_at__gte=f.since, processed_at__lt=f.until)
        .aggregate(total=Count("pk"), precategorized=Count("pk", filter=Q(is_precategorized=True)))
    )
    np_code = non_pertinent_code(policy_for(f.agency))
    confirmed_q = ~Q(category="") if np_code is None else ~Q(category__in=("", np_code))
    positives = (
        _items(f)
        .filter(
            classifier_score__gte=POSITIVE_SCORE,
            review_state=ReviewState.REVIEWED,
            first_reviewed_at__gte=f.since,
            first_reviewed_at__lt=f.until,
        )
        .aggregate(reviewed=Count("pk"), confirmed=Count("pk", filter=confirmed_q))
    )
    return {
        "processed": processed["total"],
        "precategorized": processed["precategorized"],
        "precategorized_rate": _share(processed["precategorized"], processed["total"]),
        "positives_reviewed": positives["reviewed"],
        "positives_confirmed": positives["confirmed"],
        "confirmed_rate": _share(positives["confirmed"], positives["reviewed"]),
    }


def _share(part: int, whole: int) -> float | None:
    return None if not whole else part / whole


# --- Reviewers -------------------------------------------------------------------------


def reviewer_days(f: DashboardFilter) -> list[dict]:
    """One row per (reviewer, local day) with any activity in the range: decisions,
    reveals and minutes of video, each flagged against the agency's guideline. Three
    GROUP BY queries (the names come with them through the join)."""
    tz = timezone.get_current_timezone()
    policy = policy_for(f.agency)
    decisions = (
        _decisions(f)
        .filter(reviewer__isnull=False)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .order_by()
        .values("reviewer_id", "reviewer__username", "day")
        .annotate(n=Count("pk"))
    )
    exposure = (
        _exposure(f)
        .filter(kind__in=(ExposureEvent.Kind.REVEAL, ExposureEvent.Kind.VIDEO))
        .annotate(day=TruncDate("started_at", tzinfo=tz))
        .order_by()
        .values("user_id", "user__username", "day")
        .annotate(
            reveals=Count("pk", filter=Q(kind=ExposureEvent.Kind.REVEAL)),
            video_ms=Sum("duration_ms", filter=Q(kind=ExposureEvent.Kind.VIDEO)),
        )
    )
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
        row(d["reviewer_id"], d["reviewer__username"], d["day"])["decisions"] = d["n"]
    for e in exposure:
        r = row(e["user_id"], e["user__username"], e["day"])
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
    """All the dashboard's figures (about ten queries, whatever the number of items)."""
    per_case = backlog_by_case(f)
    days = reviewer_days(f)
    policy = policy_for(f.agency)
    return {
        "backlog": backlog(f, per_case),
        "cases": case_rows(f, sort=sort, per_case=per_case),
        "flow": flow_per_day(f),
        "timings": timings(f),
        "rates": rates(f),
        "reviewer_days": days,
        "reviewer_weeks": reviewer_weeks(days),
        "reviewers": reviewer_summary(days, len(f.days())),
        "guideline": {
            "reveals_per_day": policy.exposure_guideline_reveals_per_day,
            "video_minutes_per_day": policy.exposure_guideline_video_minutes_per_day,
        },
    }
