"""A Demo Police case with processed benign images, one matched by a hash list and one
decided by a reviewer; Ivan is on the case's team, Iris is not."""

from __future__ import annotations

import pytest

from tests.images import make_jpeg
from triage.models import EvidenceItem, HashEntry, HashList, ItemStatus, Match, ReviewDecision
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
