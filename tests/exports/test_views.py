"""Export pages: create (job row, task after commit), progress, download; who may."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.urls import reverse

from hub.models import AuditEvent
from triage.models import Blob, ExportJob

pytestmark = pytest.mark.django_db


def create(client, case, django_capture_on_commit_callbacks, **data):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(reverse("triage:export_create", kwargs={"case": case.uuid}), data)
    return response, callbacks


def test_investigator_on_the_case_exports_and_downloads(
    processed_case, ivan, client_for, django_capture_on_commit_callbacks
):
    client = client_for(ivan)
    response, callbacks = create(client, processed_case, django_capture_on_commit_callbacks)
    assert len(callbacks) == 1  # the task is queued on commit, not inside the transaction
    job = ExportJob.objects.get(case=processed_case)
    assert response.status_code == 302 and str(job.uuid) in response["Location"]
    assert job.status == ExportJob.Status.DONE and job.progress == 100 and job.created_by == ivan

    page = client.get(reverse("triage:case_detail", kwargs={"case": processed_case.uuid}))
    assert b'data-testid="case-exports"' in page.content
    fragment = client.get(
        reverse("triage:export_list", kwargs={"case": processed_case.uuid}), HTTP_HX_REQUEST="true"
    )
    assert str(job.uuid).encode() in fragment.content and b"Download zip" in fragment.content
    assert "no-store" in fragment["Cache-Control"]
    detail = client.get(reverse("triage:export_detail", kwargs={"export": job.uuid}))
    assert b"manifest.json" not in detail.content or b"vics.json" in detail.content
    assert b"vics.json" in detail.content and "no-store" in detail["Cache-Control"]

    download = client.get(reverse("triage:export_download", kwargs={"export": job.uuid}))
    assert download.status_code == 200
    assert "no-store" in download["Cache-Control"]
    assert "attachment" in download["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    assert sorted(n.split("/", 1)[1] for n in archive.namelist()) == [
        "items.csv", "manifest.json", "report.html", "report.pdf", "vics.json",
    ]  # fmt: skip
    actions = set(
        AuditEvent.objects.filter(object_id=str(job.uuid)).values_list("action", flat=True)
    )
    assert actions == {"export.created", "export.completed", "export.downloaded"}
    downloaded = AuditEvent.objects.get(action="export.downloaded", object_id=str(job.uuid))
    assert downloaded.actor == ivan


def test_progress_fragment_polls_while_running(processed_case, sam, client_for):
    job = ExportJob.objects.create(
        agency=processed_case.agency, case=processed_case, created_by=sam,
        status=ExportJob.Status.RUNNING, progress=40,
    )  # fmt: skip
    response = client_for(sam).get(
        reverse("triage:export_detail", kwargs={"export": job.uuid}), HTTP_HX_REQUEST="true"
    )
    assert b'hx-trigger="every 2s"' in response.content and b'value="40"' in response.content
    download = client_for(sam).get(reverse("triage:export_download", kwargs={"export": job.uuid}))
    assert download.status_code == 404  # not ready


def test_investigator_not_on_the_case_gets_404(
    processed_case, iris, sam, client_for, django_capture_on_commit_callbacks
):
    response, _ = create(client_for(iris), processed_case, django_capture_on_commit_callbacks)
    assert response.status_code == 404
    assert not ExportJob.objects.exists()
    job = ExportJob.objects.create(
        agency=processed_case.agency, case=processed_case, created_by=sam,
        status=ExportJob.Status.DONE, folder="x",
    )  # fmt: skip
    client = client_for(iris)
    for name in ("triage:export_detail", "triage:export_download"):
        assert client.get(reverse(name, kwargs={"export": job.uuid})).status_code == 404
    assert (
        client.get(reverse("triage:export_list", kwargs={"case": processed_case.uuid})).status_code
        == 404
    )


def test_other_agency_gets_404(
    processed_case, sam, otto, oscar, client_for, django_capture_on_commit_callbacks
):
    job = ExportJob.objects.create(
        agency=processed_case.agency, case=processed_case, created_by=sam,
        status=ExportJob.Status.DONE, folder="x",
    )  # fmt: skip
    for user in (otto, oscar):
        client = client_for(user)
        response, _ = create(client, processed_case, django_capture_on_commit_callbacks)
        assert response.status_code == 404
        for name in ("triage:export_detail", "triage:export_download"):
            assert client.get(reverse(name, kwargs={"export": job.uuid})).status_code == 404
    assert ExportJob.objects.count() == 1


def test_batch_of_another_case_is_404(
    processed_case, sam, demo_agency, client_for, django_capture_on_commit_callbacks
):
    from triage.services.intake import batch_create, case_create

    other = case_create(agency=demo_agency, user=sam, reference="OP-2", title="Two")
    foreign = batch_create(case=other, user=sam, exhibit_ref="X")
    response, _ = create(
        client_for(sam), processed_case, django_capture_on_commit_callbacks, batch=foreign.uuid
    )
    assert response.status_code == 404


def test_known_fixity_failure_refuses_with_a_message(
    processed_case, sam, client_for, django_capture_on_commit_callbacks
):
    Blob.objects.filter(agency=processed_case.agency).update(fixity_ok=False)
    client = client_for(sam)
    response, _ = create(client, processed_case, django_capture_on_commit_callbacks)
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert b"Export refused" in page.content and b"fixity check" in page.content
    assert not ExportJob.objects.exists()


def test_health_page_counts_fixity_failures(processed_case, hugo, client_for):
    Blob.objects.filter(agency=processed_case.agency).update(fixity_ok=False)
    page = client_for(hugo).get(reverse("triage:hub_health"))
    assert page.status_code == 200
    assert b"4</span> stored originals failed the last fixity check" in page.content


def test_an_empty_case_offers_no_export_and_an_upload_without_a_reference_is_named_by_date(
    client_for, ivan, demo_agency, sam
):
    from triage.models import Case, EvidenceBatch

    case = Case.objects.create(
        agency=demo_agency, reference="EMPTY-1", title="Empty", created_by=ivan
    )
    client = client_for(ivan)
    url = reverse("triage:export_list", kwargs={"case": case.uuid})
    html = client.get(url).content.decode()
    assert 'data-testid="export-nothing"' in html and 'data-testid="export-new"' not in html
    batch = EvidenceBatch.objects.create(agency=demo_agency, case=case, uploaded_by=ivan)
    html = client.get(url).content.decode()
    assert 'data-testid="export-new"' in html
    assert f">{batch.uuid}<" not in html and "Upload of " in html
