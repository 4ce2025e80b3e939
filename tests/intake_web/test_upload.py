"""Uploads through the real view and the real intake services (tasks run eagerly on
commit), then the batch page and its htmx progress fragment."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django.utils.html import escape

from hub.models import AuditEvent
from triage.models import EvidenceBatch, EvidenceItem, ItemStatus

from .helpers import corrupt_jpeg, image_bytes, noise_png, sha256, tar_bytes, upload_file, zip_bytes

pytestmark = pytest.mark.django_db


def manifest(*entries):
    """What upload.js sends: one JSON list of {path, sha256} in file order."""
    return json.dumps([{"path": p, "sha256": h} for p, h in entries])


def batch_page(batch, **query):
    url = reverse("triage:batch_detail", kwargs={"batch": batch.uuid})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def progress_url(batch, live=False):
    url = reverse("triage:batch_progress", kwargs={"batch": batch.uuid})
    return url + ("?live=1" if live else "")


def test_upload_images_and_a_zip_end_to_end(client_for, ivan, case, post_upload):
    archive = zip_bytes(
        {"inner/one.png": image_bytes(11), "inner/two.jpg": image_bytes(12, "JPEG")}
    )
    files = [
        upload_file("a.png", image_bytes(1), "image/png"),
        upload_file("b.jpg", image_bytes(2, "JPEG"), "image/jpeg"),
        # Above FILE_UPLOAD_MAX_MEMORY_SIZE (2 MiB): streamed to a temporary file and moved.
        upload_file("big.png", noise_png(3), "image/png"),
        upload_file("phone.zip", archive, "application/zip"),
    ]
    assert len(files[2].read()) > 2 * 1024 * 1024
    files[2].seek(0)
    client = client_for(ivan)
    response = post_upload(client, case, files, exhibit_ref="JD/1", note="Kitchen drawer")
    batch = EvidenceBatch.objects.get(case=case)
    assert response.status_code == 302
    assert response["Location"] == batch_page(batch)
    assert batch.exhibit_ref == "JD/1" and batch.note == "Kitchen drawer"
    assert batch.uploaded_by == ivan and batch.source == "web"

    batch.refresh_from_db()
    names = set(EvidenceItem.objects.filter(batch=batch).values_list("original_name", flat=True))
    assert {"a.png", "b.jpg", "big.png", "phone.zip", "one.png", "two.jpg"} <= names
    member = EvidenceItem.objects.get(batch=batch, original_name="one.png")
    assert member.parent is not None and member.parent.original_name == "phone.zip"
    assert "inner/one.png" in member.path

    # Eager tasks ran on commit: the batch is complete and the page says so.
    page = client.get(batch_page(batch))
    assert page.status_code == 200
    progress = page.context["progress"]
    assert progress["is_complete"] is True
    assert progress["found"] == len(names)
    assert progress["failed"] == 0
    assert progress["hashed"] >= 5
    html = page.content.decode()
    assert "Complete." in html and "JD/1" in html
    assert 'hx-trigger="every 2s"' not in html  # finished: no polling
    for name in ("a.png", "big.png", "inner/two.jpg"):
        assert name in html
    assert b"received; processing has started" in page.content


def test_progress_fragment_polls_until_complete(client_for, ivan, case):
    from triage.services.intake import batch_add_file, batch_create

    batch = batch_create(case=case, user=ivan, exhibit_ref="P/1")
    src = case_file(image_bytes(5))
    batch_add_file(batch=batch, src_path=src, name="x.png")
    client = client_for(ivan)

    # Not submitted yet: the fragment keeps polling and shows the numbers.
    fragment = client.get(progress_url(batch, live=True))
    assert fragment.status_code == 200
    html = fragment.content.decode()
    assert 'hx-trigger="every 2s"' in html and "HX-Refresh" not in fragment.headers
    assert 'data-count="found">1<' in html
    assert 'data-complete="false"' in html
    assert f"{progress_url(batch)}?live=1" in html
    full = client.get(batch_page(batch)).content.decode()
    assert 'hx-trigger="every 2s"' in full and "This page updates by itself" in full

    from triage.services.intake import process_batch_now

    process_batch_now(batch)
    fragment = client.get(progress_url(batch, live=True))
    html = fragment.content.decode()
    assert 'data-complete="true"' in html and "every 2s" not in html
    assert 'data-count="failed">0<' in html
    # The page reloads once to show the final lists.
    assert fragment.headers["HX-Refresh"] == "true"
    assert "HX-Refresh" not in client.get(progress_url(batch)).headers


def case_file(data: bytes) -> str:
    import tempfile

    from django.conf import settings

    with tempfile.NamedTemporaryFile(dir=settings.UPLOAD_TEMP_ROOT, delete=False) as f:
        f.write(data)
    return f.name


def test_failed_items_show_their_reason(client_for, ivan, case, post_upload):
    files = [
        upload_file("good.png", image_bytes(21), "image/png"),
        upload_file("broken.jpg", corrupt_jpeg(), "image/jpeg"),
    ]
    client = client_for(ivan)
    post_upload(client, case, files)
    batch = EvidenceBatch.objects.get(case=case)
    broken = EvidenceItem.objects.get(batch=batch, original_name="broken.jpg")
    assert broken.status in (ItemStatus.FAILED, ItemStatus.ERRORED)
    page = client.get(batch_page(batch))
    html = page.content.decode()
    assert page.context["progress"]["failed"] == 1
    assert 'data-testid="batch-failures"' in html
    assert "broken.jpg" in html
    assert broken.failure_reason
    assert escape(broken.failure_reason) in html
    failed_only = client.get(batch_page(batch, show="failed")).content.decode()
    assert "broken.jpg" in failed_only and "good.png" not in failed_only


def test_failure_reasons_and_refusal_are_shown_in_plain_words(client_for, sam, case):
    from triage.services.intake import batch_create

    batch = batch_create(case=case, user=sam, exhibit_ref="R/1")
    EvidenceItem.objects.create(
        agency=case.agency,
        case=case,
        batch=batch,
        path="photos/odd.heic",
        original_name="odd.heic",
        status=ItemStatus.FAILED,
        failure_reason="This image format (HEIC) is not supported yet.",
    )
    EvidenceItem.objects.create(
        agency=case.agency,
        case=case,
        batch=batch,
        path="photos/crash.png",
        original_name="crash.png",
        status=ItemStatus.ERRORED,
        error_traceback="Traceback: secret internals",
    )
    batch.status = EvidenceBatch.Status.REFUSED
    batch.refusal_reason = "The archive expands to more than 100 GB (a zip bomb?)."
    batch.save()
    html = client_for(sam).get(batch_page(batch)).content.decode()
    assert 'data-testid="batch-refused"' in html
    assert "The archive expands to more than 100 GB (a zip bomb?)." in html
    assert "This image format (HEIC) is not supported yet." in html
    assert "An unexpected error occurred" in html
    assert "secret internals" not in html


def test_folder_paths_are_kept_as_provenance(client_for, ivan, case, post_upload):
    data = [image_bytes(31), image_bytes(32)]
    files = [upload_file("a.png", data[0]), upload_file("b.png", data[1])]
    post_upload(
        client_for(ivan),
        case,
        files,
        manifest=manifest(
            ("Phone/DCIM/a.png", sha256(data[0])), ("Phone/../Phone/Screens/b.png", sha256(data[1]))
        ),
    )
    paths = set(EvidenceItem.objects.filter(case=case).values_list("path", flat=True))
    assert any(p.endswith("Phone/DCIM/a.png") for p in paths), paths
    assert all(".." not in p for p in paths)
    assert any(p.endswith("Screens/b.png") for p in paths), paths


def test_sha256_mismatch_rejects_that_file(client_for, ivan, case, post_upload):
    good, bad = image_bytes(41), image_bytes(42)
    client = client_for(ivan)
    response = post_upload(
        client,
        case,
        [upload_file("good.png", good), upload_file("bad.png", bad)],
        xhr=True,
        manifest=manifest(("", sha256(good)), ("", sha256(b"something else"))),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1
    assert [r["name"] for r in body["rejected"]] == ["bad.png"]
    assert "SHA-256" in body["rejected"][0]["reason"]
    names = set(EvidenceItem.objects.filter(case=case).values_list("original_name", flat=True))
    assert names == {"good.png"}
    assert AuditEvent.objects.filter(agency=case.agency, action="evidence.sha256_mismatch").exists()
    # The person sees the rejection on the batch page.
    page = client.get(body["redirect"]).content.decode()
    assert "bad.png was rejected" in page


def test_malformed_client_hash_is_rejected(client_for, ivan, case, post_upload):
    response = post_upload(
        client_for(ivan),
        case,
        [upload_file("a.png", image_bytes(43))],
        xhr=True,
        manifest=manifest(("", "nothex")),
    )
    assert response.json()["rejected"][0]["reason"] == "The browser's SHA-256 is malformed."
    assert not EvidenceItem.objects.filter(case=case).exists()


def test_tar_archive_upload(client_for, ivan, case, post_upload):
    archive = tar_bytes({"x/one.png": image_bytes(51), "x/two.png": image_bytes(52)})
    post_upload(client_for(ivan), case, [upload_file("dump.tar", archive)])
    names = set(EvidenceItem.objects.filter(case=case).values_list("original_name", flat=True))
    assert {"dump.tar", "one.png", "two.png"} <= names


def test_agency_upload_limit_is_enforced(client_for, ivan, case, demo_agency, post_upload):
    demo_agency.settings = {"max_upload_bytes": 50_000}
    demo_agency.save()
    response = post_upload(
        client_for(ivan), case, [upload_file("huge.png", image_bytes(61, size=600))]
    )
    assert response.status_code == 413
    assert b"larger than your agency allows in one upload" in response.content
    assert b"48.8\xc2\xa0KB" in response.content
    assert not EvidenceBatch.objects.filter(case=case).exists()
    response = post_upload(
        client_for(ivan), case, [upload_file("huge.png", image_bytes(61, size=600))], xhr=True
    )
    assert response.status_code == 413
    assert "larger than your agency allows" in response.json()["errors"][0]


def test_upload_needs_a_file(client_for, ivan, case, post_upload):
    response = post_upload(client_for(ivan), case, [])
    assert response.status_code == 400
    assert b"Choose at least one file" in response.content
    assert not EvidenceBatch.objects.filter(case=case).exists()


def test_upload_page_renders(client_for, ivan, case):
    html = client_for(ivan).get(reverse("triage:batch_upload", kwargs={"case": case.uuid}))
    content = html.content.decode()
    assert html.status_code == 200
    assert "webkitdirectory" in content and "multiple" in content
    assert "js/upload.js" in content and "data-dropzone" in content
    assert "<script>" not in content  # no inline JS (CSP)


def test_no_upload_to_a_case_you_cannot_see(client_for, iris, oscar, case, post_upload):
    for person in (iris, oscar):
        response = post_upload(client_for(person), case, [upload_file("a.png", image_bytes(1))])
        assert response.status_code == 404
    assert not EvidenceBatch.objects.exists()


def test_batch_pages_are_404_outside_the_case(
    client_for, ivan, iris, oscar, alice, case, post_upload
):
    post_upload(client_for(ivan), case, [upload_file("a.png", image_bytes(1))])
    batch = EvidenceBatch.objects.get(case=case)
    for person in (iris, oscar):
        assert client_for(person).get(batch_page(batch)).status_code == 404
        assert client_for(person).get(progress_url(batch)).status_code == 404
    assert client_for(alice).get(batch_page(batch)).status_code == 200


def test_case_detail_lists_batches_with_progress(client_for, ivan, case, post_upload):
    post_upload(client_for(ivan), case, [upload_file("a.png", image_bytes(1))], exhibit_ref="Z/9")
    html = client_for(ivan).get(reverse("triage:case_detail", kwargs={"case": case.uuid}))
    content = html.content.decode()
    assert "Z/9" in content and "Complete" in content
    assert html.context["counts"]["total"] == 1


def test_plain_form_post_without_manifest_keeps_names(client_for, ivan, case, post_upload):
    """Without upload.js: files and a folder pick, no manifest; a manifest of the wrong
    length is ignored rather than misaligned."""
    response = post_upload(
        client_for(ivan),
        case,
        [upload_file("a.png", image_bytes(71)), upload_file("b.png", image_bytes(72))],
        folder=[upload_file("c.png", image_bytes(73))],
        manifest=manifest(("Wrong/only-one.png", "")),
    )
    assert response.status_code == 302
    items = EvidenceItem.objects.filter(case=case)
    assert set(items.values_list("original_name", flat=True)) == {"a.png", "b.png", "c.png"}
    assert not any("Wrong" in p for p in items.values_list("path", flat=True))
