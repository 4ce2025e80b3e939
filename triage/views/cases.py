"""Case pages: the list of visible cases with their backlog, creation, detail and a simple
edit of team and urgency.

Investigators see the cases they are on (team, lead or creator); supervisors and admins
every case of their agency. Objects are loaded only through ``triage.access``."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from hub.access import agency_required
from hub.audit import audit_record
from hub.models import Role
from triage import selectors
from triage.access import case_for, sees_all_cases, visible_cases
from triage.dashboard import cases as lifecycle
from triage.forms import CaseForm
from triage.services import intake


@agency_required(Role.INVESTIGATOR)
def case_list(request):
    show_closed = request.GET.get("closed") == "1"
    cases = visible_cases(request)
    if not show_closed:
        cases = cases.filter(is_closed=False)
    page = Paginator(selectors.case_rows(cases), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "triage/cases/list.html",
        {"page": page, "show_closed": show_closed, "sees_all": sees_all_cases(request)},
    )


@agency_required(Role.INVESTIGATOR)
@require_http_methods(["GET", "POST"])
def case_create(request):
    form = CaseForm(request.POST or None, agency=request.agency, initial={"lead": request.user.pk})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        team = list(data["team"])
        # The creator and the lead are always on the team, so they keep seeing the case.
        for person in (request.user, data["lead"]):
            if person is not None and person not in team:
                team.append(person)
        try:
            case = intake.case_create(
                agency=request.agency,
                user=request.user,
                reference=data["reference"],
                title=data["title"],
                urgency=data["urgency"],
                team=team,
            )
        except intake.IntakeRejected as exc:  # e.g. the same reference created meanwhile
            form.add_error(None, str(exc))
        else:
            if data["lead"] is not None and case.lead_id != data["lead"].pk:
                # case_create makes the creator lead; a different lead is recorded here.
                with transaction.atomic():
                    case.lead = data["lead"]
                    case.save(update_fields=["lead"])
                    audit_record(
                        "case.updated",
                        agency=request.agency,
                        obj=case,
                        request=request,
                        data={"after": {"lead": case.lead.username}},
                    )
            messages.success(request, f"Case {case.reference} created.")
            return redirect("triage:case_detail", case=case.uuid)
    return render(request, "triage/cases/form.html", {"form": form, "case": None})


@agency_required(Role.INVESTIGATOR)
@require_http_methods(["GET"])
def case_detail(request, case):
    case = case_for(request, case)
    batches = list(selectors.case_batches(case)[:100])
    for batch in batches:
        batch.progress = intake.batch_progress(batch)
    counts = selectors.case_counts(case)
    return render(
        request,
        "triage/cases/detail.html",
        {
            "case": case,
            "batches": batches,
            "counts": counts,
            # A closed case has left the review queue (triage.review.selectors).
            "review_open": not case.is_closed and counts["awaiting"] > 0,
            "team": case.team.order_by("first_name", "username"),
            "may_close": may_close(request, case),
        },
    )


@agency_required(Role.INVESTIGATOR)
@require_http_methods(["GET", "POST"])
def case_edit(request, case):
    """Team, lead and urgency (closing and reopening: ``case_close``, ``case_reopen``)."""
    case = case_for(request, case)
    initial = {"urgency": case.urgency, "lead": case.lead_id, "team": list(case.team.all())}
    form = CaseForm(request.POST or None, agency=request.agency, case=case, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        before = {
            "urgency": case.urgency,
            "lead": case.lead.username if case.lead else None,
            "team": sorted(u.username for u in case.team.all()),
        }
        team = list(data["team"])
        if data["lead"] is not None and data["lead"] not in team:
            team.append(data["lead"])
        if not sees_all_cases(request) and request.user not in team:
            # An investigator cannot remove themself: they would lose the case mid-edit.
            team.append(request.user)
        with transaction.atomic():
            case.urgency = data["urgency"]
            case.lead = data["lead"]
            case.save(update_fields=["urgency", "lead"])
            case.team.set(team)
            audit_record(
                "case.updated",
                agency=request.agency,
                obj=case,
                request=request,
                data={
                    "before": before,
                    "after": {
                        "urgency": case.urgency,
                        "lead": case.lead.username if case.lead else None,
                        "team": sorted(u.username for u in team),
                    },
                },
            )
        messages.success(request, "Case updated.")
        return redirect("triage:case_detail", case=case.uuid)
    return render(request, "triage/cases/form.html", {"form": form, "case": case})


def may_close(request, case) -> bool:
    """Supervisors and admins, or the case lead, may close and reopen a case."""
    return sees_all_cases(request) or (case.lead_id is not None and case.lead_id == request.user.pk)


def _lifecycle(request, case, action, done: str):
    case = case_for(request, case)  # 404 for another agency's case or one not visible
    if not may_close(request, case):
        raise PermissionDenied("Only a supervisor or the case lead may do this.")
    try:
        action(case=case, user=request.user, request=request)
    except lifecycle.CaseStateUnchanged as exc:
        messages.info(request, str(exc))
    else:
        messages.success(request, done.format(ref=case.reference))
    return redirect("triage:case_detail", case=case.uuid)


@agency_required(Role.INVESTIGATOR)
@require_http_methods(["POST"])
def case_close(request, case):
    return _lifecycle(
        request, case, lifecycle.case_close, "Case {ref} closed: it has left the review queue."
    )


@agency_required(Role.INVESTIGATOR)
@require_http_methods(["POST"])
def case_reopen(request, case):
    return _lifecycle(
        request, case, lifecycle.case_reopen, "Case {ref} reopened: it is back in the queue."
    )


@agency_required(Role.INVESTIGATOR)
@require_http_methods(["GET"])
def case_summary(request, case):
    case = case_for(request, case)
    summary = lifecycle.case_summary(case)
    return render(
        request,
        "triage/cases/summary.html",
        {
            "case": case,
            "summary": summary,
            "matches": summary["matches"],
            "batches": list(selectors.case_batches(case)[:200]),
            "may_close": may_close(request, case),
        },
    )
