"""A screenshot of the dashboard with data (open tests/artifacts/dashboard.png)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.conftest import browser_login, screenshot


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_dashboard_screenshot(page, live_server, demo_agency, other_agency, sam, ivan, iris, oscar):
    from tests.dashboard.conftest import build_world

    build_world(demo_agency, [sam, ivan, iris], other_agency=other_agency, other_user=oscar)
    browser_login(page, live_server, sam)
    page.goto(live_server.url + reverse("triage:dashboard"))
    assert page.locator("#chart-flow").is_visible()
    assert page.get_by_test_id("table-cases").is_visible()
    page.locator("details.chart-table summary").first.click()
    screenshot(page, "dashboard")
