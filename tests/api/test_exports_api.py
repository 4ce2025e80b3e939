"""Exports through the API: start (case or batch), poll, list, download the signed bundle or
one file of it (audited, never cached); who may; the error shape of every refusal."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import jsonschema
import pytest
from django.urls import reverse

from hub.models import AuditEvent
from tests.api.conftest import error_of
from tests.exports.vics_schema import VICS_SCHEMA
from triage.exports import manifest as manifest_mod
from triage.exports import services
from triage.matching.importers import parse_bytes
from triage.models import Blob, EvidenceItem, ExportJob

pytestmark = pytest.mark.django_db


def start(api, case, capture, **body):
    """POST an export and run its task (queued on commit) in-process."""
    with capture(execute=True) as callbacks:
        response = api.post(
            reverse("triage:api_case_exports", kwargs={"case": case.uuid}), body, format="json"
        )
    return response, callbacks


def download(api, job_uuid, file=None):
    url = reverse("triage:api_export_download", kwargs={"export": job_uuid})
    return api.get(url, {"file": file} if file else {})


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


def test_start_poll_list_and_download_a_case_export(
    api_for, ivan, case, processed_batch, django_capture_on_commit_callbacks, tmp_path
):
    api = api_for(ivan)
    response, callbacks = start(api, case, django_capture_on_commit_callbacks)
    assert response.status_code == 202, response.content
    assert len(callbacks) == 1  # the job is queued after commit, not inside the request
    started = response.json()
    assert started["case"] == str(case.uuid) and started["batch"] is None
    assert started["kind"] == "case" and started["created_by"] == "ivan"
    assert started["status"] == "pending" and started["files"] == []
    assert started["download_url"] is None
    assert "no-store" in response["Cache-Control"]

    # Poll: the task ran on commit, so the export is finished now.
    detail = api.get(reverse("triage:api_export", kwargs={"export": started["uuid"]}))
    assert detail.status_code == 200 and "no-store" in detail["Cache-Control"]
    job = detail.json()
    assert job["status"] == "done" and job["progress"] == 100, job
    job_row = ExportJob.objects.get(uuid=started["uuid"])
    manifest = json.loads((services.export_folder(job_row) / "manifest.json").read_text())
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    assert {f["path"]: f["sha256"] for f in job["files"]} == listed
    assert {f["file"] for f in job["files"]} >= {"vics", "csv", "report"}

    page = api.get(reverse("triage:api_case_exports", kwargs={"case": case.uuid}))
    assert page.status_code == 200
    assert set(page.json()) == {"count", "next", "previous", "results"}
    assert [e["uuid"] for e in page.json()["results"]] == [started["uuid"]]

    # The bundle: a zip that verifies against its signed manifest.
    response = api.get(job["download_url"])
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"]
    assert "no-store" in response["Cache-Control"]
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(body_of(response))
    assert manifest_mod.verify_export(bundle)["export"] == started["uuid"]

    # One file: vics.json, byte for byte what the manifest signed, and the hub re-imports it.
    vics_url = next(f["download_url"] for f in job["files"] if f["file"] == "vics")
    response = api.get(vics_url)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    raw = body_of(response)
    assert hashlib.sha256(raw).hexdigest() == listed["vics.json"]
    jsonschema.validate(json.loads(raw), VICS_SCHEMA, format_checker=jsonschema.FormatChecker())
    records = parse_bytes(raw, "vics")
    assert {r.md5 for r in records} == set(
        EvidenceItem.objects.filter(case=case).values_list("blob__md5", flat=True)
    )

    downloads = AuditEvent.objects.filter(action="export.downloaded", object_id=started["uuid"])
    assert sorted(e.data["file"] for e in downloads) == sorted(
        [services.download_name(job_row), "vics.json"]
    )
    assert {e.actor for e in downloads} == {ivan}
    assert {e.data["via"] for e in downloads} == {"api"}


def test_batch_export_and_its_refusals(
    api_for, sam, case, processed_batch, django_capture_on_commit_callbacks
):
    from triage.services.intake import batch_create, case_create

    api = api_for(sam)
    response, _ = start(
        api, case, django_capture_on_commit_callbacks, batch=str(processed_batch.uuid)
    )
    assert response.status_code == 202, response.content
    assert response.json()["kind"] == "batch"
    assert response.json()["batch"] == str(processed_batch.uuid)
    job = ExportJob.objects.get(uuid=response.json()["uuid"])
    assert job.status == ExportJob.Status.DONE
    assert manifest_mod.verify_export(services.export_zip(job))["batch"]["exhibit_ref"] == "EX/1"

    # A batch of another case of the same agency: 400 naming the field.
    other = case_create(agency=case.agency, user=sam, reference="DP-2", title="two")
    elsewhere = batch_create(case=other, user=sam, exhibit_ref="EX/9")
    response, callbacks = start(
        api, case, django_capture_on_commit_callbacks, batch=str(elsewhere.uuid)
    )
    assert response.status_code == 400 and "batch" in error_of(response)["details"]
    assert not callbacks
    # Not a UUID: 400; an unknown batch: 404.
    response, _ = start(api, case, django_capture_on_commit_callbacks, batch="nope")
    assert response.status_code == 400 and error_of(response)["code"] == "invalid"
    response, _ = start(
        api, case, django_capture_on_commit_callbacks, batch="00000000-0000-0000-0000-000000000000"
    )
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"

    # An original that failed its fixity check refuses a new export at once: 409.
    Blob.objects.filter(agency=case.agency).update(fixity_ok=False)
    response, callbacks = start(api, case, django_capture_on_commit_callbacks)
    assert response.status_code == 409 and not callbacks
    error = error_of(response)
    assert error["code"] == "export_refused" and "fixity" in error["message"]
    assert ExportJob.objects.filter(case=case).count() == 1  # only the batch export


def test_download_before_done_accept_and_unknown_file(api_for, ivan, case, processed_batch):
    api = api_for(ivan)
    # Started, but its task not run (no on-commit execution): still pending.
    job = services.export_create(case=case, user=ivan)
    response = download(api, job.uuid)
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "export_not_ready" and error["details"]["status"] == "pending"
    assert "poll" in error["message"]
    failed = services.export_create(case=case, user=ivan)
    ExportJob.objects.filter(pk=failed.pk).update(status="failed", error="OSError: disk full")
    response = download(api, failed.uuid)
    assert response.status_code == 409
    assert "disk full" in error_of(response)["message"]
    assert "start a new export" in error_of(response)["message"]

    services.export_run(job.pk)
    job.refresh_from_db()
    response = download(api, job.uuid, file="report")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    # Whatever the client says it accepts, the file comes (errors stay JSON).
    response = api.get(
        reverse("triage:api_export_download", kwargs={"export": job.uuid}),
        HTTP_ACCEPT="application/zip",
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(body_of(response)))
    assert any(n.endswith("/manifest.json") for n in archive.namelist())

    response = download(api, job.uuid, file="everything")
    assert response.status_code == 400 and "file" in error_of(response)["details"]
    response = download(api, job.uuid, file="csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    header = body_of(response).splitlines()[0]
    assert b"sha256" in header

    # The stored file gone: a 404 that says what to do, not a server error, and no
    # download recorded for it.
    zips = AuditEvent.objects.filter(
        action="export.downloaded", object_id=str(job.uuid), data__file__endswith=".zip"
    )
    assert zips.count() == 1  # the one above
    services.export_zip(job).unlink()
    response = download(api, job.uuid)
    assert response.status_code == 404
    assert "hub administrator" in error_of(response)["message"]
    assert zips.count() == 1


def test_who_may_see_and_download_exports(
    api_for, ivan, iris, oscar, sam, case, processed_batch, other_case
):
    job = services.export_create(case=case, user=ivan)
    services.export_run(job.pk)
    foreign = services.export_create(case=other_case, user=oscar)
    services.export_run(foreign.pk)
    urls = [
        ("get", reverse("triage:api_case_exports", kwargs={"case": case.uuid})),
        ("post", reverse("triage:api_case_exports", kwargs={"case": case.uuid})),
        ("get", reverse("triage:api_export", kwargs={"export": job.uuid})),
        ("get", reverse("triage:api_export_download", kwargs={"export": job.uuid})),
    ]
    # Iris is an investigator of the same agency but not on the case; Oscar is another
    # agency's. Both get the 404 of an object that does not exist.
    for user in (iris, oscar):
        api = api_for(user)
        for method, url in urls:
            response = api.get(url) if method == "get" else api.post(url, {}, format="json")
            assert response.status_code == 404, (user, method, url, response.content)
            assert error_of(response)["code"] == "not_found"
    # Ivan never sees Oscar's export, even by its UUID.
    api = api_for(ivan)
    for name in ("triage:api_export", "triage:api_export_download"):
        response = api.get(reverse(name, kwargs={"export": foreign.uuid}))
        assert response.status_code == 404
    # A supervisor sees every case of the agency, so Sam may download Ivan's export.
    assert download(api_for(sam), job.uuid).status_code == 200
    assert not AuditEvent.objects.filter(
        action="export.downloaded", actor__in=[iris, oscar]
    ).exists()
    # Logged out: 401 in the error shape.
    from rest_framework.test import APIClient

    response = APIClient().get(reverse("triage:api_export", kwargs={"export": job.uuid}))
    assert response.status_code == 401 and error_of(response)["code"] == "not_authenticated"


def test_filters_reject_unknown_values_with_400(api_for, sam, case):
    from triage.services.intake import batch_create

    batch_create(case=case, user=sam, exhibit_ref="EX/EMPTY")
    api = api_for(sam)
    response = api.get(reverse("triage:api_batches"), {"status": "bogus\x00"})
    assert response.status_code == 400 and "status" in error_of(response)["details"]
    response = api.get(
        reverse("triage:api_case_items", kwargs={"case": case.uuid}), {"known_state": "maybe"}
    )
    assert response.status_code == 400 and "known_state" in error_of(response)["details"]
    response = api.get(reverse("triage:api_batches"), {"status": "receiving"})
    assert response.status_code == 200 and response.json()["count"] == 1
    response = api.get(reverse("triage:api_batches"), {"status": "complete"})
    assert response.status_code == 200 and response.json()["count"] == 0
