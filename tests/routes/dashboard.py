"""Routes of the dashboard area (supervisor dashboard, case close/reopen/summary, hub
health) for the cross-agency walk. Builds its own Other Force case: this module runs
before "intake" (modules are walked in name order)."""

from __future__ import annotations

from tests.routes import Route


def build(world) -> None:
    from triage.models import Case

    world.dash_case = Case.objects.create(
        agency=world.agency, reference="OF-DASH", title="Other Force dashboard case",
        lead=world.admin, created_by=world.admin,
    )  # fmt: skip


def _case(world):
    return {"case": world.dash_case.uuid}


ROUTES = {
    "triage:dashboard": Route(role="supervisor", methods=("GET",)),
    "triage:case_summary": Route(kwargs=_case, methods=("GET",)),
    "triage:case_close": Route(kwargs=_case, methods=("POST",)),
    "triage:case_reopen": Route(kwargs=_case, methods=("POST",)),
    "triage:hub_health": Route(role="operator", methods=("GET",)),
}

OPERATOR_ALLOWED = {"triage:hub_health"}
