"""Screenshots of the supervisor and admin pages around the dashboard, each opened by the
persona who uses it, with some data (open tests/artifacts/page-*.png)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from hub.audit import audit_record
from tests.conftest import browser_login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world(demo_agency, other_agency, sam, ivan, iris, oscar):
    from tests.dashboard.conftest import build_world

    return build_world(demo_agency, [sam, ivan, iris], other_agency=other_agency, other_user=oscar)


def test_case_summary_page(page, live_server, world, sam):
    case = world.cases["urgent"]
    browser_login(page, live_server, sam)
    page.goto(live_server.url + reverse("triage:case_summary", kwargs={"case": case.uuid}))
    heading = page.locator("h1")
    assert "Summary" in heading.inner_text()
    assert case.reference in heading.inner_text()
    screenshot(page, "page-case-summary")


def test_hub_health_page(page, live_server, world, hugo):
    browser_login(page, live_server, hugo)
    page.goto(live_server.url + reverse("triage:hub_health"))
    assert page.locator("h1").inner_text().strip() == "Hub health"
    assert page.locator("#queues-title").is_visible()
    screenshot(page, "page-hub-health")


def test_agency_settings_page(page, live_server, demo_agency, alice):
    browser_login(page, live_server, alice)
    page.goto(live_server.url + reverse("hub:agency_settings"))
    assert page.locator("h1").inner_text().strip() == f"Settings of {demo_agency.name}"
    screenshot(page, "page-agency-settings")


def test_audit_log_page(page, live_server, world, demo_agency, alice, sam):
    for case in world.cases.values():
        audit_record("case.created", agency=demo_agency, actor=sam, obj=case)
    audit_record("agency.settings_changed", agency=demo_agency, actor=alice, data={"k": 1})
    browser_login(page, live_server, alice)
    page.goto(live_server.url + reverse("hub:audit_log"))
    assert page.locator("h1").inner_text().strip() == "Audit log"
    assert page.get_by_text("case.created").first.is_visible()
    screenshot(page, "page-audit-log")
