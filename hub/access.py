"""The tenancy chokepoint. Request code loads agency-owned objects ONLY through these
helpers: another agency's object is a 404 (its existence is not revealed), a role that
is not enough is a 403.

``ActiveAgencyMiddleware`` sets ``request.agency`` and ``request.membership`` from the
session; views declare the role they need with ``@agency_required(Role.X)``."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect

from hub.models import ROLE_RANK, Role


def two_factor_satisfied(user) -> bool:
    if not settings.HUB_REQUIRE_2FA:
        return True
    return bool(getattr(user, "is_verified", lambda: False)())


def agency_required(role: str = Role.INVESTIGATOR):
    """Login + second factor + an active membership of the active agency with ``role``."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect(f"{settings.LOGIN_URL_PATH}?next={request.path}")
            if not two_factor_satisfied(request.user):
                return redirect("hub:login_otp")
            membership = getattr(request, "membership", None)
            if membership is None:
                hint = (
                    " Hub pages are under Agencies and Hub health."
                    if request.user.is_hub_operator
                    else " Ask an agency admin for an invitation."
                )
                messages.info(request, "That page belongs to an agency and you have none." + hint)
                return redirect("hub:home")
            if not membership.has_role(role):
                raise PermissionDenied("Your role in this agency does not allow this.")
            return view(request, *args, **kwargs)

        wrapper.required_role = role
        return wrapper

    return decorator


def operator_required(view):
    """Hub operators only (platform administration, not agency data)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect(f"{settings.LOGIN_URL_PATH}?next={request.path}")
        if not two_factor_satisfied(request.user):
            return redirect("hub:login_otp")
        if not request.user.is_hub_operator:
            raise PermissionDenied("Only hub operators may do this.")
        return view(request, *args, **kwargs)

    wrapper.required_role = "operator"
    return wrapper


def has_role(request, role: str) -> bool:
    membership = getattr(request, "membership", None)
    return membership is not None and membership.has_role(role)


def scoped(request, queryset, field: str = "agency"):
    """Restrict any queryset to the active agency."""
    agency = getattr(request, "agency", None)
    if agency is None:
        return queryset.none()
    return queryset.filter(**{field: agency})


def get_scoped_or_404(request, queryset, field: str = "agency", **lookup):
    """Load one object of the active agency, or 404 (also for other agencies' objects)."""
    try:
        return scoped(request, queryset, field).get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found") from None
    except queryset.model.MultipleObjectsReturned:
        raise Http404("Not found") from None


def role_rank(role: str) -> int:
    return ROLE_RANK[role]
