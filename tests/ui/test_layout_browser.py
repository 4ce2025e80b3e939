"""Layout in a real browser: the admin's bar keeps one row at 1024 px, and the case and
batch pages do not scroll sideways on a phone (their tables scroll in their own box).
Screenshots: tests/artifacts/ui-<page>-<width>.png."""

from __future__ import annotations

import os

import pytest
from django.urls import reverse

from triage.models import ItemStatus, ReviewState

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _open(browser, live_server, user, url, width, height):
    from tests.conftest import browser_login

    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(10_000)
    browser_login(page, live_server, user)
    page.goto(live_server.url + url)
    return context, page


def test_admin_bar_keeps_one_row_at_1024(browser, live_server, alice, case):
    from tests.conftest import ARTIFACTS

    os.makedirs(ARTIFACTS, exist_ok=True)
    context, page = _open(
        browser,
        live_server,
        alice,
        reverse("triage:case_detail", kwargs={"case": case.uuid}),
        1024,
        768,
    )
    boxes = [page.locator(sel).bounding_box() for sel in (".brand", ".userbox")] + [
        li.bounding_box() for li in page.locator("ul.nav > li").all()
    ]
    centres = [b["y"] + b["height"] / 2 for b in boxes]
    page.screenshot(path=os.path.join(ARTIFACTS, "ui-case-1024.png"))
    assert max(centres) - min(centres) < 8, centres
    # The agency and role left the bar for the strip, which names both.
    assert "Demo Police" in page.inner_text("[data-testid=agency-strip]")
    assert "admin" in page.inner_text("[data-testid=agency-strip]")
    context.close()


def test_case_and_batch_pages_fit_a_phone(browser, live_server, ivan, case, batch, make_item):
    from tests.conftest import ARTIFACTS

    os.makedirs(ARTIFACTS, exist_ok=True)
    for n in range(3):
        make_item(
            f"exhibit.zip/DCIM/a-rather-long-folder-name/photo-{n}.jpg",
            status=ItemStatus.DONE,
            stage="prioritise",
            media_type="image/jpeg",
            size=123456,
            review_state=ReviewState.QUEUED,
        )
    pages = {
        "cases": reverse("triage:case_list"),
        "case": reverse("triage:case_detail", kwargs={"case": case.uuid}),
        "batch": reverse("triage:batch_detail", kwargs={"batch": batch.uuid}),
        "summary": reverse("triage:case_summary", kwargs={"case": case.uuid}),
    }
    for name, url in pages.items():
        context, page = _open(browser, live_server, ivan, url, 390, 844)
        page.screenshot(path=os.path.join(ARTIFACTS, f"ui-{name}-390.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, name
        context.close()
