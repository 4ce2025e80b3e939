"""A batch over HTTP with a bearer token: create the case and batch, upload with a client
SHA-256 (good and damaged), submit, poll, list items with their hashes, grade one."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from hub.models import AuditEvent
from tests.api.conftest import error_of, png, sha256
from triage.models import EvidenceBatch, EvidenceItem


def upload(name: str, data: bytes):
    return SimpleUploadedFile(name, data, content_type="image/png")


def test_upload_submit_poll_and_list_items(api_for, ivan, django_capture_on_commit_callbacks):
    api = api_for(ivan)
    response = api.post(
        reverse("triage:api_cases"), {"reference": "API-1", "title": "Lantern"}, format="json"
    )
    assert response.status_code == 201, response.content
    case_uuid = response.json()["uuid"]
    response = api.post(
        reverse("triage:api_case_batches", kwargs={"case": case_uuid}),
        {"exhibit_ref": "EX/API"},
        format="json",
    )
    assert response.status_code == 201
    batch = response.json()
    assert batch["status"] == "receiving" and batch["progress"]["found"] == 0
    files_url = reverse("triage:api_batch_files", kwargs={"batch": batch["uuid"]})

    images = [png(1), png(2)]
    response = api.post(
        files_url,
        {
            "file": [upload("a.png", images[0]), upload("b.png", images[1])],
            "sha256": [sha256(images[0]), sha256(images[1]).upper()],
            "path": ["phone/DCIM/a.png", "phone/DCIM/b.png"],
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    accepted = response.json()["accepted"]
    assert [a["path"] for a in accepted] == ["phone/DCIM/a.png", "phone/DCIM/b.png"]
    assert [a["sha256"] for a in accepted] == [sha256(i) for i in images]
    assert EvidenceBatch.objects.get(uuid=batch["uuid"]).source == "api"

    # A file damaged on the way: rejected with a 400 that names it, and not stored.
    response = api.post(
        files_url, {"file": upload("c.png", png(3)), "sha256": "0" * 64}, format="multipart"
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "file_rejected"
    assert error["details"]["rejected"][0]["name"] == "c.png"
    assert "SHA-256" in error["message"]
    assert not EvidenceItem.objects.filter(original_name="c.png").exists()
    assert AuditEvent.objects.filter(action="evidence.sha256_mismatch").count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(reverse("triage:api_batch_submit", kwargs={"batch": batch["uuid"]}))
    assert response.status_code == 202, response.content

    response = api.get(reverse("triage:api_batch", kwargs={"batch": batch["uuid"]}))
    polled = response.json()
    assert polled["status"] == "complete", polled
    assert polled["progress"]["is_complete"] is True
    assert polled["progress"]["found"] == 2 and polled["progress"]["percent"] == 100

    response = api.get(reverse("triage:api_batch_items", kwargs={"batch": batch["uuid"]}))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    by_name = {i["original_name"]: i for i in body["results"]}
    item = by_name["a.png"]
    assert item["hashes"]["sha256"] == sha256(images[0])
    assert len(item["hashes"]["md5"]) == 32 and len(item["hashes"]["sha1"]) == 40
    assert len(item["hashes"]["pdq"]) == 64
    assert item["status"] == "done" and item["media_kind"] == "image"
    assert item["matches"] == [] and item["known_state"] == "unknown"
    assert isinstance(item["priority_reasons"], list)
    for field in ("priority", "review_state", "category", "scores", "classifier_score"):
        assert field in item

    detail = api.get(reverse("triage:api_item", kwargs={"item": item["uuid"]})).json()
    assert detail["uuid"] == item["uuid"] and detail["batch"] == batch["uuid"]
    case_items = api.get(reverse("triage:api_case_items", kwargs={"case": case_uuid})).json()
    assert case_items["count"] == 2

    # Submitted: no more files, and a second submit is refused in the same shape.
    response = api.post(files_url, {"file": upload("d.png", png(4))}, format="multipart")
    assert response.status_code == 409
    assert error_of(response)["code"] == "batch_submitted"
    response = api.post(reverse("triage:api_batch_submit", kwargs={"batch": batch["uuid"]}))
    assert error_of(response)["code"] == "intake_rejected"


def test_upload_checks_the_form(api_for, ivan, case):
    api = api_for(ivan)
    batch = api.post(
        reverse("triage:api_case_batches", kwargs={"case": case.uuid}), {}, format="json"
    ).json()
    url = reverse("triage:api_batch_files", kwargs={"batch": batch["uuid"]})
    response = api.post(url, {}, format="multipart")
    assert response.status_code == 400 and "file" in error_of(response)["details"]
    response = api.post(
        url,
        {"file": [upload("a.png", png(1)), upload("b.png", png(2))], "sha256": "0" * 64},
        format="multipart",
    )
    assert response.status_code == 400 and "sha256" in error_of(response)["details"]
    response = api.post(url, '{"file": "a.png"}', content_type="application/json")
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"
    empty_submit = api.post(reverse("triage:api_batch_submit", kwargs={"batch": batch["uuid"]}))
    assert empty_submit.status_code == 409


def test_upload_over_the_agency_limit_is_413(api_for, ivan, case, demo_agency):
    demo_agency.settings = {"max_upload_bytes": 1000}
    demo_agency.save()
    api = api_for(ivan)
    batch = api.post(
        reverse("triage:api_case_batches", kwargs={"case": case.uuid}), {}, format="json"
    ).json()
    url = reverse("triage:api_batch_files", kwargs={"batch": batch["uuid"]})
    response = api.post(url, {"file": upload("big.png", png(5, size=200))}, format="multipart")
    assert response.status_code == 413
    assert error_of(response)["details"]["limit_bytes"] == 1000
    assert not EvidenceItem.objects.exists()


def test_case_create_validation_and_duplicates(api_for, ivan, case):
    api = api_for(ivan)
    response = api.post(reverse("triage:api_cases"), {"title": "no ref"}, format="json")
    assert response.status_code == 400
    assert "reference" in error_of(response)["details"]
    response = api.post(reverse("triage:api_cases"), {"reference": "DP-API"}, format="json")
    assert response.status_code == 400
    assert "already exists" in error_of(response)["message"]


def test_decision_grades_an_item(api_for, ivan, processed_batch):
    item = processed_batch.items.order_by("id").first()
    url = reverse("triage:api_item_decisions", kwargs={"item": item.uuid})
    response = api_for(ivan).post(url, {"category": "1", "note": "seen"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["item"] == str(item.uuid) and body["category"] == "1"
    assert item.decisions.count() == 1
    response = api_for(ivan).post(url, {"category": "Z"}, format="json")
    assert response.status_code == 409
    assert error_of(response)["code"] == "review_rejected"


def test_decision_is_501_without_the_review_service(api_for, ivan, processed_batch, monkeypatch):
    from triage.review import service

    monkeypatch.delattr(service, "review_decide")
    item = processed_batch.items.first()
    url = reverse("triage:api_item_decisions", kwargs={"item": item.uuid})
    response = api_for(ivan).post(url, {"category": "1"}, format="json")
    assert response.status_code == 501
    assert error_of(response)["code"] == "not_implemented"
