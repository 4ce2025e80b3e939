"""The ONLY way request code loads evidence objects by UUID.

Built on the tenancy chokepoint (``hub.access.scoped`` / ``get_scoped_or_404``) and adds
case visibility inside the agency:

- supervisors and admins see every case of the active agency;
- investigators see the cases whose team includes them, or that they lead or created.

Anything else (another agency's object, a case the investigator is not on, a malformed
UUID) is a 404: the object's existence is never revealed."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from hub.access import get_scoped_or_404, has_role, scoped
from hub.models import Role
from triage.models import Case, EvidenceBatch, EvidenceItem


def sees_all_cases(request) -> bool:
    """Supervisors and admins see every case of their agency."""
    return has_role(request, Role.SUPERVISOR)


def visible_cases_for(agency, user, *, all_cases: bool) -> QuerySet[Case]:
    """Cases of ``agency`` visible to ``user``; for callers without a request (API, tasks
    acting for a user). ``all_cases`` is True for supervisors and admins."""
    cases = Case.objects.filter(agency=agency)
    if all_cases:
        return cases
    on_team = Case.team.through.objects.filter(user_id=user.pk).values("case_id")
    # A subquery, not a join on the team: no duplicates, no DISTINCT, safe to annotate.
    return cases.filter(Q(pk__in=on_team) | Q(lead_id=user.pk) | Q(created_by_id=user.pk))


def visible_cases(request) -> QuerySet[Case]:
    """Cases of the active agency the requesting user may see (empty without an agency)."""
    cases = scoped(request, Case.objects.all())
    if getattr(request, "agency", None) is None or sees_all_cases(request):
        return cases
    return visible_cases_for(request.agency, request.user, all_cases=False)


def case_for(request, case_uuid) -> Case:
    return get_scoped_or_404(request, visible_cases(request), uuid=case_uuid)


def batch_for(request, batch_uuid) -> EvidenceBatch:
    batches = EvidenceBatch.objects.filter(case__in=visible_cases(request)).select_related(
        "case", "uploaded_by"
    )
    return get_scoped_or_404(request, batches, uuid=batch_uuid)


ITEM_RELATED = ("case", "batch", "batch__uploaded_by", "blob", "parent")


def item_for(request, item_uuid, *, related: tuple[str, ...] = ITEM_RELATED) -> EvidenceItem:
    """The item, if its case is visible to the user; ``related`` names what to join (a
    six-table join takes PostgreSQL ~3 ms to plan under row-level security, so a hot path
    asks for what it reads)."""
    items = EvidenceItem.objects.filter(case__in=visible_cases(request)).select_related(*related)
    return get_scoped_or_404(request, items, uuid=item_uuid)
