"""An investigator creates a case, uploads files through the real page (upload.js, XHR)
and watches the batch reach complete (htmx polling). Drives Debian's chromium."""

from __future__ import annotations

import os

import pytest

from tests.conftest import browser_login, screenshot
from triage.models import Case, EvidenceBatch

from .helpers import image_bytes, zip_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module", autouse=True)
def _orm_beside_playwright():
    """Playwright's sync API keeps an event loop running in this thread, which makes
    Django refuse ORM calls (fixtures, the test body, the database flush at teardown);
    everything here is synchronous. Module-scoped so it outlives the flush."""
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if before is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


def test_investigator_uploads_and_sees_batch_complete(
    _orm_beside_playwright, ivan, iris, live_server, page, tmp_path
):
    files = []
    for i in range(3):
        path = tmp_path / f"photo-{i}.png"
        path.write_bytes(image_bytes(100 + i))
        files.append(str(path))
    archive = tmp_path / "camera.zip"
    archive.write_bytes(zip_bytes({"DCIM/x.png": image_bytes(110), "DCIM/y.png": image_bytes(111)}))
    files.append(str(archive))

    browser_login(page, live_server, ivan)
    page.goto(f"{live_server.url}/cases/")
    screenshot(page, "intake-01-case-list-empty")
    page.get_by_test_id("case-create").click()
    page.fill("#id_reference", "DP-777")
    page.fill("#id_title", "Storage unit")
    page.select_option("#id_urgency", "2")
    page.get_by_label("Iris (iris)").check()
    screenshot(page, "intake-02-case-form")
    page.get_by_test_id("case-save").click()
    page.wait_for_url("**/cases/*/")
    case = Case.objects.get(reference="DP-777")
    assert set(case.team.values_list("username", flat=True)) == {"ivan", "iris"}
    screenshot(page, "intake-03-case-detail-empty")

    page.get_by_test_id("upload-link").click()
    page.fill("#id_exhibit_ref", "SU/1")
    page.set_input_files("input[name=files]", files)
    page.wait_for_selector("[data-selection]:not([hidden])")
    assert "4 files" in page.inner_text("[data-selection-count]")
    screenshot(page, "intake-04-upload-selected")
    page.get_by_test_id("upload-submit").click()
    page.wait_for_url("**/batches/*/")
    # The batch completes (processing runs eagerly in the live server or in the poll loop).
    page.wait_for_selector('[data-testid=batch-progress][data-complete="true"]', timeout=60_000)
    page.wait_for_selector("[data-testid=progress-done]")
    screenshot(page, "intake-05-batch-complete")
    batch = EvidenceBatch.objects.get(case=case)
    assert batch.exhibit_ref == "SU/1"
    assert page.inner_text('[data-count="found"]') == str(batch.items.count())
    assert batch.items.count() >= 6
    assert "camera.zip" in page.content()
    # Client-side SHA-256 was sent and matched (no rejection messages).
    assert "was rejected" not in page.content()

    page.click("text=photo-0.png")
    page.wait_for_selector("[data-testid=item-hashes]")
    screenshot(page, "intake-06-item")
