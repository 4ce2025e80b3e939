from django.conf import settings
from django.utils.functional import SimpleLazyObject

from hub.models import Membership, Role
from hub.nav import nav_for


def _memberships(request) -> list:
    if not request.user.is_authenticated:
        return []
    return list(
        Membership.objects.filter(
            user=request.user, is_active=True, agency__is_active=True
        ).select_related("agency")
    )


def hub(request):
    membership = getattr(request, "membership", None)
    # Read only by the agency switcher of the full page, not by htmx fragments: lazily.
    memberships = SimpleLazyObject(lambda: _memberships(request))
    return {
        "active_agency": getattr(request, "agency", None),
        "active_membership": membership,
        "user_memberships": memberships,
        "two_factor_disabled": not settings.HUB_REQUIRE_2FA,
        "is_admin": membership is not None and membership.has_role(Role.ADMIN),
        "is_supervisor": membership is not None and membership.has_role(Role.SUPERVISOR),
        "is_operator": request.user.is_authenticated and request.user.is_hub_operator,
        "nav": nav_for(request) if request.user.is_authenticated else [],
    }
