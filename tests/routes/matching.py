"""Routes of the matching area (hash lists and lookup) for the cross-agency walk."""

from __future__ import annotations

from tests.routes import Route


def build(world) -> None:
    from triage.matching.importers import import_bytes
    from triage.matching.lists import hashlist_create

    world.hash_list = hashlist_create(agency=world.agency, user=world.admin, name="Other list")
    import_bytes(world.hash_list, ("ab" * 16 + "\n").encode(), "text")


def _list(world):
    return {"hashlist": world.hash_list.uuid}


# A hub operator with no agency manages hub-wide lists on these routes (no object in
# the URL); another agency's list must still answer 404 to them.
OPERATOR_ALLOWED = {"triage:hashlist_list", "triage:hashlist_create"}

ROUTES = {
    "triage:hashlist_list": Route(role="supervisor", methods=("GET",)),
    "triage:hashlist_create": Route(role="admin"),
    # Builds a list from the caller's own agency's decisions: no object in the URL; a hub
    # operator (no agency) is refused.
    "triage:hashlist_from_decisions": Route(role="admin", methods=("GET", "POST")),
    "triage:hashlist_detail": Route(kwargs=_list, role="supervisor", methods=("GET",)),
    "triage:hashlist_edit": Route(kwargs=_list, role="admin", methods=("POST",)),
    "triage:hashlist_share": Route(kwargs=_list, role="admin", methods=("POST",)),
    "triage:hashlist_tombstone": Route(kwargs=_list, role="admin", methods=("POST",)),
    "triage:hashlist_import": Route(kwargs=_list, role="admin"),
    "triage:hashlist_export": Route(kwargs=_list, role="supervisor", methods=("GET",)),
    "triage:lookup": Route(
        role="investigator",
        notes="A hub operator without an agency is redirected to home (no agency data).",
    ),
}
