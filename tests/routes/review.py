"""Routes of the review area for the cross-agency walk."""

from __future__ import annotations

from tests.routes import Route


def build(world) -> None:
    from tests.review.helpers import World

    other = World(world.agency, user=world.admin, reference="OF-REVIEW", team=(world.admin,))
    world.review_case = other.case
    world.review_item = other.item(name="other-review.png")
    # A playable video of Other Force: another agency's reviewer must get a 404.
    world.review_video = other.video(name="other-review.webm")
    world.review_decision = other.item(name="other-decided.png").decisions.create(
        agency=world.agency, reviewer=world.admin, category="0"
    )


def _item(world):
    return {"item": world.review_item.uuid}


ROUTES = {
    "triage:review": Route(methods=("GET",)),
    "triage:review_case": Route(kwargs=lambda w: {"case": w.review_case.uuid}, methods=("GET",)),
    "triage:review_conflicts": Route(role="supervisor", methods=("GET",)),
    "triage:review_preferences": Route(methods=("POST",)),
    "triage:review_decide": Route(kwargs=_item, methods=("POST",)),
    "triage:review_group": Route(kwargs=_item, methods=("GET",)),
    "triage:review_split": Route(kwargs=_item, methods=("POST",)),
    "triage:review_exposure": Route(kwargs=_item, methods=("POST",)),
    "triage:review_video": Route(kwargs=lambda w: {"item": w.review_video.uuid}),
    "triage:review_add_to_list": Route(kwargs=_item, role="supervisor", methods=("POST",)),
    "triage:review_undo": Route(
        kwargs=lambda w: {"decision": w.review_decision.uuid}, methods=("POST",)
    ),
}
