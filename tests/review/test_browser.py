"""The review screen in Debian's chromium: keyboard only, blur until reveal, a group
decision, two reviewers at once, and another agency's investigator."""

from __future__ import annotations

import os
import random
import re

import pytest
from playwright.sync_api import expect

from hub.models import AuditEvent
from tests.conftest import browser_login, screenshot, wait_until
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
    revealed = page.locator("[data-testid=review-revealed]")
    assert current_name(page) == "new-high.png"
    assert "blur" in thumb.get_attribute("class") and "gray" in thumb.get_attribute("class")
    # Until a reveal, the browser holds only the server-blurred derivative.
    assert thumb.get_attribute("src").endswith("/thumb/blurred/")
    first = singles[0]

    def served(kind):
        return AuditEvent.objects.filter(
            action="evidence.served", object_id=str(first.uuid), data__kind=kind
        ).count()

    assert served("blurred") == 1 and served("thumb") == 0
    screenshot(page, "review-01-blurred")

    page.keyboard.press("Space")
    expect(revealed).to_be_visible()
    expect(thumb).to_be_hidden()
    assert revealed.get_attribute("src").endswith("/thumb/thumb/")
    assert "blur" not in revealed.get_attribute("class").split()
    assert "Revealed" in page.locator("#review-status").inner_text()
    expect(page.locator("[data-meter=reveals]")).to_have_text("1")  # counted as it starts
    wait_until(lambda: served("thumb") == 1, timeout=10, message="the sharp one, on reveal")
    page.keyboard.press("Space")
    expect(revealed).to_have_count(0)  # the sharp pixels leave the page
    expect(thumb).to_be_visible()
    assert "blur" in thumb.get_attribute("class").split()
    expect(page.locator("[data-meter=reveals]")).to_have_text("1")
    wait_until(
        lambda: ExposureEvent.objects.filter(user=ivan, kind="reveal").count() == 1,
        timeout=10,
        message="the reveal and its length",
    )

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
        assert tiles.nth(n).locator("img").get_attribute("src").endswith("/thumb/blurred/")
    screenshot(page, "review-02-group")
    # A tile can be revealed on its own (counted for its own item) and blurred again.
    reveals_before = ExposureEvent.objects.filter(user=ivan, kind="reveal").count()
    tiles.nth(1).locator("[data-tile-reveal]").click()
    tile_sharp = tiles.nth(1).locator("[data-testid=tile-revealed]")
    expect(tile_sharp).to_be_visible()
    assert tile_sharp.get_attribute("src").endswith("/thumb/thumb/")
    screenshot(page, "review-02b-group-tile-revealed")
    tiles.nth(1).locator("[data-tile-reveal]").click()
    expect(tile_sharp).to_have_count(0)
    wait_until(
        lambda: (
            ExposureEvent.objects.filter(user=ivan, kind="reveal").count() == reveals_before + 1
        ),
        timeout=10,
        message="the tile's reveal",
    )
    page.locator("#review-panel").focus()

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


def test_without_blur_time_on_screen_counts_and_space_keeps_to_focused_controls(
    ivan, sam, live_server, page
):
    world = World(ivan.memberships.first().agency, user=sam, reference="NB-1", team=(ivan,))
    first, second = (
        world.item(name=f"nb-{n}.png", classifier=0.9 - n / 10, thumb=True) for n in range(2)
    )
    prioritise_items([first, second])
    ivan.prefers_blur = False
    ivan.save(update_fields=["prefers_blur"])
    browser_login(page, live_server, ivan)
    page.goto(f"{live_server.url}/review/")
    name_is(page, "nb-0.png")
    thumb = page.locator("[data-testid=review-thumb]")
    assert thumb.get_attribute("src").endswith("/thumb/thumb/")
    expect(page.locator("[data-meter=reveals]")).to_have_text("1")  # on screen = seen
    # Space on the focused help summary opens it; it does not touch the item.
    page.locator("summary").focus()
    page.keyboard.press("Space")
    assert page.locator("details.review-help").evaluate("d => d.open")
    assert "not blurred" not in page.locator("#review-status").inner_text()
    page.wait_for_timeout(600)
    page.locator("#review-panel").focus()
    page.keyboard.press("0")
    name_is(page, "nb-1.png")
    wait_until(
        lambda: ExposureEvent.objects.filter(user=ivan, item=first, kind="reveal").exists(),
        timeout=10,
        message="the time the unblurred item was on screen",
    )
    assert ExposureEvent.objects.get(user=ivan, item=first).duration_ms >= 500


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


def test_a_video_plays_muted_through_the_view_and_every_play_is_counted(
    ivan, sam, live_server, page
):
    world = World(ivan.memberships.first().agency, user=sam, reference="VID-1", team=(ivan,))
    video = world.video(name="clip.webm", seconds=4.0, classifier=0.9)
    prioritise_items([video, world.item(name="after-the-video.png", thumb=True)])
    browser_login(page, live_server, ivan)
    page.goto(f"{live_server.url}/review/")
    name_is(page, "clip.webm")
    sheet = page.locator("[data-testid=review-thumb]")
    assert sheet.get_attribute("alt").startswith("Keyframe contact sheet")
    assert {"blur", "gray"} <= set(sheet.get_attribute("class").split())
    assert page.locator("video").count() == 0  # nothing plays until asked

    def played():
        return list(ExposureEvent.objects.filter(user=ivan, item=video, kind="video"))

    # p plays (muted, through the authorised view, blurred like the sheet until revealed).
    page.keyboard.press("p")
    player = page.locator("video[data-testid=review-video]")
    player.wait_for()
    page.wait_for_function(
        "() => { const v = document.querySelector('video'); return v && v.currentTime > 1.0; }"
    )
    state = player.evaluate(
        "v => ({muted: v.muted, defaultMuted: v.defaultMuted, src: v.currentSrc, "
        "paused: v.paused, error: v.error && v.error.code, cls: v.className})"
    )
    assert state["muted"] and state["defaultMuted"] and not state["paused"]
    assert state["error"] is None
    assert state["src"].endswith(f"/review/items/{video.uuid}/video/")
    assert {"blur", "gray"} <= set(state["cls"].split())
    assert "Playing muted" in page.locator("#review-status").inner_text()
    expect(page.locator("[data-reveal]")).to_be_hidden()  # the video takes the sheet's place
    page.keyboard.press("Space")  # reveal: the sheet and the video
    assert "blur" not in player.get_attribute("class").split()
    screenshot(page, "review-06-video-playing")
    page.keyboard.press("p")  # pause: the play and its length are recorded
    wait_until(lambda: len(played()) == 1, timeout=10, message="video exposure")
    first = played()[0]
    assert 800 <= first.duration_ms <= 15_000
    audit = AuditEvent.objects.filter(action="evidence.video_played", object_id=str(video.uuid))
    assert [e.data["duration_ms"] for e in audit] == [first.duration_ms]
    assert AuditEvent.objects.filter(
        action="evidence.served", object_id=str(video.uuid), data__kind="video"
    ).exists()
    expect(page.locator("[data-meter=video]")).to_have_text(f"0:{first.duration_ms // 1000:02d}")

    # Seeking works (the view answers Range requests) and a play cut short by leaving
    # the item (grading it) is counted too.
    player.evaluate("v => { v.currentTime = 0.5; }")
    page.keyboard.press("p")
    page.wait_for_function(
        "() => { const v = document.querySelector('video'); return v && !v.paused && "
        "v.currentTime > 1.0; }"
    )
    page.keyboard.press("0")
    name_is(page, "after-the-video.png")
    page.wait_for_function("() => document.querySelector('[data-testid=review-thumb]').complete")
    wait_until(lambda: len(played()) == 2, timeout=10, message="second play counted")
    assert all(e.duration_ms > 0 for e in played())
    assert (
        AuditEvent.objects.filter(action="evidence.video_played", object_id=str(video.uuid)).count()
        == 2
    )
    screenshot(page, "review-07-after-video")
