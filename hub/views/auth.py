"""Login in two steps: password (with the acknowledgement banner), then a TOTP code.

The user is logged in after the password step but is not *verified*; every protected
view requires verification (``hub.access``), so until the TOTP step nothing is reachable."""

from __future__ import annotations

import base64

import segno
from django import forms
from django.conf import settings
from django.contrib import auth, messages
from django.db import transaction
from django.middleware.csrf import rotate_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from hub.audit import audit_record_for_person
from hub.models import Membership
from hub.throttle import PasswordChecksBusy, ip_throttled, note_ip_failure, password_check_slot

ACK_TEXT = (
    "This system holds evidence of crimes against children. Access is restricted to "
    "authorised personnel for official investigations. Every action, including every "
    "view of evidence, is recorded and audited."
)


class LoginForm(forms.Form):
    username = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autofocus": True}))
    password = forms.CharField(widget=forms.PasswordInput)
    acknowledge = forms.BooleanField(label="I understand and accept these terms", required=True)


class OTPForm(forms.Form):
    code = forms.RegexField(
        regex=r"^\d{6}$",
        max_length=6,
        label="Six-digit code from your authenticator app",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


def _audit_sign_in(action: str, user, request, data: dict | None = None) -> None:
    """Record a sign-in event (login, logout, second factor) in the hub chain and in the
    chain of every agency where the user is an active member, so each agency admin reads
    the logins of their own people in the audit log, as they read failed logins
    (``hub.throttle._audit_failure``). Every agency, not only the one the user lands in:
    they may switch agency at once. A hub operator without membership is in the hub chain
    only."""
    agencies = [
        m.agency
        for m in Membership.objects.filter(
            user=user, is_active=True, agency__is_active=True
        ).select_related("agency")
    ]
    audit_record_for_person(action, agencies=agencies, actor=user, request=request, data=data)


def _safe_next(request) -> str:
    nxt = request.POST.get("next") or request.GET.get("next") or ""
    if nxt and url_has_allowed_host_and_scheme(nxt, {request.get_host()}, require_https=False):
        return nxt
    return reverse("hub:home")


@require_http_methods(["GET", "POST"])
def login_view(request):
    if request.user.is_authenticated and getattr(request.user, "is_verified", lambda: False)():
        return redirect("hub:home")
    form = LoginForm(request.POST or None)
    error = None
    status = 200
    if request.method == "POST":
        if ip_throttled(request):
            error = "Too many failed logins from this address. Wait a few minutes and try again."
        elif form.is_valid():
            try:
                with password_check_slot():
                    user = auth.authenticate(
                        request,
                        username=form.cleaned_data["username"],
                        password=form.cleaned_data["password"],
                    )
            except PasswordChecksBusy:
                error = "The hub is busy checking other sign-ins. Try again in a few seconds."
                status = 503
            else:
                if getattr(request, "axes_locked_out", False):
                    return lockout_response(
                        request, None, {"username": form.cleaned_data["username"]}
                    )
                if user is None:
                    note_ip_failure(request)
                    error = "Your username or password is not correct."
                elif not user.is_active:
                    error = "This account is deactivated. Ask your agency admin."
                else:
                    return _logged_in(request, user)
    response = render(
        request,
        "hub/login.html",
        {"form": form, "error": error, "ack_text": ACK_TEXT, "next": request.GET.get("next", "")},
        status=status,
    )
    if status == 503:
        response["Retry-After"] = "5"
    return response


def _logged_in(request, user):
    """The password step passed: on to the second factor (or, in the demo without it, in)."""
    auth.login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session["next_after_otp"] = _safe_next(request)
    if not settings.HUB_REQUIRE_2FA:
        _audit_sign_in("auth.login", user, request, {"second_factor": "disabled (demo)"})
        return redirect(request.session.pop("next_after_otp"))
    return redirect("hub:login_otp")


def lockout_response(request, response=None, credentials=None, *args, **kwargs):
    username = (credentials or {}).get("username", "")
    return render(request, "hub/locked.html", {"username": username}, status=403)


@require_http_methods(["GET", "POST"])
def login_otp_view(request):
    """Second step: verify a TOTP code, or enrol a first device."""
    user = request.user
    if not user.is_authenticated:
        return redirect("hub:login")
    if not settings.HUB_REQUIRE_2FA or user.is_verified():
        return redirect("hub:home")
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    enrolling = device is None
    if enrolling:
        device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    form = OTPForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["code"]):
            with transaction.atomic():
                if enrolling:
                    device.confirmed = True
                    device.save(update_fields=["confirmed"])
                    _audit_sign_in("auth.2fa_enrolled", user, request)
                otp_login(request, device)
                # The session just gained the second factor: give it a new id (and a new
                # CSRF token), as auth.login does at the password step, so an id seen
                # before this step (half logged in) is worth nothing afterwards.
                request.session.cycle_key()
                rotate_token(request)
                _audit_sign_in("auth.login", user, request)
            return redirect(request.session.pop("next_after_otp", reverse("hub:home")))
        note_ip_failure(request)
        _audit_sign_in("auth.2fa_failed", user, request)
        error = "That code is not correct. Codes change every 30 seconds."
    context = {"form": form, "error": error, "enrolling": enrolling}
    if enrolling:
        uri = device.config_url
        qr = segno.make(uri, error="m")
        context["qr_data_uri"] = qr.svg_data_uri(scale=5)
        context["secret_b32"] = base64.b32encode(device.bin_key).decode()
    return render(request, "hub/login_otp.html", context)


@require_POST
def logout_view(request):
    user = request.user if request.user.is_authenticated else None
    if user is not None:
        _audit_sign_in("auth.logout", user, request)
    auth.logout(request)
    messages.info(request, "You are logged out.")
    return redirect("hub:login")
