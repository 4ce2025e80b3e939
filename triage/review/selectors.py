"""Read-only queries of the review area, always scoped to one agency.

The queue selection is ONE query: the user's reviewable cases (team, lead or creator; every
case for supervisors and admins, decided inside the same query from the membership), the
claimable review states, a lease that is free or expired, a group shown once (through its
representative), and no item the user already graded first (second review needs another
person). It walks the partial ``item_queue_open`` index (agency, -priority, id) of the
claimable rows in order and stops at the first row that passes (and, when claiming, that
no one else has locked)."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from hub.models import Membership, Role
from triage.models import (
    Case,
    EvidenceItem,
    ExposureEvent,
    ItemGroup,
    Match,
    ReviewDecision,
    ReviewState,
)

CLAIMABLE_STATES = (ReviewState.QUEUED, ReviewState.SECOND_REVIEW)
FIRST_KINDS = (ReviewDecision.Kind.FIRST, ReviewDecision.Kind.VERIFICATION)


def reviewable_cases(user, agency, case: Case | None = None) -> QuerySet[Case]:
    """Open cases of ``agency`` the user may review. Supervisors and admins see all of them;
    the role is read in the same SQL (an uncorrelated EXISTS), not in a separate query."""
    sees_all = Membership.objects.filter(
        user_id=user.pk,
        agency_id=agency.pk,
        is_active=True,
        role__in=(Role.SUPERVISOR, Role.ADMIN),
    )
    on_team = Case.team.through.objects.filter(user_id=user.pk).values("case_id")
    member = Membership.objects.filter(user_id=user.pk, agency_id=agency.pk, is_active=True)
    cases = Case.objects.filter(agency_id=agency.pk, is_closed=False).filter(Exists(member))
    cases = cases.filter(
        Q(Exists(sees_all)) | Q(pk__in=on_team) | Q(lead_id=user.pk) | Q(created_by_id=user.pk)
    )
    if case is not None:
        cases = cases.filter(pk=case.pk)
    return cases


def _represented_by_another():
    """A NOT EXISTS on this rather than a join to the group: the same rows, but half the
    planning time of the claim."""
    return ItemGroup.objects.filter(pk=OuterRef("group_id")).exclude(
        representative_id=OuterRef("pk")
    )


def queue_for(user, agency, case: Case | None = None, *, now=None) -> QuerySet[EvidenceItem]:
    """Claimable items for ``user``, best first (not locked; see ``service.review_claim``)."""
    now = now or timezone.now()
    graded_by_me = ReviewDecision.objects.filter(
        item=OuterRef("pk"), reviewer_id=user.pk, kind__in=FIRST_KINDS, undone_at__isnull=True
    ).values("pk")[:1]
    return (
        EvidenceItem.objects.filter(
            agency_id=agency.pk,
            review_state__in=CLAIMABLE_STATES,
            case_id__in=reviewable_cases(user, agency, case).values("pk"),
        )
        .filter(Q(claimed_by__isnull=True) | Q(lease_expires_at__lt=now))
        .filter(Q(group__isnull=True) | ~Exists(_represented_by_another()))
        # A scalar subquery, not NOT EXISTS: PostgreSQL turns a NOT EXISTS under an OR
        # into a hash of ALL the reviewer's first decisions, built at the first second-
        # review row of the walk (32 ms for 10,000 decisions, growing with the history);
        # this looks up the item's own decisions instead (0.2 ms).
        .alias(my_first_decision=Subquery(graded_by_me))
        .filter(Q(review_state=ReviewState.QUEUED) | Q(my_first_decision__isnull=True))
        .order_by("-priority", "id")
    )


def next_for(user, agency, case: Case | None = None) -> EvidenceItem | None:
    """The item the user would get next, in one query (without claiming it)."""
    return queue_for(user, agency, case).first()


def held_queryset(user, agency, case: Case | None = None, *, now=None) -> QuerySet[EvidenceItem]:
    """Items the user holds a live lease on, best first."""
    items = EvidenceItem.objects.filter(
        agency_id=agency.pk,
        claimed_by_id=user.pk,
        lease_expires_at__gt=now or timezone.now(),
        review_state__in=(*CLAIMABLE_STATES, ReviewState.CONFLICT),
    )
    if case is not None:
        items = items.filter(case_id=case.pk)
    return items.order_by("-priority", "id")


def held_by(user, agency, case: Case | None = None) -> EvidenceItem | None:
    """The item the user holds a live lease on (resume after a reload), if any."""
    return held_queryset(user, agency, case).first()


# --- the claim as one prepared statement (PostgreSQL) -------------------------------------
#
# Building and compiling the queue's querysets cost the reviewer's process ~13 ms of CPU
# per claim and planning them ~1-2 ms of the database's, against ~0.3 ms to execute. So
# the claim is compiled from the same querysets (one source of truth: ``queue_for`` and
# ``held_queryset``) once per process, with marker values in the places of the user,
# agency, case and time; those places become the parameters of a server-side prepared
# statement (prepared once per database session, planned once), the other values are
# inlined as literals so that the plan can use the partial ``item_queue_open`` index.
# Named prepared statements need a session per client: no PgBouncer transaction pooling.


class _Stand:
    """Stands in for a user, agency or case while a queryset is compiled."""

    def __init__(self, pk: int):
        self.pk = pk


MARKERS = {"user": -7_300_001, "agency": -7_300_002, "case": -7_300_003}
NOW_MARKER = datetime(2000, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC)


@dataclass(frozen=True)
class ClaimStatement:
    """``execute`` with ``[values[name] for name in names]`` as its parameters, after
    ``prepare`` has run once in the database session."""

    name: str
    prepare: str
    execute: str
    names: tuple[str, ...]

    def params(self, **values) -> list:
        return [values[name] for name in self.names]


def _marker_name(value) -> str | None:
    if isinstance(value, datetime):
        return "now" if value == NOW_MARKER else None
    if isinstance(value, int) and not isinstance(value, bool):
        return next((k for k, v in MARKERS.items() if v == value), None)
    return None


_CLAIM_STATEMENTS: dict[tuple, ClaimStatement] = {}


def claim_statement(scoped: bool) -> ClaimStatement:
    """The PostgreSQL claim: one UPDATE that resumes the item the user holds (renewing
    the lease), else locks the next item of ``queue_for`` with ``FOR UPDATE SKIP LOCKED``,
    sets the lease and returns the row."""
    key = (connection.alias, scoped)
    if key in _CLAIM_STATEMENTS:
        return _CLAIM_STATEMENTS[key]
    user, agency = _Stand(MARKERS["user"]), _Stand(MARKERS["agency"])
    case = _Stand(MARKERS["case"]) if scoped else None
    held = held_queryset(user, agency, case, now=NOW_MARKER).values("pk")[:1]
    pick = (
        queue_for(user, agency, case, now=NOW_MARKER)
        .select_for_update(skip_locked=True, of=("self",))
        .values("pk")[:1]
    )
    with transaction.atomic():  # FOR UPDATE compiles only inside a transaction
        held_sql, held_params = held.query.sql_with_params()
        pick_sql, pick_params = pick.query.sql_with_params()
    names = ["user", "expires", "agency", "now"] + (["case"] if scoped else [])
    places, found = [], set()
    for value in [*held_params, *pick_params]:
        name = _marker_name(value)
        if name is None:  # a constant of the query (a state, a role): a literal
            places.append(connection.ops.compose_sql("%s", [value]))
        else:
            found.add(name)
            places.append(f"${names.index(name) + 1}")
    if found != set(names) - {"expires"}:
        raise RuntimeError(f"claim statement: {sorted(set(names) - found)} not bound")
    table = connection.ops.quote_name(EvidenceItem._meta.db_table)
    columns = ", ".join(
        f"{table}.{connection.ops.quote_name(f.column)}" for f in EvidenceItem._meta.concrete_fields
    )
    body = (
        f'UPDATE {table} SET "claimed_by_id" = $1, "lease_expires_at" = $2 '  # noqa: S608
        f'WHERE {table}."id" = COALESCE(({held_sql}), ({pick_sql})) RETURNING {columns}'
    )
    # Only ORM-compiled SQL, quoted names and adapted literals are joined here.
    places_left = iter(places)
    body = re.sub(r"%%|%s", lambda m: "%" if m[0] == "%%" else next(places_left), body)
    name = f"review_claim_{'case' if scoped else 'all'}_{zlib.crc32(body.encode()):08x}"
    statement = ClaimStatement(
        name=name,
        prepare=f"PREPARE {name} AS {body}",
        execute=f"EXECUTE {name}({', '.join(['%s'] * len(names))})",
        names=tuple(names),
    )
    _CLAIM_STATEMENTS[key] = statement
    return statement


COUNT_CAP = 1000  # the meter counts the queue this far ("1,000+"), so it stays cheap


def queue_counts(user, agency, case: Case | None = None, *, cap: int | None = None) -> dict:
    """How much is left for this user: the ``decisions`` (a group counts once) and the
    ``items`` they cover, each counted up to ``cap`` (``…_capped``: there are more).
    Counting a million-item queue on every page would cost more than the page."""
    cap = cap or COUNT_CAP
    # The case ids as a list: with a subquery the planner guesses one case and sorts
    # every item of the cases instead of walking the queue index to the cap.
    case_ids = list(reviewable_cases(user, agency, case).values_list("pk", flat=True))
    items = EvidenceItem.objects.filter(
        agency_id=agency.pk, review_state__in=CLAIMABLE_STATES, case_id__in=case_ids
    ).order_by("-priority", "id")  # the queue index's order: the walk stops at the cap
    shown = items.filter(Q(group__isnull=True) | ~Exists(_represented_by_another()))
    n_items = items[: cap + 1].count()
    n_decisions = shown[: cap + 1].count()
    return {
        "items": min(n_items, cap),
        "decisions": min(n_decisions, cap),
        "items_capped": n_items > cap,
        "decisions_capped": n_decisions > cap,
    }


def conflicts_for(agency) -> QuerySet[EvidenceItem]:
    """Items whose reviewers disagreed, for a supervisor to resolve."""
    return (
        EvidenceItem.objects.filter(agency_id=agency.pk, review_state=ReviewState.CONFLICT)
        .select_related("case")
        .prefetch_related("decisions__reviewer")
        .order_by("-priority", "id")
    )


def item_decisions(item: EvidenceItem) -> list[ReviewDecision]:
    return list(item.decisions.select_related("reviewer").order_by("created_at", "id"))


def item_matches(item: EvidenceItem) -> list[Match]:
    return list(
        item.matches.select_related("hash_list", "entry", "item__agency").order_by(
            "distance", "id"
        )[:5]
    )


def group_members(item: EvidenceItem) -> list[EvidenceItem]:
    if item.group_id is None:
        return [item]
    return list(
        EvidenceItem.objects.filter(group_id=item.group_id, agency_id=item.agency_id)
        .prefetch_related("derivatives")
        .order_by("-priority", "id")
    )


def last_undoable(user, agency) -> ReviewDecision | None:
    """The user's most recent decision that can still be undone."""
    window = agency.policy.undo_seconds
    return (
        ReviewDecision.objects.filter(
            agency_id=agency.pk,
            reviewer_id=user.pk,
            undone_at__isnull=True,
            created_at__gte=timezone.now() - timedelta(seconds=window),
        )
        .select_related("item")
        # One action shares created_at; the representative's decision comes first.
        .order_by("-created_at", "id")
        .first()
    )


def exposure_today(user, agency) -> dict:
    """Reveals and video minutes today against the agency's guideline."""
    policy = agency.policy
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    figures = ExposureEvent.objects.filter(
        agency_id=agency.pk, user_id=user.pk, started_at__gte=start
    ).aggregate(
        reveals=Count("pk", filter=Q(kind=ExposureEvent.Kind.REVEAL)),
        video_ms=Sum("duration_ms", filter=Q(kind=ExposureEvent.Kind.VIDEO)),
    )
    reveals = figures["reveals"] or 0
    video_ms = figures["video_ms"] or 0
    video_minutes = round(video_ms / 60000, 1)
    seconds = video_ms // 1000
    reveal_limit = max(1, policy.exposure_guideline_reveals_per_day)
    video_limit = max(1, policy.exposure_guideline_video_minutes_per_day)
    every = max(1, policy.break_reminder_after_reveals)
    return {
        "reveals": reveals,
        "reveal_limit": reveal_limit,
        "reveal_percent": min(100, round(100 * reveals / reveal_limit)),
        "video_minutes": video_minutes,
        "video_time": f"{seconds // 60}:{seconds % 60:02d}",  # m:ss, a short play shows
        "video_limit": video_limit,
        "video_percent": min(100, round(100 * video_minutes / video_limit)),
        "over": reveals >= reveal_limit or video_minutes >= video_limit,
        "break_due": reveals > 0 and reveals % every == 0,
        "break_every": every,
    }


def viewing_prefs(user, agency) -> dict:
    """``{"blur", "gray"}``: the reviewer's own choice, else the agency's default."""
    policy = agency.policy
    blur = policy.blur_default if user.prefers_blur is None else user.prefers_blur
    gray = policy.grayscale_default if user.prefers_grayscale is None else user.prefers_grayscale
    return {"blur": bool(blur), "gray": bool(gray)}
