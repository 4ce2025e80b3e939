"""The audit log reads as words: details as "key: value", cases by reference, team
members by name; and an admin sees the sign-ins of the agency's people."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from hub.audit import audit_record
from tests.hub.helpers import events, post_login

pytestmark = pytest.mark.django_db


def _case_with_batch(agency, user, team, reference):
    from triage.services.intake import batch_create, case_create

    case = case_create(agency=agency, user=user, reference=reference, title="t", team=team)
    batch_create(case=case, user=user, exhibit_ref="EX-1")
    return case


def test_details_are_readable_with_references_resolved(client_for, alice, ivan, iris, demo_agency):
    case = _case_with_batch(demo_agency, alice, [ivan, iris], "REF-4711")
    audit_record(
        "agency.settings_changed",
        agency=demo_agency,
        actor=alice,
        obj=demo_agency,
        data={
            "changes": {
                "lease_seconds": {"old": 300, "new": 600},
                "blur_default": {"old": True, "new": False},
            }
        },
    )
    response = client_for(alice).get(reverse("hub:audit_log"))
    body = response.content.decode()
    assert "{&#x27;" not in body and "{'" not in body  # no Python dict repr
    assert str(case.uuid) not in body  # named by its reference instead
    created = next(e for e in response.context["page"].object_list if e.action == "case.created")
    details = {label: text for label, text, _ in created.details}
    assert details["reference"] == "REF-4711"
    assert details["team"] == f"{ivan.username}, {iris.username}" or details["team"] == (
        f"{iris.username}, {ivan.username}"
    )
    assert created.object_label == "REF-4711"
    batch = next(e for e in response.context["page"].object_list if e.action == "batch.created")
    assert {label: text for label, text, _ in batch.details}["case"] == "REF-4711"
    settings = next(
        e for e in response.context["page"].object_list if e.action == "agency.settings_changed"
    )
    rows = {label: text for label, text, _ in settings.details}
    assert rows == {"lease seconds": "300 → 600", "blur default": "yes → no"}


def test_references_are_resolved_in_a_fixed_number_of_queries(
    client_for, alice, ivan, iris, demo_agency
):
    client = client_for(alice)
    _case_with_batch(demo_agency, alice, [ivan], "Q-1")
    client.get(reverse("hub:audit_log"))  # warm the session and caches
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("hub:audit_log"))
    for i in range(2, 8):
        _case_with_batch(demo_agency, alice, [ivan, iris], f"Q-{i}")
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("hub:audit_log"))
    assert len(many.captured_queries) == len(few.captured_queries)


def test_another_agencys_case_is_not_named(client_for, alice, otto, demo_agency, other_agency):
    theirs = _case_with_batch(other_agency, otto, [], "THEIR-SECRET")
    audit_record("case.viewed", agency=demo_agency, actor=alice, data={"case": str(theirs.uuid)})
    body = client_for(alice).get(reverse("hub:audit_log")).content.decode()
    assert "THEIR-SECRET" not in body


def test_login_of_an_agency_member_is_in_the_agency_log(client, client_for, alice, ivan, settings):
    settings.HUB_REQUIRE_2FA = False
    response = post_login(client, "ivan")
    assert response.status_code == 302
    page = client_for(alice).get(reverse("hub:audit_log"), {"action": "auth.login"})
    logins = [e for e in page.context["page"].object_list if e.action == "auth.login"]
    assert [e.actor_label for e in logins] == ["ivan"]
    assert "auth.login" in page.content.decode()
    assert events(None, "auth.login").count() == 1  # the hub chain keeps its record


def test_login_with_the_second_factor_is_in_the_agency_log(client, alice, ivan, demo_agency):
    assert post_login(client, "ivan").url == reverse("hub:login_otp")
    assert not events(demo_agency, "auth.login").exists()  # not in before the second step
    assert client.post(reverse("hub:login_otp"), {"code": _code(ivan)}).status_code == 302
    assert events(demo_agency, "auth.login").get().actor == ivan
    assert events(None, "auth.login").count() == 1


def test_a_wrong_second_factor_code_is_in_the_agency_log(client, ivan, demo_agency):
    post_login(client, "ivan")
    wrong = f"{(int(_code(ivan)) + 1) % 1_000_000:06d}"
    client.post(reverse("hub:login_otp"), {"code": wrong})
    assert events(demo_agency, "auth.2fa_failed").get().actor == ivan
    assert events(None, "auth.2fa_failed").count() == 1


def _code(user) -> str:
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user=user, confirmed=True)
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def test_operator_and_unknown_logins_stay_in_the_hub_chain(client, hugo, demo_agency, settings):
    settings.HUB_REQUIRE_2FA = False
    assert post_login(client, "hugo").status_code == 302
    client.logout()
    post_login(client, "mallory", "wrong")
    assert events(None, "auth.login").get().actor == hugo
    assert events(None, "auth.login_failed").exists()
    assert not events(demo_agency).exists()


def test_other_agency_does_not_see_the_login(client, client_for, ivan, otto, settings):
    settings.HUB_REQUIRE_2FA = False
    post_login(client, "ivan")
    page = client_for(otto).get(reverse("hub:audit_log"))
    assert all(e.actor_label != "ivan" for e in page.context["page"].object_list)
