"""The cross-agency route walk registry (walked by tests/test_route_walk.py).

Every named URL pattern of the project MUST be registered in exactly one module of this
package, or the walk fails. Each module ``tests/routes/<area>.py`` defines:

    def build(world) -> None:
        # Create this area's objects inside ``world.agency`` ("Other Force") and attach
        # them to ``world`` (e.g. ``world.case = Case.objects.create(...)``). ``world.admin``
        # is Other Force's admin user. Runs after the builders of modules sorted before it
        # ("hub" < "intake" < "matching" < "classifier" < "review"); use what they made.

    ROUTES = {
        "triage:batch_detail": Route(kwargs=lambda w: {"batch": w.batch.uuid}),
        "triage:case_create": Route(role="investigator"),   # no object in the URL
        "hub:login": Route(public=True),
    }

``Route`` fields: ``kwargs`` (builder of the URL kwargs pointing at Other Force's
objects; None when the URL has no object), ``role`` (minimum role: "investigator",
"supervisor", "admin" or "operator"), ``methods`` (what the walk sends, default
("GET", "POST")), ``public`` (reachable logged out, e.g. login pages; not walked for
isolation), ``api`` (a DRF route).

The walk, as each Demo Police role and as the hub operator, asserts:
- a route with ``kwargs`` never answers 2xx/3xx-to-success for another agency's object:
  404 (or 403 for an insufficient role, 405 for a method the route does not allow);
- a route below the caller's role answers 403 (or 404/405), never 2xx;
- logged-out callers are redirected to login (or 401/403 for the API).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Route:
    kwargs: Callable | None = None
    role: str = "investigator"
    methods: tuple = ("GET", "POST")
    public: bool = False
    api: bool = False
    notes: str = field(default="")
