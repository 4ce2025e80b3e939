"""The review screen in Debian's chromium: keyboard only, blur until reveal, a group
decision, two reviewers at once, and another agency's investigator."""

from __future__ import annotations

import os
import random
import re

import pytest
from playwright.sync_api import expect

from tests.conftest import browser_login, screenshot
from tests.review.helpers import World, flip_bits, random_pdq
from triage.models import EvidenceItem, ExposureEvent
from triage.review.service import prioritise_items

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module", autouse=True)
def _orm_beside_playwright():
    """Playwright's sync API runs an event loop in this thread; the ORM calls here are
    synchronous (see tests/intake_web/test_browser.py)."""
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if before is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


def exhibit(world):
    """Two single items and a group of three near-duplicates, with thumbnails."""
    rng = random.Random(11)
    base = random_pdq(rng)
    singles = [
        world.item(name="new-high.png", classifier=0.95, thumb=True),
        world.item(name="new-low.png", classifier=0.2, thumb=True),
    ]
    group = [
        world.item(name=f"dup-{k}.png", pdq=flip_bits(base, k + 3, rng), classifier=0.6, thumb=True)
        for k in range(3)
    ]
    prioritise_items([*singles, *group])
    return singles, group


def current_name(page):
    return page.locator("#review-item .item-name").inner_text()


def name_is(page, expected):
    expect(page.locator("#review-item .item-name")).to_have_text(expected)


def test_keyboard_only_review_with_blur_group_and_undo(ivan, iris, sam, live_server, page):
    world = World(ivan.memberships.first().agency, user=sam, reference="KB-1", team=(ivan,))
    singles, group = exhibit(world)
    browser_login(page, live_server, ivan)
    page.goto(f"{live_server.url}/review/")
    thumb = page.locator("[data-testid=review-thumb]")
    assert current_name(page) == "new-high.png"
    assert "blur" in thumb.get_attribute("class") and "gray" in thumb.get_attribute("class")
    screenshot(page, "review-01-blurred")

    page.keyboard.press("Space")
    assert "blur" not in thumb.get_attribute("class").split()
    assert "Revealed" in page.locator("#review-status").inner_text()
    page.keyboard.press("Space")
    assert "blur" in thumb.get_attribute("class").split()
    expect(page.locator("[data-meter=reveals]")).to_have_text("1")
    assert ExposureEvent.objects.filter(user=ivan, kind="reveal").count() == 1

    # Grade with a digit; the next item (the group's representative) arrives.
    page.keyboard.press("n")
    page.keyboard.type("checked at full size")
    page.keyboard.press("Escape")
    page.keyboard.press("0")
    name_is(page, re.compile("^dup-"))
    assert "Graded 0" in page.locator("#review-status").inner_text()
    decided = EvidenceItem.objects.get(original_name="new-high.png")
    assert decided.review_state == "reviewed"
    assert decided.decisions.get().note == "checked at full size"

    # g opens the group as blurred tiles.
    page.keyboard.press("g")
    tiles = page.locator("[data-testid=group-tile]")
    tiles.first.wait_for()
    assert tiles.count() == 3
    for n in range(3):
        assert "blur" in tiles.nth(n).locator("img").get_attribute("class")
    screenshot(page, "review-02-group")

    # One digit grades the whole group.
    page.keyboard.press("0")
    name_is(page, "new-low.png")
    assert "for all 3 items of the group" in page.locator("#review-status").inner_text()
    assert {
        i.review_state for i in EvidenceItem.objects.filter(original_name__startswith="dup-")
    } == {"reviewed"}

    # u undoes the group decision within the window; the representative comes back.
    page.keyboard.press("u")
    name_is(page, re.compile("^dup-"))
    assert "Decision undone" in page.locator("#review-status").inner_text()
    assert {
        i.review_state for i in EvidenceItem.objects.filter(original_name__startswith="dup-")
    } == {"queued"}

    # k goes back in the session history, j forward again.
    page.keyboard.press("k")
    name_is(page, "new-high.png")
    page.keyboard.press("j")
    name_is(page, re.compile("^dup-"))
    page.keyboard.press("0")
    name_is(page, "new-low.png")
    page.keyboard.press("0")
    page.locator("[data-testid=review-empty]").wait_for()
    screenshot(page, "review-03-done")
    assert not EvidenceItem.objects.exclude(review_state="reviewed").exists()


def test_two_reviewers_never_get_the_same_item(ivan, iris, sam, live_server, browser):
    agency = ivan.memberships.first().agency
    world = World(agency, user=sam, reference="TWO", team=(ivan, iris))
    prioritise_items(
        [world.item(name=f"t{n}.png", classifier=n / 10, thumb=True) for n in range(6)]
    )
    pages = []
    for user in (ivan, iris):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        pg = context.new_page()
        pg.set_default_timeout(10_000)
        browser_login(pg, live_server, user)
        pg.goto(f"{live_server.url}/review/")
        pages.append(pg)
    seen = [[], []]
    for _round in range(3):
        for n, pg in enumerate(pages):
            name = current_name(pg)
            uuid = pg.locator("#review-item").get_attribute("data-item")
            seen[n].append(name)
            pg.keyboard.press("0")
            expect(pg.locator(f"#review-item[data-item='{uuid}']")).to_have_count(0)
    screenshot(pages[1], "review-04-second-reviewer")
    assert not set(seen[0]) & set(seen[1])
    assert len(set(seen[0]) | set(seen[1])) == 6
    for pg in pages:
        pg.context.close()


def test_another_agencys_investigator_sees_none_of_it(ivan, oscar, sam, live_server, page):
    world = World(ivan.memberships.first().agency, user=sam, reference="SECRET", team=(ivan,))
    item = world.item(name="demo-only.png", thumb=True)
    prioritise_items([item])
    browser_login(page, live_server, oscar)
    page.goto(f"{live_server.url}/review/")
    page.locator("[data-testid=review-empty]").wait_for()
    assert "demo-only.png" not in page.content()
    response = page.goto(f"{live_server.url}/review/?item={item.uuid}")
    assert response.status == 404
    response = page.goto(f"{live_server.url}/review/case/{world.case.uuid}/")
    assert response.status == 404
    screenshot(page, "review-05-other-agency")
