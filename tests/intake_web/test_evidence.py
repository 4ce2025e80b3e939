"""The item page and evidence serving: access checks, headers, and the audit trail."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from hub.models import AuditEvent
from triage.models import Derivative, EvidenceItem

from .helpers import image_bytes, upload_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def item(client_for, ivan, case, post_upload):
    post_upload(client_for(ivan), case, [upload_file("scene.png", image_bytes(7), "image/png")])
    item = EvidenceItem.objects.get(case=case, original_name="scene.png")
    assert item.blob is not None
    return item


def derivative(item, kind="blurred", data=None) -> Derivative:
    """The pipeline's derivative if it made one, else a generated stand-in."""
    existing = item.derivatives.filter(kind=kind).first()
    if existing is not None:
        return existing
    rel = f"derivatives/test/{item.uuid}-{kind}.jpg"
    path = settings.EVIDENCE_ROOT / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data or image_bytes(8, "JPEG", size=64))
    return Derivative.objects.create(
        item=item, kind=kind, parent_sha256=item.blob.sha256, storage_path=rel
    )


def url(name, item, **kw):
    return reverse(f"triage:{name}", kwargs={"item": item.uuid, **kw})


def test_item_page_shows_provenance_hashes_and_blurred_preview(client_for, ivan, item):
    derivative(item, "blurred")
    response = client_for(ivan).get(url("item_detail", item))
    assert response.status_code == 200
    html = response.content.decode()
    assert item.blob.sha256 in html and item.blob.md5 in html and item.blob.sha1 in html
    assert "scene.png" in html and "EX/1" in html and "ivan" in html
    assert 'class="evidence-thumb blur gray"' in html
    assert url("item_thumb", item, kind="blurred") in html
    # The original is a download link only, never embedded.
    assert f'src="{url("item_original", item)}"' not in html
    assert url("item_original", item) in html
    for section in ("item-matches", "item-provenance", "item-hashes"):
        assert f'data-testid="{section}"' in html
    event = AuditEvent.objects.filter(action="evidence.item_viewed").last()
    assert event.actor == ivan and event.object_id == str(item.uuid)
    assert event.agency == item.agency


def test_thumb_is_served_with_safe_headers_and_audited(client_for, ivan, item):
    d = derivative(item, "thumb")
    before = AuditEvent.objects.filter(action="evidence.served").count()
    ivan.prefers_grayscale = False  # as stored (colour); grayscale is tested in tests/review
    ivan.save(update_fields=["prefers_grayscale"])
    response = client_for(ivan).get(url("item_thumb", item, kind="thumb"))
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body == (settings.EVIDENCE_ROOT / d.storage_path).read_bytes()
    assert response["Cache-Control"].startswith("no-store")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"].startswith("image/")
    assert "attachment" not in response.get("Content-Disposition", "")
    events = AuditEvent.objects.filter(action="evidence.served")
    assert events.count() == before + 1
    assert events.last().data["kind"] == "thumb" and events.last().actor == ivan


def test_original_is_an_audited_attachment(client_for, sam, item):
    response = client_for(sam).get(url("item_original", item))
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body == image_bytes(7)
    assert response["Content-Disposition"].startswith("attachment")
    assert "scene.png" in response["Content-Disposition"]
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Cache-Control"].startswith("no-store")
    assert response["X-Content-Type-Options"] == "nosniff"
    event = AuditEvent.objects.filter(action="evidence.served").last()
    assert event.data["kind"] == "original" and event.actor == sam


def test_other_agency_and_off_team_get_404_and_no_audit(client_for, oscar, otto, iris, item):
    derivative(item, "thumb")
    served = AuditEvent.objects.filter(action__in=("evidence.served", "evidence.item_viewed"))
    before = served.count()
    for person in (oscar, otto, iris):
        client = client_for(person)
        assert client.get(url("item_detail", item)).status_code == 404
        assert client.get(url("item_thumb", item, kind="thumb")).status_code == 404
        assert client.get(url("item_original", item)).status_code == 404
    assert served.count() == before


def test_unknown_kind_missing_file_and_path_escape_are_404(client_for, ivan, item, tmp_path):
    client = client_for(ivan)
    assert client.get(url("item_thumb", item, kind="original")).status_code == 404
    assert client.get(url("item_thumb", item, kind="contact_sheet")).status_code == 404
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"secret")
    Derivative.objects.create(
        item=item, kind="contact_sheet", parent_sha256="x", storage_path="../outside.jpg"
    )
    assert client.get(url("item_thumb", item, kind="contact_sheet")).status_code == 404


def test_serving_needs_login(client, item):
    response = client.get(url("item_original", item))
    assert response.status_code == 302 and "login" in response["Location"]


def test_no_public_media_url(client_for, ivan, item):
    rel = item.blob.storage_path
    for prefix in ("/media/", "/evidence/", "/static/"):
        assert client_for(ivan).get(prefix + rel).status_code == 404
