"""Read-only queries of the review area, always scoped to one agency.

The queue selection is ONE query: the user's reviewable cases (team, lead or creator; every
case for supervisors and admins, decided inside the same query from the membership), the
claimable review states, a lease that is free or expired, a group shown once (through its
representative), and no item the user already graded first (second review needs another
person). It walks the ``item_queue_order`` index (agency, review_state, -priority, id)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from hub.models import Membership, Role
from triage.models import Case, EvidenceItem, ExposureEvent, Match, ReviewDecision, ReviewState

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


def queue_for(user, agency, case: Case | None = None, *, now=None) -> QuerySet[EvidenceItem]:
    """Claimable items for ``user``, best first (not locked; see ``service.review_claim``)."""
    now = now or timezone.now()
    graded_by_me = ReviewDecision.objects.filter(
        item=OuterRef("pk"), reviewer_id=user.pk, kind__in=FIRST_KINDS, undone_at__isnull=True
    )
    return (
        EvidenceItem.objects.filter(
            agency_id=agency.pk,
            review_state__in=CLAIMABLE_STATES,
            case_id__in=reviewable_cases(user, agency, case).values("pk"),
        )
        .filter(Q(claimed_by__isnull=True) | Q(lease_expires_at__lt=now))
        .filter(Q(group__isnull=True) | Q(group__representative_id=F("pk")))
        .filter(Q(review_state=ReviewState.QUEUED) | ~Exists(graded_by_me))
        .order_by("-priority", "id")
    )


def next_for(user, agency, case: Case | None = None) -> EvidenceItem | None:
    """The item the user would get next, in one query (without claiming it)."""
    return queue_for(user, agency, case).first()


def held_by(user, agency, case: Case | None = None) -> EvidenceItem | None:
    """The item the user holds a live lease on (resume after a reload), if any."""
    items = EvidenceItem.objects.filter(
        agency_id=agency.pk,
        claimed_by_id=user.pk,
        lease_expires_at__gt=timezone.now(),
        review_state__in=(*CLAIMABLE_STATES, ReviewState.CONFLICT),
    )
    if case is not None:
        items = items.filter(case_id=case.pk)
    return items.order_by("-priority", "id").first()


def queue_counts(user, agency, case: Case | None = None) -> dict:
    """How much is left for this user (groups count once) and how many items that covers."""
    items = EvidenceItem.objects.filter(
        agency_id=agency.pk,
        review_state__in=CLAIMABLE_STATES,
        case_id__in=reviewable_cases(user, agency, case).values("pk"),
    )
    return items.aggregate(
        items=Count("pk"),
        decisions=Count("pk", filter=Q(group__isnull=True) | Q(group__representative_id=F("pk"))),
    )


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
    video_minutes = round((figures["video_ms"] or 0) / 60000, 1)
    reveal_limit = max(1, policy.exposure_guideline_reveals_per_day)
    video_limit = max(1, policy.exposure_guideline_video_minutes_per_day)
    every = max(1, policy.break_reminder_after_reveals)
    return {
        "reveals": reveals,
        "reveal_limit": reveal_limit,
        "reveal_percent": min(100, round(100 * reveals / reveal_limit)),
        "video_minutes": video_minutes,
        "video_limit": video_limit,
        "video_percent": min(100, round(100 * video_minutes / video_limit)),
        "over": reveals >= reveal_limit or video_minutes >= video_limit,
        "break_due": reveals > 0 and reveals % every == 0,
        "break_every": every,
    }
