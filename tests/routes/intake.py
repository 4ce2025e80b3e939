"""Routes of the intake area (cases, uploads, batches, items, evidence) for the
cross-agency walk. Builds one Other Force case with a batch, an item and a thumbnail."""

from __future__ import annotations

from tests.routes import Route


def build(world) -> None:
    import tempfile

    from django.conf import settings

    from triage.models import Derivative
    from triage.services.intake import batch_add_file, batch_create, case_create

    world.case = case_create(
        agency=world.agency, user=world.admin, reference="OF-WALK", title="Other Force case"
    )
    world.batch = batch_create(case=world.case, user=world.admin, exhibit_ref="OF/1")
    with tempfile.NamedTemporaryFile(dir=settings.UPLOAD_TEMP_ROOT, delete=False) as f:
        f.write(b"other force file, not an image")
    world.item = batch_add_file(batch=world.batch, src_path=f.name, name="other.bin", move=True)
    thumb = settings.EVIDENCE_ROOT / "walk" / f"{world.item.uuid}.jpg"
    thumb.parent.mkdir(parents=True, exist_ok=True)
    thumb.write_bytes(_tiny_jpeg())
    world.derivative = Derivative.objects.create(
        item=world.item,
        kind=Derivative.Kind.THUMB,
        parent_sha256=world.item.blob.sha256 if world.item.blob else "",
        storage_path=str(thumb.relative_to(settings.EVIDENCE_ROOT)),
    )


def _case(world):
    return {"case": world.case.uuid}


def _batch(world):
    return {"batch": world.batch.uuid}


def _item(world):
    return {"item": world.item.uuid}


ROUTES = {
    "triage:case_list": Route(methods=("GET",)),
    "triage:case_create": Route(role="investigator"),
    "triage:case_detail": Route(kwargs=_case, methods=("GET",)),
    "triage:case_edit": Route(kwargs=_case),
    "triage:batch_upload": Route(kwargs=_case),
    "triage:batch_detail": Route(kwargs=_batch, methods=("GET",)),
    "triage:batch_progress": Route(kwargs=_batch, methods=("GET",)),
    "triage:item_detail": Route(kwargs=_item, methods=("GET",)),
    "triage:item_thumb": Route(kwargs=lambda w: {**_item(w), "kind": "thumb"}, methods=("GET",)),
    "triage:item_original": Route(kwargs=_item, methods=("GET",)),
}


def _tiny_jpeg() -> bytes:
    """A real (benign, generated) 8x8 JPEG: the thumb view decodes it for grayscale."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (90, 140, 200)).save(buf, format="JPEG")
    return buf.getvalue()
