"""The demo batch: generated, benign images (a few near-duplicates of each other),
processed inline. Idempotent."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from PIL import Image

from triage.synthetic import pattern

DEMO_LIST = "Demo known list"
DEMO_CASE = "DEMO-001"
DEMO_EXHIBIT = "DEMO-EX-1"


def _demo_files(folder: Path) -> list[Path]:
    paths = []
    for seed in range(8):
        path = folder / f"photo-{seed + 1:02d}.jpg"
        Image.fromarray(pattern(seed + 100)).save(path, quality=90)
        paths.append(path)
    # Near-duplicates: re-encoded smaller, mirrored, and slightly cropped copies.
    base = Image.open(paths[0])
    base.resize((320, 240)).save(folder / "photo-01-small.jpg", quality=70)
    base.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "photo-01-mirror.jpg")
    Image.open(paths[1]).crop((8, 8, 632, 472)).save(folder / "photo-02-crop.png")
    buf = io.BytesIO()
    Image.open(paths[2]).save(buf, format="JPEG", quality=50)
    (folder / "photo-03-recompressed.jpg").write_bytes(buf.getvalue())
    return sorted(folder.iterdir())


def _demo_known_list(agency, user, files: dict) -> None:
    """A small known-hash list, so the demo shows both kinds of known material: photo-05 is
    listed by its exact hashes (auto-graded, no one needs to look) and photo-07 by its PDQ
    only (a perceptual match for a person to confirm)."""
    from triage.matching.lists import hashlist_create
    from triage.media import hash_file
    from triage.models import HashEntry, HashList

    if HashList.objects.filter(agency=agency, name=DEMO_LIST).exists():
        return
    hash_list = hashlist_create(agency=agency, user=user, name=DEMO_LIST)
    exact = hash_file(files["photo-05.jpg"])
    HashEntry.objects.create(
        hash_list=hash_list,
        md5=exact["md5"],
        sha1=exact["sha1"],
        sha256=exact["sha256"],
        category="0",
        source_ref="demo-1",
    )
    near = hash_file(files["photo-07.jpg"])
    HashEntry.objects.create(
        hash_list=hash_list,
        pdq=near["pdq"],
        pdq_quality=near["pdq_quality"],
        category="0",
        source_ref="demo-2",
    )


def load_demo_batch(agency) -> str:
    from hub.models import Membership, Role
    from triage.models import Case, EvidenceBatch
    from triage.services.intake import (
        batch_add_file,
        batch_create,
        batch_progress,
        case_create,
        process_batch_now,
    )

    existing = EvidenceBatch.objects.filter(
        agency=agency, case__reference=DEMO_CASE, exhibit_ref=DEMO_EXHIBIT
    ).first()
    if existing is not None:
        if existing.status != EvidenceBatch.Status.COMPLETE:
            process_batch_now(existing)
        return f"Demo batch already loaded ({existing.items.count()} items in {DEMO_CASE})."
    admin = Membership.objects.filter(agency=agency, role=Role.ADMIN).select_related("user").first()
    user = admin.user if admin else None
    # Everyone in the demo agency is on the demo case's team, so every persona sees it.
    team = [m.user for m in Membership.objects.filter(agency=agency).select_related("user")]
    case = Case.objects.filter(agency=agency, reference=DEMO_CASE).first() or case_create(
        agency=agency,
        user=user,
        reference=DEMO_CASE,
        title="Demo case (generated images)",
        team=team,
    )
    batch = batch_create(
        case=case, user=user, exhibit_ref=DEMO_EXHIBIT, note="Generated images", source="cli"
    )
    with tempfile.TemporaryDirectory() as tmp:
        paths = _demo_files(Path(tmp))
        _demo_known_list(agency, user, {p.name: p for p in paths})
        for path in paths:
            batch_add_file(batch=batch, src_path=path, name=path.name, move=True)
    process_batch_now(batch, user=user)
    p = batch_progress(batch)
    return f"Demo batch loaded in {DEMO_CASE}: {p['found']} items, {p['done']} processed."
