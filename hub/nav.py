"""The role-aware navigation. Entries whose route does not exist yet are left out."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse

from hub.models import Role

# (label, url name, minimum role or "operator")
NAV = [
    ("Home", "hub:home", None),
    ("Cases", "triage:case_list", Role.INVESTIGATOR),
    ("Review", "triage:review", Role.INVESTIGATOR),
    ("Lookup", "triage:lookup", Role.INVESTIGATOR),
    ("Hash lists", "triage:hashlist_list", Role.SUPERVISOR),
    ("Dashboard", "triage:dashboard", Role.SUPERVISOR),
    ("Conflicts", "triage:review_conflicts", Role.SUPERVISOR),
    ("Models", "triage:model_list", Role.ADMIN),
    ("Users", "hub:agency_users", Role.ADMIN),
    ("Settings", "hub:agency_settings", Role.ADMIN),
    ("Audit log", "hub:audit_log", Role.ADMIN),
    ("API", "triage:api_tokens", Role.INVESTIGATOR),
    ("Agencies", "hub:operator_agencies", "operator"),
    ("Hub health", "triage:hub_health", "operator"),
]


def nav_for(request) -> list[dict]:
    items = []
    membership = getattr(request, "membership", None)
    for label, name, role in NAV:
        if role == "operator":
            if not request.user.is_hub_operator:
                continue
        elif role is not None and (membership is None or not membership.has_role(role)):
            continue
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        active = request.path == url or (url != "/" and request.path.startswith(url))
        items.append({"label": label, "url": url, "active": active})
    return items
