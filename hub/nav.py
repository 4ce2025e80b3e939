"""The role-aware navigation. Entries whose route does not exist yet are left out.

An agency admin's pages (users, settings, models, audit log) sit under one "Admin"
disclosure (``<details>``, no script: the CSP forbids inline script, and none is needed to
open it by mouse or keyboard), so that an admin's bar fits on one line at 1280 px. An
operator's entries stay on top for an operator alone, and are grouped under "Hub" when the
operator also works in an agency (the bar would otherwise wrap again).

A hub operator publishes hub-wide hash lists and models. Their pages admit an operator who
has no active agency (``hashlist_access``, ``model_access``), whatever the agency role
minimum in ``NAV`` says, so those entries are offered to such an operator too
(``OPERATOR_ALSO``). An operator working in an agency is, on those pages, a member of it:
the entries follow the agency role there (offering them otherwise would lead to a 403)."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse

from hub.models import Role

ADMIN_GROUP = "Admin"
HUB_GROUP = "Hub"

# (label, url name, minimum role or "operator", group or None)
NAV = [
    ("Home", "hub:home", None, None),
    ("Cases", "triage:case_list", Role.INVESTIGATOR, None),
    ("Review", "triage:review", Role.INVESTIGATOR, None),
    ("Lookup", "triage:lookup", Role.INVESTIGATOR, None),
    ("Hash lists", "triage:hashlist_list", Role.SUPERVISOR, None),
    ("Dashboard", "triage:dashboard", Role.SUPERVISOR, None),
    ("Conflicts", "triage:review_conflicts", Role.SUPERVISOR, None),
    ("API", "triage:api_tokens", Role.INVESTIGATOR, None),
    ("Users", "hub:agency_users", Role.ADMIN, ADMIN_GROUP),
    ("Settings", "hub:agency_settings", Role.ADMIN, ADMIN_GROUP),
    ("Models", "triage:model_list", Role.ADMIN, ADMIN_GROUP),
    ("Audit log", "hub:audit_log", Role.ADMIN, ADMIN_GROUP),
    ("Agencies", "hub:operator_agencies", "operator", HUB_GROUP),
    ("Hub health", "triage:hub_health", "operator", HUB_GROUP),
]


# Pages that serve a hub operator without an agency (hub-wide hash lists and models).
OPERATOR_ALSO = frozenset({"triage:hashlist_list", "triage:model_list"})


def _allowed(request, membership, role) -> bool:
    if role == "operator":
        return bool(request.user.is_hub_operator)
    return role is None or (membership is not None and membership.has_role(role))


def nav_for(request) -> list[dict]:
    """Top-level entries in order: links ``{"label", "url", "active"}`` and groups
    ``{"label", "children": [links], "active"}`` (active: one of its links is)."""
    membership = getattr(request, "membership", None)
    entries: list[dict] = []
    groups: dict[str, dict] = {}
    operator_alone = membership is None and bool(getattr(request.user, "is_hub_operator", False))
    for label, name, role, group in NAV:
        if not _allowed(request, membership, role):
            if not (operator_alone and name in OPERATOR_ALSO):
                continue
            group = None  # a hub page for this operator, not an agency admin's
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        active = request.path == url or (url != "/" and request.path.startswith(url))
        link = {"label": label, "url": url, "active": active}
        if group == HUB_GROUP and membership is None:
            group = None  # an operator alone: few entries, keep them in sight
        if group is None:
            entries.append(link)
            continue
        if group not in groups:
            groups[group] = {"label": group, "children": [], "active": False}
            entries.append(groups[group])
        groups[group]["children"].append(link)
        groups[group]["active"] |= active
    return entries
