"""Login, lockout and invitation acceptance through a real browser (Debian's chromium)."""

from __future__ import annotations

import base64
import os

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from hub.models import Role
from hub.services import invitation_create
from tests.conftest import PASSWORD, screenshot

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
# synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = pytest.mark.browser


def _code_for(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def _password_step(page, live_server, username, password=PASSWORD):
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.check("#id_acknowledge")
    page.click("button[type=submit]")


def test_login_with_password_and_totp(page, live_server, transactional_db, ivan):
    _password_step(page, live_server, "ivan")
    page.wait_for_url("**/login/otp/")
    assert page.locator("h1").inner_text() == "Enter your code"
    page.fill("#id_code", _code_for(TOTPDevice.objects.get(user=ivan)))
    screenshot(page, "hub-login-otp")
    page.click("form button[type=submit] >> text=Verify")
    page.wait_for_url(f"{live_server.url}/")
    assert "Welcome, Ivan" in page.inner_text("h1")
    assert "Demo Police" in page.inner_text("[data-testid=agency-strip]")
    screenshot(page, "hub-home-investigator")


def test_lockout_after_five_failures(page, live_server, transactional_db, ivan):
    for attempt in range(5):
        _password_step(page, live_server, "ivan", "wrong password")
        if attempt < 4:
            assert "not correct" in page.inner_text("[role=alert]")
    assert page.locator("h1").inner_text() == "Account locked"
    _password_step(page, live_server, "ivan")  # the right password is refused too
    assert page.locator("h1").inner_text() == "Account locked"
    screenshot(page, "hub-locked")


def test_accept_invitation_and_enrol_totp(page, live_server, transactional_db, alice, demo_agency):
    issued = invitation_create(
        agency=demo_agency, email="nina@demo.test", role=Role.INVESTIGATOR, actor=alice
    )
    page.goto(f"{live_server.url}/invite/{issued.token}/")
    assert "Join Demo Police" in page.inner_text("h1")
    page.fill("#id_username", "nina")
    page.fill("#id_password1", "a long and unusual passphrase 42")
    page.fill("#id_password2", "a long and unusual passphrase 42")
    screenshot(page, "hub-invitation-accept")
    page.click("button[type=submit] >> text=Create my account")
    page.wait_for_url("**/login/")
    assert "Your account is ready" in page.inner_text(".messages")

    _password_step(page, live_server, "nina", "a long and unusual passphrase 42")
    page.wait_for_url("**/login/otp/")
    assert "Set up two-factor login" in page.inner_text("h1")
    secret = page.inner_text("[data-testid=totp-secret]")
    screenshot(page, "hub-enrol-totp")
    code = f"{totp(base64.b32decode(secret)):06d}"
    page.fill("#id_code", code)
    page.click("form button[type=submit] >> text=Verify")
    page.wait_for_url(f"{live_server.url}/")
    assert "Demo Police" in page.inner_text("[data-testid=agency-strip]")
    assert TOTPDevice.objects.get(user__username="nina").confirmed


def test_admin_users_page(page, live_server, transactional_db, alice, sam, ivan):
    from tests.conftest import browser_login

    browser_login(page, live_server, alice)
    page.goto(f"{live_server.url}/agency/users/")
    page.fill("#id_email", "new@demo.test")
    page.select_option("#id_role", "supervisor")
    page.click("button >> text=Create invitation link")
    link = page.input_value("[data-testid=invite-link]")
    assert "/invite/" in link
    screenshot(page, "hub-invitation-issued")
    page.goto(f"{live_server.url}/agency/users/")
    screenshot(page, "hub-agency-users")
