"""Accepting an invitation (public: the token in the URL is the credential).

A new person chooses a username and password here and enrols their authenticator at the
first login; a person who is already logged in joins the invitation's agency."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from hub import services
from hub.access import two_factor_satisfied
from hub.forms import AcceptNewUserForm
from hub.middleware import SESSION_AGENCY_KEY


@never_cache
@require_http_methods(["GET", "POST"])
def invitation_accept(request, token):
    invitation = services.invitation_for_token(token)
    if invitation is None:
        return render(request, "hub/invitation_invalid.html", {"reason": "not valid"}, status=404)
    if not invitation.is_usable or not invitation.agency.is_active:
        if invitation.accepted_at:
            reason = "already used"
        elif invitation.revoked_at:
            reason = "revoked"
        elif not invitation.agency.is_active:
            reason = "for a suspended agency"
        else:
            reason = "expired"
        return render(request, "hub/invitation_invalid.html", {"reason": reason}, status=410)

    existing = request.user.is_authenticated
    if existing and not two_factor_satisfied(request.user):
        request.session["next_after_otp"] = request.path
        return redirect("hub:login_otp")

    form = None if existing else AcceptNewUserForm(request.POST or None)
    if request.method == "POST":
        try:
            if existing:
                membership = services.invitation_accept_existing_user(
                    token=token, user=request.user, request=request
                )
                request.session[SESSION_AGENCY_KEY] = str(membership.agency.uuid)
                messages.success(request, f"You joined {membership.agency.name}.")
                return redirect("hub:home")
            if form.is_valid():
                services.invitation_accept_new_user(
                    token=token,
                    username=form.cleaned_data["username"],
                    password=form.cleaned_data["password1"],
                    request=request,
                )
                messages.success(
                    request,
                    "Your account is ready. Log in now and set up your authenticator app.",
                )
                return redirect("hub:login")
        except ValidationError as exc:  # the password validators
            form.add_error("password1", exc)
        except services.ServiceError as exc:
            messages.error(request, str(exc))
            return redirect(reverse("hub:invitation_accept", args=[token]))
    return render(
        request,
        "hub/invitation_accept.html",
        {
            "invitation": invitation,
            "form": form,
            "existing": existing,
            "login_url": f"{reverse('hub:login')}?next={request.path}",
        },
    )
