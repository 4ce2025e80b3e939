"""The main navigation: role-aware, admin entries grouped under one "Admin" disclosure so
the bar fits on one line at 1280 px, every entry reachable by keyboard, the current page
marked. Screenshots: tests/artifacts/nav-<persona>-<width>.png."""

from __future__ import annotations

import os
import re

import pytest
from django.test import RequestFactory
from django.urls import reverse

from hub.nav import ADMIN_GROUP, nav_for

ADMIN_ENTRIES = {
    "Users": "hub:agency_users",
    "Settings": "hub:agency_settings",
    "Models": "triage:model_list",
    "Audit log": "hub:audit_log",
}


def _flat(entries):
    for e in entries:
        if e.get("children"):
            yield from e["children"]
        else:
            yield e


def _nav(user, path="/"):
    from hub.models import Membership

    request = RequestFactory().get(path)
    request.user = user
    request.membership = Membership.objects.filter(user=user, is_active=True).first()
    return nav_for(request)


def test_admin_entries_are_grouped_for_an_admin(alice):
    nav = _nav(alice)
    groups = [e for e in nav if e.get("children")]
    assert [g["label"] for g in groups] == [ADMIN_GROUP]
    assert {c["label"] for c in groups[0]["children"]} == set(ADMIN_ENTRIES)
    top = [e["label"] for e in nav if not e.get("children")]
    assert not set(top) & set(ADMIN_ENTRIES)  # not twice


def test_supervisor_and_investigator_see_no_admin_group(sam, ivan):
    for user in (sam, ivan):
        labels = {e["label"] for e in _nav(user)}
        assert ADMIN_GROUP not in labels
        assert not labels & set(ADMIN_ENTRIES)
    assert "Dashboard" in {e["label"] for e in _nav(sam)}
    assert "Dashboard" not in {e["label"] for e in _nav(ivan)}


def test_active_page_marks_the_entry_and_its_group(alice):
    nav = _nav(alice, reverse("hub:audit_log"))
    group = next(e for e in nav if e.get("children"))
    assert group["active"]
    active = [e["label"] for e in _flat(nav) if e["active"]]
    assert active == ["Audit log"]
    assert not next(e for e in _nav(alice, "/") if e.get("children"))["active"]


def test_admin_entries_are_reachable_from_the_rendered_nav(alice, client_for):
    """Every admin entry is a link in the page's nav (inside the disclosure) and opens."""
    c = client_for(alice)
    page = c.get(reverse("hub:agency_settings")).content.decode()
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', page, re.S).group(1)
    disclosure = re.search(r"<details[^>]*>(.*?)</details>", nav, re.S).group(1)
    assert "<summary" in disclosure and ADMIN_GROUP in disclosure
    for label, name in ADMIN_ENTRIES.items():
        url = reverse(name)
        assert f'href="{url}"' in disclosure, label
        assert c.get(url).status_code == 200, label
    # The current page is marked inside the group, and the group itself shows it.
    assert re.search(
        rf'href="{reverse("hub:agency_settings")}"[^>]*aria-current="page"', disclosure
    )
    assert re.search(r'<details class="nav-group[^"]*is-active', nav)


def test_operator_entries_stay_on_top_for_an_operator(hugo):
    labels = [e["label"] for e in _nav(hugo)]
    assert "Agencies" in labels and "Hub health" in labels


# --- Browser: fits on one line, keyboard, screenshots ---------------------------------


def _persona_page(name):
    return {
        "alice": "hub:audit_log",
        "sam": "triage:dashboard",
        "ivan": "triage:case_list",
        "hugo": "triage:hub_health",
    }[name]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_nav_fits_and_works_by_keyboard(browser, live_server, alice, sam, ivan, hugo):
    from tests.conftest import ARTIFACTS, browser_login

    os.makedirs(ARTIFACTS, exist_ok=True)
    people = {"alice": alice, "sam": sam, "ivan": ivan, "hugo": hugo}
    for width, height in ((1280, 800), (390, 844)):
        for name, user in people.items():
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            page.set_default_timeout(10_000)
            browser_login(page, live_server, user)
            page.goto(live_server.url + reverse(_persona_page(name)))
            # Nothing wider than the window (no sideways scrolling on a phone).
            assert page.evaluate("document.documentElement.scrollWidth") <= width, name
            if width == 1280:
                # Brand, every top entry and the user box share one row.
                boxes = [page.locator(sel).bounding_box() for sel in (".brand", ".userbox")] + [
                    li.bounding_box() for li in page.locator("ul.nav > li").all()
                ]
                centres = [b["y"] + b["height"] / 2 for b in boxes]
                assert max(centres) - min(centres) < 8, (name, centres)
            page.screenshot(path=os.path.join(ARTIFACTS, f"nav-{name}-{width}.png"))
            if name == "alice":
                # Keyboard: Tab to the disclosure, Enter opens it, Tab reaches the links.
                summary = page.locator("nav .nav-group > summary")
                summary.focus()
                page.keyboard.press("Enter")
                users = page.locator("nav .nav-group a", has_text="Users")
                assert users.is_visible()
                page.keyboard.press("Tab")
                focused = page.evaluate("document.activeElement.textContent.trim()")
                assert focused in ADMIN_ENTRIES
                page.screenshot(path=os.path.join(ARTIFACTS, f"nav-alice-{width}-open.png"))
                # Escape closes the menu and returns focus to its button (static/js/hub.js).
                page.keyboard.press("Escape")
                assert not users.is_visible()
                assert page.evaluate("document.activeElement.tagName") == "SUMMARY"
                page.keyboard.press("Enter")
                users.click()
                page.wait_for_url(f"**{reverse('hub:agency_users')}")
                assert page.locator('nav a[aria-current="page"]').text_content().strip() == "Users"
            context.close()
