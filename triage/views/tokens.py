"""The API tokens page: create (the token is shown once), list and revoke your tokens for
the active agency. Every change is audited (``triage.api.tokens``)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from hub.access import agency_required
from hub.models import Role
from triage.api import tokens as token_service
from triage.api.tokens import TokenError
from triage.models.api import ApiToken

LIFETIMES = [(30, "30 days"), (90, "90 days"), (365, "1 year")]


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What will use it, e.g. “forensic workstation 3”."
    )
    lifetime_days = forms.TypedChoiceField(
        choices=LIFETIMES, coerce=int, initial=90, label="Expires after"
    )


def _my_tokens(request):
    return ApiToken.objects.filter(user=request.user, agency=request.agency)


@agency_required(Role.INVESTIGATOR)
@require_http_methods(["GET", "POST"])
def api_tokens(request):
    form = TokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        try:
            _, new_token = token_service.api_token_create(
                user=request.user,
                agency=request.agency,
                name=form.cleaned_data["name"],
                lifetime_days=form.cleaned_data["lifetime_days"],
                request=request,
            )
        except TokenError as exc:
            form.add_error(None, str(exc))
        else:
            form = TokenForm()
    return render(
        request,
        "triage/tokens/list.html",
        {"form": form, "tokens": _my_tokens(request), "new_token": new_token},
        status=400 if request.method == "POST" and new_token is None else 200,
    )


@agency_required(Role.INVESTIGATOR)
@require_POST
def api_token_revoke(request, token):
    try:
        token = _my_tokens(request).get(uuid=token)
    except (ApiToken.DoesNotExist, ValueError):
        raise Http404("Not found") from None
    if token_service.api_token_revoke(token=token, user=request.user, request=request):
        messages.success(request, f"Token “{token.name}” revoked: it no longer works.")
    return redirect("triage:api_tokens")
