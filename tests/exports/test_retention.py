"""Export retention: the hourly sweep deletes old exports' files (per agency, 0 keeps them),
by hand for the creator or a supervisor, 410 Gone afterwards, the policy field, the beat
entry and the task's hub-wide scope."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.urls import reverse
from django.utils import timezone

from hub import db_scope
from hub.celery import app
from hub.forms import AgencySettingsForm
from hub.models import AuditEvent
from hub.policy import AgencyPolicy
from tests.api.conftest import error_of
from triage.exports import services, tasks
from triage.models import ExportJob
from triage.services.intake import case_create

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def set_retention(agency, days) -> None:
    agency.settings = {**(agency.settings or {}), "export_retention_days": days}
    agency.save(update_fields=["settings"])


def files_of(job, settings) -> list:
    """The export's folder and zip under EVIDENCE_ROOT, whichever exist."""
    base = settings.EVIDENCE_ROOT / str(job.agency.uuid) / "exports"
    return [p for p in (base / str(job.uuid), base / f"{job.uuid}.zip") if p.exists()]


def expired_events(job, action="export.expired"):
    return AuditEvent.objects.filter(action=action, object_id=str(job.uuid))


# --- the sweep ---------------------------------------------------------------------------


def test_sweep_deletes_files_marks_expired_and_audits(ready_export, settings):
    job = ready_export
    assert len(files_of(job, settings)) == 2
    assert job.agency.policy.export_retention_days == 30  # the documented default
    now = job.finished_at + 30 * DAY + timedelta(seconds=1)

    assert services.expire_exports(now=now) == 1

    job.refresh_from_db()
    assert job.status == ExportJob.Status.EXPIRED and job.expired_at == now
    assert job.get_status_display() == "Expired (deleted)"
    assert files_of(job, settings) == []
    assert list((settings.EVIDENCE_ROOT / str(job.agency.uuid) / "exports").iterdir()) == []
    event = expired_events(job).get()
    assert event.actor is None and event.actor_label == "system"
    assert event.agency == job.agency
    assert event.data["reason"] == "retention" and event.data["retention_days"] == 30
    assert event.data["status_before"] == "done"
    assert event.data["case"] == str(job.case.uuid)
    assert sorted(event.data["removed"]) == sorted(
        [job.folder, job.folder + ".zip"]
    )  # what was on disk, relative to EVIDENCE_ROOT


def test_sweep_leaves_fresh_exports_alone(ready_export, settings):
    now = ready_export.finished_at + 30 * DAY - timedelta(seconds=1)
    assert services.expire_exports(now=now) == 0
    ready_export.refresh_from_db()
    assert ready_export.status == ExportJob.Status.DONE and ready_export.expired_at is None
    assert len(files_of(ready_export, settings)) == 2
    assert not expired_events(ready_export).exists()


def test_sweep_is_idempotent(file_export, case, ivan, settings):
    old = file_export(case, ivan, finished_at=timezone.now() - 40 * DAY)
    now = timezone.now()
    assert services.expire_exports(now=now) == 1
    assert services.expire_exports(now=now) == 0
    assert services.expire_exports(now=now + 400 * DAY) == 0
    old.refresh_from_db()
    assert old.status == ExportJob.Status.EXPIRED and old.expired_at == now
    assert expired_events(old).count() == 1


def test_retention_is_per_agency_and_zero_keeps_forever(
    file_export, case, ivan, other_agency, oscar, settings
):
    elsewhere = case_create(agency=other_agency, user=oscar, reference="OF-1", title="Other")
    now = timezone.now()
    set_retention(case.agency, 7)
    set_retention(other_agency, 0)
    week_old = file_export(case, ivan, finished_at=now - 8 * DAY)
    days_old = file_export(case, ivan, finished_at=now - 6 * DAY)
    ancient = file_export(elsewhere, oscar, finished_at=now - 3651 * DAY)

    assert services.expire_exports(now=now) == 1
    for job in (week_old, days_old, ancient):
        job.refresh_from_db()
    assert week_old.status == ExportJob.Status.EXPIRED and not files_of(week_old, settings)
    assert days_old.status == ExportJob.Status.DONE and len(files_of(days_old, settings)) == 2
    assert ancient.status == ExportJob.Status.DONE and len(files_of(ancient, settings)) == 2
    # The other agency's event, had there been one, would be on its own chain.
    assert not AuditEvent.objects.filter(agency=other_agency, action="export.expired").exists()

    set_retention(other_agency, 3650)
    assert services.expire_exports(now=now) == 1
    ancient.refresh_from_db()
    assert ancient.status == ExportJob.Status.EXPIRED
    assert AuditEvent.objects.get(action="export.expired", object_id=str(ancient.uuid)).agency == (
        other_agency
    )


def test_refused_and_failed_exports_expire_too_and_active_ones_never(file_export, case, ivan):
    now = timezone.now()
    refused = file_export(case, ivan, status="refused", finished_at=now - 31 * DAY)
    # No finished_at (a row from before it was recorded): its creation time counts.
    failed = file_export(case, ivan, status="failed", created_at=now - 31 * DAY)
    running = file_export(case, ivan, status="running", created_at=now - 90 * DAY)
    pending = file_export(case, ivan, status="pending", created_at=now - 90 * DAY)

    assert services.expire_exports(now=now) == 2
    statuses = dict(ExportJob.objects.values_list("pk", "status"))
    assert statuses == {
        refused.pk: "expired",
        failed.pk: "expired",
        running.pk: "running",
        pending.pk: "pending",
    }
    assert expired_events(refused).get().data["removed"] == []  # nothing was on disk


def test_a_crashed_builds_temp_files_go_too(file_export, case, ivan, settings):
    job = file_export(case, ivan, status="failed", finished_at=timezone.now() - 31 * DAY)
    base = settings.EVIDENCE_ROOT / str(case.agency.uuid) / "exports"
    base.mkdir(parents=True)
    (base / f".tmp-{job.uuid}").mkdir()
    (base / f".tmp-{job.uuid}" / "vics.json").write_text("{}")
    (base / f".tmp-{job.uuid}.zip").write_bytes(b"partial")
    assert services.expire_exports() == 1
    assert list(base.iterdir()) == []


def test_sweep_never_follows_a_path_out_of_the_store(file_export, case, ivan, settings, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("not the hub's to delete")
    old = timezone.now() - 40 * DAY

    # A folder field that points out of the agency's exports: ignored.
    stray = file_export(case, ivan, status="failed", finished_at=old)
    ExportJob.objects.filter(pk=stray.pk).update(folder="../outside")
    # The export's own folder replaced by a symlink to a folder outside: the link goes,
    # what it points at stays.
    linked = file_export(case, ivan, finished_at=old)
    folder = settings.EVIDENCE_ROOT / linked.folder
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()
    folder.symlink_to(outside, target_is_directory=True)

    assert services.expire_exports() == 2
    assert (outside / "precious.txt").read_text() == "not the hub's to delete"
    assert not folder.is_symlink() and not folder.exists()
    assert ExportJob.objects.filter(status="expired").count() == 2


def test_a_deletion_that_fails_is_rolled_back_and_retried(
    file_export, case, ivan, settings, monkeypatch
):
    old = timezone.now() - 40 * DAY
    stuck = file_export(case, ivan, finished_at=old)
    fine = file_export(case, ivan, finished_at=old)
    real_remove = services._remove

    def remove(path):
        if str(stuck.uuid) in path.name:
            raise PermissionError(13, "Permission denied", str(path))
        return real_remove(path)

    monkeypatch.setattr(services, "_remove", remove)
    assert services.expire_exports() == 1  # the other export is not held up
    stuck.refresh_from_db()
    fine.refresh_from_db()
    assert stuck.status == ExportJob.Status.DONE and stuck.expired_at is None
    assert not expired_events(stuck).exists()
    assert fine.status == ExportJob.Status.EXPIRED

    monkeypatch.setattr(services, "_remove", real_remove)
    assert services.expire_exports() == 1  # the next run finishes it
    stuck.refresh_from_db()
    assert stuck.status == ExportJob.Status.EXPIRED and not files_of(stuck, settings)


def test_expire_claims_each_export_once(file_export, case, ivan):
    """Two sweeps (or a sweep and a click) on one export: one wins, the other is a no-op."""
    job = file_export(case, ivan, finished_at=timezone.now() - 40 * DAY)
    now = timezone.now()
    assert services._expire(job.pk, action="export.expired", now=now) is True
    assert services._expire(job.pk, action="export.expired", now=now) is False
    assert services.export_delete(job=job, user=ivan) is False
    assert AuditEvent.objects.filter(object_id=str(job.uuid)).count() == 1


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_an_export_another_sweep_holds_is_skipped_not_waited_for(file_export, case, ivan):
    if connection.vendor != "postgresql":
        pytest.skip("SELECT ... FOR UPDATE SKIP LOCKED needs PostgreSQL")
    job = file_export(case, ivan, finished_at=timezone.now() - 40 * DAY)
    locked, release = threading.Event(), threading.Event()
    errors = []

    def other_sweep():
        try:
            with transaction.atomic():
                ExportJob.objects.select_for_update().get(pk=job.pk)
                locked.set()
                release.wait(30)
        except BaseException as exc:  # reported below
            errors.append(exc)
            locked.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_sweep)
    thread.start()
    try:
        assert locked.wait(30)
        assert services.expire_exports() == 0  # returns at once: the row is skipped
        job.refresh_from_db()
        assert job.status == ExportJob.Status.DONE
    finally:
        release.set()
        thread.join(30)
    assert not errors
    assert services.expire_exports() == 1


# --- the task, its beat entry and its scope ----------------------------------------------


def test_beat_runs_the_task_hourly_and_it_is_hub_wide(file_export, case, ivan):
    entries = [e for e in app.conf.beat_schedule.values() if e["task"] == "triage.exports.expire"]
    assert entries == [
        {"task": "triage.exports.expire", "schedule": 3600.0, "options": {"expires": 3600.0}}
    ]
    assert tasks.expire.name in app.tasks
    assert "triage.exports.expire" in db_scope.HUB_WIDE_TASKS
    assert app.conf.task_routes["triage.exports.*"] == {"queue": "maintenance"}

    # In a worker the task runs across agencies, whatever scope queued it.
    class FakeTask:
        name = tasks.expire.name
        request = None

    with db_scope.agency_scope(case.agency):
        db_scope.on_task_prerun(task_id="t-1", task=FakeTask())
        try:
            assert db_scope.current() == db_scope.ALL
        finally:
            db_scope.on_task_postrun(task_id="t-1")
        assert db_scope.current() == str(case.agency.pk)

    # The task is thin: it calls the sweep.
    file_export(case, ivan, finished_at=timezone.now() - 40 * DAY)
    assert tasks.expire.delay().get() == {"expired": 1}


# --- by hand: the web page ---------------------------------------------------------------


def delete_url(job) -> str:
    return reverse("triage:export_delete", kwargs={"export": job.uuid})


def download_url(job) -> str:
    return reverse("triage:export_download", kwargs={"export": job.uuid})


def test_creator_deletes_from_the_exports_page(ready_export, ivan, client_for, settings):
    client = client_for(ivan)
    page = client.get(reverse("triage:export_list", kwargs={"case": ready_export.case.uuid}))
    assert b'data-testid="export-delete"' in page.content
    assert delete_url(ready_export).encode() in page.content

    assert client.get(delete_url(ready_export)).status_code == 405  # POST only
    response = client.post(delete_url(ready_export))
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "triage:export_list", kwargs={"case": ready_export.case.uuid}
    )
    ready_export.refresh_from_db()
    assert ready_export.status == ExportJob.Status.EXPIRED and not files_of(ready_export, settings)
    event = expired_events(ready_export, "export.deleted").get()
    assert event.actor == ivan and event.data["reason"] == "deleted by hand"
    assert not expired_events(ready_export).exists()

    page = client.get(response["Location"])
    assert b"Export deleted" in page.content
    date = f"{timezone.localtime(ready_export.expired_at):%-d %b %Y}".encode()
    assert b"Expired on " + date + b" (kept 0 days)" in page.content
    assert b'data-testid="export-download"' not in page.content
    assert b'data-testid="export-delete"' not in page.content


def test_delete_by_htmx_answers_the_row(ready_export, sam, client_for):
    response = client_for(sam).post(delete_url(ready_export), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b'data-testid="export-row"' in response.content
    assert b'data-testid="export-expired"' in response.content
    assert b"Download zip" not in response.content


def test_supervisor_may_delete_another_persons_export(ready_export, sam, client_for):
    assert client_for(sam).post(delete_url(ready_export)).status_code == 302
    ready_export.refresh_from_db()
    assert ready_export.status == ExportJob.Status.EXPIRED
    assert expired_events(ready_export, "export.deleted").get().actor == sam


def test_another_investigator_on_the_case_may_not_delete(ready_export, ines, client_for, settings):
    client = client_for(ines)
    # Ines sees the export (she is on the case) but gets no button, and a 403.
    page = client.get(reverse("triage:export_list", kwargs={"case": ready_export.case.uuid}))
    assert page.status_code == 200 and str(ready_export.uuid).encode() in page.content
    assert b'data-testid="export-delete"' not in page.content
    assert client.post(delete_url(ready_export)).status_code == 403
    ready_export.refresh_from_db()
    assert ready_export.status == ExportJob.Status.DONE
    assert len(files_of(ready_export, settings)) == 2
    assert not AuditEvent.objects.filter(action="export.deleted").exists()


def test_those_who_do_not_see_the_export_get_404(
    ready_export, iris, otto, oscar, client_for, settings
):
    for user in (iris, otto, oscar):
        assert client_for(user).post(delete_url(ready_export)).status_code == 404, user
    ready_export.refresh_from_db()
    assert ready_export.status == ExportJob.Status.DONE
    assert len(files_of(ready_export, settings)) == 2


def test_an_export_still_being_made_is_not_deleted(file_export, case, ivan, client_for):
    job = file_export(case, ivan, status="running")
    client = client_for(ivan)
    response = client.post(delete_url(job), follow=True)
    assert b"still being made" in response.content
    job.refresh_from_db()
    assert job.status == ExportJob.Status.RUNNING


def test_download_of_an_expired_export_is_410(ready_export, ivan, client_for):
    services.expire_exports(now=ready_export.finished_at + 31 * DAY)
    response = client_for(ivan).get(download_url(ready_export))
    assert response.status_code == 410
    assert b"This export was deleted on" in response.content
    assert b"kept 31 days" in response.content and b"Start a new export" in response.content
    assert "no-store" in response["Cache-Control"]
    assert not AuditEvent.objects.filter(action="export.downloaded").exists()
    detail = client_for(ivan).get(
        reverse("triage:export_detail", kwargs={"export": ready_export.uuid})
    )
    assert detail.status_code == 200 and b"(kept 31 days)" in detail.content


# --- by hand: the API --------------------------------------------------------------------


def api_url(job) -> str:
    return reverse("triage:api_export", kwargs={"export": job.uuid})


def test_api_delete_by_creator_then_410(ready_export, ivan, api_for, settings):
    api = api_for(ivan)
    before = api.get(api_url(ready_export)).json()
    assert before["status"] == "done" and before["expired_at"] is None

    response = api.delete(api_url(ready_export))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "expired" and body["status_label"] == "Expired (deleted)"
    assert body["expired_at"] and body["download_url"] is None and body["files"] == []
    assert not files_of(ready_export, settings)
    assert expired_events(ready_export, "export.deleted").get().actor == ivan

    # Deleting again changes nothing.
    assert api.delete(api_url(ready_export)).status_code == 200
    assert AuditEvent.objects.filter(action="export.deleted").count() == 1

    for file in ("bundle", "csv", "manifest"):
        response = api.get(
            reverse("triage:api_export_download", kwargs={"export": ready_export.uuid}),
            {"file": file},
        )
        assert response.status_code == 410, (file, response.content)
        error = error_of(response)
        assert error["code"] == "export_expired"
        assert error["message"].startswith("This export was deleted on")
        assert error["details"]["status"] == "expired" and error["details"]["expired_at"]
    assert api.get(api_url(ready_export)).json()["status"] == "expired"


def test_api_delete_who_may(ready_export, ines, sam, iris, oscar, api_for, settings):
    response = api_for(ines).delete(api_url(ready_export))
    assert response.status_code == 403 and error_of(response)["code"] == "permission_denied"
    for user in (iris, oscar):
        response = api_for(user).delete(api_url(ready_export))
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    ready_export.refresh_from_db()
    assert ready_export.status == ExportJob.Status.DONE
    assert len(files_of(ready_export, settings)) == 2
    assert api_for(sam).delete(api_url(ready_export)).status_code == 200


def test_api_delete_of_an_export_being_made_is_409(file_export, case, ivan, api_for):
    job = file_export(case, ivan, status="pending")
    response = api_for(ivan).delete(api_url(job))
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "export_not_deletable" and "still being made" in error["message"]


def test_schema_documents_delete_and_410(api_for, ivan):
    import yaml

    schema = yaml.safe_load(api_for(ivan).get(reverse("triage:api_schema")).content)
    detail = schema["paths"]["/api/v1/exports/{export}/"]
    assert {"200", "403", "404", "409"} <= set(detail["delete"]["responses"])
    download = schema["paths"]["/api/v1/exports/{export}/download/"]["get"]
    assert "410" in download["responses"]
    export = schema["components"]["schemas"]["Export"]["properties"]
    assert export["expired_at"]["nullable"] is True
    assert "expired" in str(schema["components"]["schemas"])


# --- the policy field ----------------------------------------------------------------------


def settings_form(**changes) -> dict:
    data = AgencySettingsForm.initial_for(AgencyPolicy())
    data = {k: v for k, v in data.items() if v is not False}  # unchecked boxes are absent
    data = {k: ("on" if v is True else v) for k, v in data.items()}
    data.update(changes)
    return data


@pytest.mark.parametrize("value", [-1, 3651, "thirty", ""])
def test_settings_refuse_an_invalid_export_retention(value, client_for, alice, demo_agency):
    response = client_for(alice).post(
        reverse("hub:agency_settings"), settings_form(export_retention_days=value)
    )
    assert response.status_code == 400
    assert "export_retention_days" in response.context["form"].errors
    demo_agency.refresh_from_db()
    assert demo_agency.settings == {}


@pytest.mark.parametrize("value", [0, 7, 3650])
def test_settings_store_and_audit_the_export_retention(value, client_for, alice, demo_agency):
    client = client_for(alice)
    page = client.get(reverse("hub:agency_settings"))
    assert b'name="export_retention_days"' in page.content
    assert b"Keep exports for (days)" in page.content

    response = client.post(
        reverse("hub:agency_settings"), settings_form(export_retention_days=value)
    )
    assert response.status_code == 302
    demo_agency.refresh_from_db()
    assert demo_agency.policy.export_retention_days == value
    event = AuditEvent.objects.get(action="agency.settings_changed")
    assert event.data["changes"]["export_retention_days"] == {"old": 30, "new": value}
