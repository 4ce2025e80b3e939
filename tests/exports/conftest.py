"""A Demo Police case with processed benign images, one matched by a hash list and one
decided by a reviewer; Ivan is on the case's team, Iris is not. For retention and deletion:
a finished export of it made by Ivan, Ines (on the team, made no export), exports with
files on disk but nothing built, and bearer-token API clients."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from hub.models import Role
from tests.conftest import make_user
from tests.images import make_jpeg
from triage.api.tokens import api_token_create
from triage.exports import services
from triage.models import (
    EvidenceItem,
    ExportJob,
    HashEntry,
    HashList,
    ItemStatus,
    Match,
    ReviewDecision,
)
from triage.services.intake import batch_add_file, batch_create, case_create, process_batch_now


@pytest.fixture
def case(sam, ivan, demo_agency):
    return case_create(
        agency=demo_agency, user=sam, reference="OP-EXPORT", title="Export case", team=[ivan]
    )


@pytest.fixture
def processed_case(case, sam, tmp_path):
    """Three generated JPEGs and one non-image file, processed inline."""
    files = tmp_path / "files"
    files.mkdir()
    batch = batch_create(case=case, user=sam, exhibit_ref="EX-1", source="cli")
    for n in range(3):
        path = make_jpeg(files / f"photo{n}.jpg", seed=n, size=(160, 120))
        batch_add_file(
            batch=batch, src_path=path, name=path.name, relative_path=f"dcim/{path.name}"
        )
    note = files / "=notes.txt"
    note.write_bytes(b"just a note, not an image")
    batch_add_file(batch=batch, src_path=note, name=note.name)
    process_batch_now(batch)
    items = list(EvidenceItem.objects.filter(case=case).select_related("blob").order_by("id"))
    assert {i.status for i in items} <= {ItemStatus.DONE, ItemStatus.SKIPPED, ItemStatus.FAILED}

    # One item matched by a hash list, one decided by a reviewer (ORM, not the review flow).
    known = HashList.objects.create(agency=case.agency, name="Known list")
    entry = HashEntry.objects.create(hash_list=known, md5=items[0].blob.md5, category="1")
    Match.objects.create(item=items[0], entry=entry, hash_list=known, algorithm="md5")
    EvidenceItem.objects.filter(pk=items[0].pk).update(
        known_state="exact", category="1", is_precategorized=True,
        precategorization_source="Known list",
    )  # fmt: skip
    ReviewDecision.objects.create(
        agency=case.agency, item=items[1], reviewer=sam, kind="first", category="0"
    )
    EvidenceItem.objects.filter(pk=items[1].pk).update(category="0", review_state="reviewed")
    case.refresh_from_db()
    return case


# --- retention and deletion: exports built for real, and cheap ones with files on disk ----


def build_export(case, user, batch=None):
    """An export of ``case`` built in-process (the task's body, called directly)."""
    job = services.export_create(case=case, user=user, batch=batch)
    services.export_run(job.pk)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE, job.error
    return job


@pytest.fixture
def ready_export(processed_case, ivan):
    """A finished export of the processed case, made by Ivan (an investigator on it)."""
    return build_export(processed_case, ivan)


@pytest.fixture
def ines(demo_agency, case):
    """An investigator on the case's team who made no export of it."""
    user = make_user("ines", demo_agency, Role.INVESTIGATOR, first_name="Ines")
    case.team.add(user)
    return user


@pytest.fixture
def file_export(settings):
    """``file_export(case, user, finished_at=..., status=...)``: an ExportJob row with a
    folder and a zip on disk where the hub puts them, without building anything."""

    def make(case, user, *, finished_at=None, status="done", created_at=None):
        job = ExportJob.objects.create(
            agency=case.agency,
            case=case,
            created_by=user,
            status=status,
            progress=100,
            created_at=created_at or finished_at or timezone.now(),
            finished_at=finished_at,
        )
        if status == ExportJob.Status.DONE:
            job.folder = f"{case.agency.uuid}/exports/{job.uuid}"
            job.save(update_fields=["folder"])
            folder = settings.EVIDENCE_ROOT / job.folder
            folder.mkdir(parents=True)
            (folder / "items.csv").write_text("sha256\n")
            (folder / "manifest.json").write_text("{}")
            (folder.parent / f"{job.uuid}.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
        return job

    return make


@pytest.fixture
def api_for():
    """``api_for(user)`` -> an APIClient with a bearer token of the user's agency."""

    def make(user):
        agency = user.memberships.get().agency
        _, raw = api_token_create(user=user, agency=agency, name="test", lifetime_days=30)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client

    return make
