"""Routes of the exports area for the cross-agency walk. Builds its own Other Force case
with one finished export job: this module runs before "intake" (name order)."""

from __future__ import annotations

from tests.routes import Route


def build(world) -> None:
    from triage.models import Case, ExportJob

    world.export_case = Case.objects.create(
        agency=world.agency, reference="OF-EXPORT", title="Other Force export case",
        lead=world.admin, created_by=world.admin,
    )  # fmt: skip
    world.export = ExportJob.objects.create(
        agency=world.agency,
        case=world.export_case,
        created_by=world.admin,
        status=ExportJob.Status.DONE,
        progress=100,
        folder=f"{world.agency.uuid}/exports/walk",
    )


def _case(world):
    return {"case": world.export_case.uuid}


def _export(world):
    return {"export": world.export.uuid}


ROUTES = {
    "triage:export_list": Route(kwargs=_case, methods=("GET",)),
    "triage:export_create": Route(kwargs=_case, methods=("POST",)),
    "triage:export_detail": Route(kwargs=_export, methods=("GET",)),
    "triage:export_download": Route(kwargs=_export, methods=("GET",)),
    "triage:export_delete": Route(kwargs=_export, methods=("POST",)),
}
