"""Reads for exports: the items of an export with everything its files need, and the
export jobs a request may see (built on the case-visibility chokepoint)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from hub.access import get_scoped_or_404, has_role
from hub.models import Role
from triage.access import visible_cases
from triage.models import EvidenceItem, ExportJob, Match, ReviewDecision


def export_items(job: ExportJob) -> QuerySet[EvidenceItem]:
    items = EvidenceItem.objects.filter(agency_id=job.agency_id, case_id=job.case_id)
    if job.batch_id is not None:
        items = items.filter(batch_id=job.batch_id)
    return items


@dataclass
class ItemRow:
    """One evidence item as every export file sees it."""

    item: EvidenceItem
    exhibit: str
    match_lists: list[str]
    decided_by: str
    decided_at: object  # datetime or None
    decision_kind: str

    @property
    def relative_path(self) -> str:
        return f"{self.exhibit}/{self.item.path}"


def item_rows(job: ExportJob, chunk_size: int = 1000) -> Iterator[ItemRow]:
    items = (
        export_items(job)
        .select_related("blob", "batch")
        .prefetch_related(
            Prefetch(
                "matches",
                queryset=Match.objects.select_related("hash_list").order_by("id"),
                to_attr="export_matches",
            ),
            Prefetch(
                "decisions",
                queryset=ReviewDecision.objects.filter(undone_at=None)
                .select_related("reviewer")
                .order_by("created_at", "id"),
                to_attr="live_decisions",
            ),
        )
        .order_by("batch_id", "id")
    )
    for item in items.iterator(chunk_size=chunk_size):
        last = item.live_decisions[-1] if item.live_decisions else None
        who = ""
        if last is not None:
            who = last.reviewer.username if last.reviewer else f"system ({last.get_kind_display()})"
        yield ItemRow(
            item=item,
            exhibit=item.batch.exhibit_ref or str(item.batch.uuid),
            match_lists=sorted({m.hash_list.name for m in item.export_matches}),
            decided_by=who,
            decided_at=last.created_at if last is not None else None,
            decision_kind=last.kind if last is not None else "",
        )


def visible_exports(request) -> QuerySet[ExportJob]:
    return ExportJob.objects.filter(case__in=visible_cases(request)).select_related(
        "case", "batch", "created_by"
    )


def export_for(request, export_uuid) -> ExportJob:
    """One export job of a case the requesting user may see, or 404."""
    return get_scoped_or_404(request, visible_exports(request), uuid=export_uuid)


def may_delete(request, job: ExportJob) -> bool:
    """Who may delete an export's files by hand: its creator, or a supervisor or admin of
    the agency. (Seeing the export at all is ``export_for``'s check: the others get 404;
    an investigator on the case who did not make it gets 403.)"""
    return job.created_by_id == request.user.pk or has_role(request, Role.SUPERVISOR)


def case_exports(case) -> QuerySet[ExportJob]:
    return ExportJob.objects.filter(case=case).select_related("batch", "created_by")
