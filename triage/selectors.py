"""Read-only queries of the intake area. Every function takes an already agency-scoped
queryset or object (from ``triage.access``), so nothing here can widen what a user sees."""

from __future__ import annotations

from django.db.models import Count, IntegerField, Min, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from triage.models import Case, EvidenceBatch, EvidenceItem, ItemStatus, ReviewState

AWAITING_REVIEW = (ReviewState.QUEUED, ReviewState.SECOND_REVIEW, ReviewState.CONFLICT)
IN_PROGRESS = (ItemStatus.PENDING, ItemStatus.RUNNING)
FAILED_STATES = (ItemStatus.FAILED, ItemStatus.ERRORED, ItemStatus.REFUSED)


def _item_count(**filters):
    """A correlated COUNT of the case's items (no join fan-out between batches and items)."""
    counted = (
        EvidenceItem.objects.filter(case=OuterRef("pk"), **filters)
        .order_by()
        .values("case")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def case_rows(cases: QuerySet[Case]) -> QuerySet[Case]:
    """Cases with their backlog figures, most urgent first."""
    oldest = (
        EvidenceItem.objects.filter(case=OuterRef("pk"), review_state__in=AWAITING_REVIEW)
        .order_by()
        .values("case")
        .annotate(t=Min("queued_at"))
        .values("t")
    )
    batch_count = (
        EvidenceBatch.objects.filter(case=OuterRef("pk"))
        .order_by()
        .values("case")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        cases.select_related("lead")
        .annotate(
            n_batches=Coalesce(Subquery(batch_count, output_field=IntegerField()), Value(0)),
            n_items=_item_count(),
            n_awaiting=_item_count(review_state__in=AWAITING_REVIEW),
            n_processing=_item_count(status__in=IN_PROGRESS),
            n_known=_item_count(known_state__in=("exact", "near")),
            oldest_unreviewed=Subquery(oldest),
        )
        .order_by("is_closed", "-urgency", "-created_at")
    )


def case_counts(case: Case) -> dict:
    """Item figures of one case for its detail page."""
    return case.items.aggregate(
        total=Count("pk"),
        processing=Count("pk", filter=Q(status__in=IN_PROGRESS)),
        failed=Count("pk", filter=Q(status__in=FAILED_STATES)),
        known=Count("pk", filter=Q(known_state__in=("exact", "near"))),
        awaiting=Count("pk", filter=Q(review_state__in=AWAITING_REVIEW)),
        reviewed=Count("pk", filter=Q(review_state=ReviewState.REVIEWED)),
    )


def case_batches(case: Case) -> QuerySet[EvidenceBatch]:
    return case.batches.select_related("uploaded_by").order_by("-created_at")


def batch_items(batch: EvidenceBatch, *, show: str = "all") -> QuerySet[EvidenceItem]:
    """The batch's items in provenance order; ``show`` is all, failed or known."""
    items = batch.items.all()
    if show == "failed":
        items = items.filter(status__in=FAILED_STATES)
    elif show == "known":
        items = items.exclude(known_state="unknown")
    return items.only(
        "uuid",
        "path",
        "media_type",
        "media_kind",
        "size",
        "status",
        "known_state",
        "review_state",
        "failure_reason",
        "batch_id",
    ).order_by("path", "id")


def batch_failures(batch: EvidenceBatch, limit: int = 200) -> list[EvidenceItem]:
    """Failed, errored and refused items with the reason a person can read."""
    return list(
        batch.items.filter(status__in=FAILED_STATES)
        .only("uuid", "path", "status", "failure_reason", "batch_id")
        .order_by("path", "id")[:limit]
    )


def item_derivatives(item: EvidenceItem) -> dict[str, object]:
    return {d.kind: d for d in item.derivatives.all()}
