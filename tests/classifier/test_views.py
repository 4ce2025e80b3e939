"""Model pages as personas: admin acts, investigator 403, other agency's model 404."""

from __future__ import annotations

import pytest
from django.urls import reverse

from hub.models import AuditEvent
from tests import onnx_models
from tests.classifier.conftest import solid
from triage.classifier.service import classify_items
from triage.models import AgencyModelSetting, ClassifierModel, ReviewDecision, ReviewState

pytestmark = pytest.mark.django_db


def test_list_shows_hub_and_own_models_not_others(
    client_for, alice, tiny_model, demo_agency, other_agency
):
    hub = tiny_model(agency=None, name="hubmodel")
    ours = tiny_model(agency=demo_agency, name="ourmodel")
    tiny_model(agency=other_agency, name="theirmodel")
    r = client_for(alice).get(reverse("triage:model_list"))
    assert r.status_code == 200
    body = r.content.decode()
    assert "hubmodel" in body and "ourmodel" in body and "theirmodel" not in body
    assert ours.sha256[:14] in body and hub.version in body


def test_investigator_and_supervisor_are_forbidden(client_for, ivan, sam, tiny_model, demo_agency):
    model = tiny_model(agency=demo_agency)
    for user in (ivan, sam):
        c = client_for(user)
        assert c.get(reverse("triage:model_list")).status_code == 403
        assert c.get(reverse("triage:model_register")).status_code == 403
        assert (
            c.get(reverse("triage:model_calibration", kwargs={"model": model.uuid})).status_code
            == 403
        )
        url = reverse("triage:model_toggle", kwargs={"model": model.uuid})
        assert c.post(url, {"enabled": "0"}).status_code == 403


def test_other_agencys_model_is_404(client_for, alice, tiny_model, other_agency):
    theirs = tiny_model(agency=other_agency)
    c = client_for(alice)
    assert (
        c.get(reverse("triage:model_calibration", kwargs={"model": theirs.uuid})).status_code == 404
    )
    assert (
        c.post(
            reverse("triage:model_toggle", kwargs={"model": theirs.uuid}), {"enabled": "0"}
        ).status_code
        == 404
    )
    assert (
        c.post(
            reverse("triage:model_calibration", kwargs={"model": theirs.uuid}), {"threshold": "0.1"}
        ).status_code
        == 404
    )
    assert not AgencyModelSetting.objects.exists()


def test_admin_disables_hub_model_for_own_agency_only(
    client_for, alice, tiny_model, demo_agency, other_agency
):
    hub = tiny_model(agency=None)
    r = client_for(alice).post(
        reverse("triage:model_toggle", kwargs={"model": hub.uuid}), {"enabled": "0"}
    )
    assert r.status_code == 302
    assert AgencyModelSetting.objects.get(agency=demo_agency, model=hub).is_enabled is False
    hub.refresh_from_db()
    assert hub.is_enabled  # still on hub-wide
    event = AuditEvent.objects.get(action="classifier.model_disabled")
    assert event.agency == demo_agency and event.data["old"] is True and event.data["new"] is False


def test_operator_switches_hub_models_but_cannot_see_agency_models(
    client_for, hugo, tiny_model, demo_agency
):
    hub = tiny_model(agency=None, name="hubmodel")
    ours = tiny_model(agency=demo_agency, name="ourmodel")
    c = client_for(hugo)
    body = c.get(reverse("triage:model_list")).content.decode()
    assert "hubmodel" in body and "ourmodel" not in body
    assert (
        c.post(
            reverse("triage:model_toggle", kwargs={"model": ours.uuid}), {"enabled": "0"}
        ).status_code
        == 404
    )
    c.post(reverse("triage:model_toggle", kwargs={"model": hub.uuid}), {"enabled": "0"})
    hub.refresh_from_db()
    assert hub.is_enabled is False


def _upload_files(tmp_path, model=None, **kw):
    from django.core.files.uploadedfile import SimpleUploadedFile

    manifest, onnx_path, _ = onnx_models.write_model_dir(tmp_path / "up", model, **kw)
    return {
        "manifest": SimpleUploadedFile("manifest.toml", manifest.read_bytes()),
        "onnx": SimpleUploadedFile("model.onnx", onnx_path.read_bytes()),
    }


def test_admin_registers_a_model_in_the_browser(client_for, alice, demo_agency, tmp_path):
    c = client_for(alice)
    assert c.get(reverse("triage:model_register")).status_code == 200
    r = c.post(reverse("triage:model_register"), _upload_files(tmp_path, name="uploaded"))
    assert r.status_code == 302, r.content.decode()[:2000]
    model = ClassifierModel.objects.get(name="uploaded")
    assert model.agency == demo_agency
    assert AuditEvent.objects.filter(
        action="classifier.model_registered", agency=demo_agency
    ).exists()


def test_broken_upload_is_refused_with_the_reason(client_for, alice, tmp_path):
    files = _upload_files(tmp_path, onnx_models.brightness(variant="nan"), name="broken")
    r = client_for(alice).post(reverse("triage:model_register"), files)
    assert r.status_code == 400
    assert "Model refused: the test run returned NaN or infinite scores" in r.content.decode()
    assert not ClassifierModel.objects.exists()


def test_bad_manifest_upload_shows_manifest_problems(client_for, alice, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    files = _upload_files(tmp_path)
    files["manifest"] = SimpleUploadedFile("manifest.toml", b'name = "x"\nversion = "1"\n')
    r = client_for(alice).post(reverse("triage:model_register"), files)
    assert r.status_code == 400 and "[input] table is missing" in r.content.decode()


def test_operator_registers_hub_wide(client_for, hugo, tmp_path):
    r = client_for(hugo).post(
        reverse("triage:model_register"), _upload_files(tmp_path, name="hubup")
    )
    assert r.status_code == 302
    assert ClassifierModel.objects.get(name="hubup").agency is None


def test_calibration_page_and_threshold_change(
    client_for, alice, ivan, evidence, tiny_model, demo_agency
):
    model = tiny_model(agency=demo_agency)
    items = [evidence.image(solid(v)) for v in (230, 204, 51, 128)]
    classify_items(items)
    for item, category in zip(items[:3], ("1", "0", "0"), strict=True):
        ReviewDecision.objects.create(
            agency=demo_agency, item=item, reviewer=ivan, category=category
        )
    type(items[3]).objects.filter(pk=items[3].pk).update(review_state=ReviewState.QUEUED)

    c = client_for(alice)
    url = reverse("triage:model_calibration", kwargs={"model": model.uuid})
    r = c.get(url)
    assert r.status_code == 200
    rows = {row.threshold: row for row in r.context["rows"]}
    assert r.context["current"] == 0.5
    assert (rows[0.85].precision, rows[0.85].recall) == (1.0, 1.0)  # 0.902 only
    assert rows[0.75].precision == 0.5  # 0.902 and 0.8
    assert rows[0.5].moved == 0 and rows[0.55].moved == 1  # the queued 0.502 would drop
    assert r.context["labelled"] == 3 and r.context["queued_flagged"] == 1

    r = c.post(url, {"threshold": "0.8"})
    assert r.status_code == 302
    assert AgencyModelSetting.objects.get(agency=demo_agency, model=model).threshold == 0.8
    event = AuditEvent.objects.get(action="classifier.threshold_changed")
    assert (event.data["old"], event.data["new"]) == (0.5, 0.8)
    assert c.get(url).context["current"] == 0.8

    assert c.post(url, {"threshold": "1.5"}).status_code == 400


def test_scores_section_renders(evidence, tiny_model, demo_agency):
    from django.template.loader import render_to_string

    model = tiny_model(agency=demo_agency)
    video = evidence.video([solid(20, (64, 48)), solid(230, (64, 48))])
    image = evidence.image(solid(51))
    classify_items([video, image])
    html = render_to_string(
        "triage/items/_scores.html", {"item": type(video).objects.get(pk=video.pk)}
    )
    assert model.name in html and "at 0.5 s" in html
    html = render_to_string(
        "triage/items/_scores.html", {"item": type(image).objects.get(pk=image.pk)}
    )
    assert "0.200" in html and "Frame" not in html
