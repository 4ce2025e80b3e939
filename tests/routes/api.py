"""Routes of the REST API and its token page, for the cross-agency walk.

Builders run in module-name order and "api" sorts first, so the case, batch and item of
Other Force (built by tests/routes/intake.py) are read lazily when the URL is built; the
hash list, its import and the token are built here."""

from __future__ import annotations

from tests.routes import Route


def build(world) -> None:
    from triage.api.tokens import api_token_create
    from triage.models import HashList
    from triage.models.matching import HashImport

    world.api_token, _ = api_token_create(
        user=world.admin, agency=world.agency, name="walk", lifetime_days=30
    )
    world.api_hash_list = HashList.objects.create(agency=world.agency, name="Other API list")
    world.api_hash_import = HashImport.objects.create(
        hash_list=world.api_hash_list, file_name="x.txt", storage_path="", format="text"
    )


def _case(w):
    return {"case": w.case.uuid}


def _batch(w):
    return {"batch": w.batch.uuid}


def _item(w):
    return {"item": w.item.uuid}


def _list(w):
    return {"hashlist": w.api_hash_list.uuid}


GET = ("GET",)
POST = ("POST",)

ROUTES = {
    "triage:api_cases": Route(api=True),
    "triage:api_case": Route(kwargs=_case, methods=GET, api=True),
    "triage:api_case_batches": Route(kwargs=_case, api=True),
    "triage:api_case_items": Route(kwargs=_case, methods=GET, api=True),
    "triage:api_batches": Route(methods=GET, api=True),
    "triage:api_batch": Route(kwargs=_batch, methods=GET, api=True),
    "triage:api_batch_files": Route(kwargs=_batch, methods=POST, api=True),
    "triage:api_batch_submit": Route(kwargs=_batch, methods=POST, api=True),
    "triage:api_batch_items": Route(kwargs=_batch, methods=GET, api=True),
    "triage:api_item": Route(kwargs=_item, methods=GET, api=True),
    "triage:api_item_decisions": Route(kwargs=_item, methods=POST, api=True),
    "triage:api_lookup": Route(methods=POST, api=True),
    "triage:api_hashlists": Route(role="supervisor", methods=GET, api=True),
    "triage:api_hashlist_imports": Route(kwargs=_list, role="admin", methods=POST, api=True),
    "triage:api_hashlist_import": Route(
        kwargs=lambda w: {**_list(w), "hashimport": w.api_hash_import.uuid},
        role="admin",
        methods=GET,
        api=True,
    ),
    "triage:api_hashlist_export": Route(kwargs=_list, role="admin", methods=GET, api=True),
    # Other Force's case and finished export are built by tests/routes/exports.py.
    "triage:api_case_exports": Route(kwargs=lambda w: {"case": w.export_case.uuid}, api=True),
    "triage:api_export": Route(
        kwargs=lambda w: {"export": w.export.uuid}, methods=("GET", "DELETE"), api=True
    ),
    "triage:api_export_download": Route(
        kwargs=lambda w: {"export": w.export.uuid}, methods=GET, api=True
    ),
    "triage:api_schema": Route(methods=GET, api=True),
    "triage:api_docs": Route(methods=GET),
    "triage:api_tokens": Route(),
    "triage:api_token_revoke": Route(kwargs=lambda w: {"token": w.api_token.uuid}, methods=POST),
}
