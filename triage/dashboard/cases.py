"""Case lifecycle services (close, reopen) and the case summary selector.

Each state change and its audit row share one ``transaction.atomic()``; the transition is
a conditional UPDATE, so two supervisors closing at once record one "case.closed"."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from hub.audit import audit_record
from hub.policy import policy_for
from triage.models import Case, EvidenceItem, ItemStatus, Match, ReviewState


class CaseStateUnchanged(Exception):
    """The case already was in the requested state (nothing changed, nothing audited)."""


def _case_set_closed(*, case: Case, closed: bool, user, request=None) -> Case:
    """The one close/reopen transition: a conditional update (so a double click or a race
    changes and audits once) and its audit row in the same transaction."""
    closed_at = timezone.now() if closed else None
    with transaction.atomic():
        changed = Case.objects.filter(pk=case.pk, is_closed=not closed).update(
            is_closed=closed, closed_at=closed_at
        )
        if not changed:
            state = "closed" if closed else "open"
            raise CaseStateUnchanged(f"The case is already {state}.")
        case.is_closed, case.closed_at = closed, closed_at
        audit_record(
            "case.closed" if closed else "case.reopened",
            agency=case.agency,
            actor=user,
            obj=case,
            request=request,
            data={"reference": case.reference},
        )
    return case


def case_close(*, case: Case, user, request=None) -> Case:
    """Close ``case``: it leaves the review queue (the queue selects open cases only)."""
    return _case_set_closed(case=case, closed=True, user=user, request=request)


def case_reopen(*, case: Case, user, request=None) -> Case:
    """Reopen ``case``: its awaiting items are back in the review queue."""
    return _case_set_closed(case=case, closed=False, user=user, request=request)


def case_summary(case: Case) -> dict:
    """Figures of one case for its summary page (six aggregate queries)."""
    labels = dict(policy_for(case.agency).categories)
    items = EvidenceItem.objects.filter(case_id=case.pk).order_by()
    by_category = [
        {"code": r["category"], "label": labels.get(r["category"], r["category"]), "n": r["n"]}
        for r in items.exclude(category="")
        .values("category")
        .annotate(n=Count("pk"))
        .order_by("category")
    ]
    by_status = list(items.values("status").annotate(n=Count("pk")).order_by("status"))
    by_review = list(items.values("review_state").annotate(n=Count("pk")).order_by("review_state"))
    # People read labels ("Awaiting second review"), not stored codes ("second_review").
    status_labels, review_labels = dict(ItemStatus.choices), dict(ReviewState.choices)
    for row in by_status:
        row["label"] = status_labels.get(row["status"], row["status"])
    for row in by_review:
        row["label"] = review_labels.get(row["review_state"], row["review_state"])
    matches = _matches_by_list(case)
    exhibits = list(
        case.batches.order_by()
        .values("exhibit_ref")
        .annotate(
            batches=Count("pk", distinct=True),
            items=Count("items", distinct=True),
        )
        .order_by("exhibit_ref")
    )
    return {
        "by_category": by_category,
        "by_status": by_status,
        "by_review": by_review,
        "matches": matches,
        "exhibits": exhibits,
        "total": sum(r["n"] for r in by_status),
    }


def _matches_by_list(case: Case) -> list[dict]:
    """Per hash list: hash hits (``matches``), distinct items matched, of which exact (an
    MD5, SHA-1 or SHA-256 hit) and near only (PDQ alone), and the items each algorithm
    matched. An item listed by three hashes is one item, not three. Two queries."""
    hits = Match.objects.filter(item__case_id=case.pk).order_by()
    rows = list(
        hits.values("hash_list_id", "hash_list__name")
        .annotate(
            matches=Count("pk"),
            items=Count("item", distinct=True),
            exact=Count("item", distinct=True, filter=~Q(algorithm=Match.Algorithm.PDQ)),
        )
        .order_by("-items", "hash_list__name")
    )
    labels = dict(Match.Algorithm.choices)
    order = list(labels)
    detail: dict[int, list] = {}
    for r in hits.values("hash_list_id", "algorithm").annotate(n=Count("item", distinct=True)):
        detail.setdefault(r["hash_list_id"], []).append(r)
    for row in rows:
        per = sorted(detail.get(row["hash_list_id"], []), key=lambda r: order.index(r["algorithm"]))
        row["name"] = row["hash_list__name"]
        row["near_only"] = row["items"] - row["exact"]
        row["by_algorithm"] = [{"label": labels[r["algorithm"]], "n": r["n"]} for r in per]
    return rows
