"""Role checks of the API: the caller's membership in the request's agency must have the
view's ``required_role`` (or, per HTTP method, ``required_roles[method]``)."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from hub.models import Role


def required_role_for(view, method: str) -> str:
    roles = getattr(view, "required_roles", None) or {}
    return roles.get(method, getattr(view, "required_role", Role.INVESTIGATOR))


class HasAgencyRole(BasePermission):
    message = "Your role in this agency does not allow this."

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        membership = getattr(request, "membership", None)
        if membership is None:
            self.message = "You are not an active member of an agency: the API acts for one."
            return False
        role = required_role_for(view, request.method)
        if not membership.has_role(role):
            self.message = f"This needs the {Role(role).label.lower()} role in your agency."
            return False
        return True
