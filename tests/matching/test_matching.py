"""match_items: exact and PDQ matching on generated images, tombstones, the index cache,
retroactive re-matching and query bounds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from triage.matching import service
from triage.matching.importers import import_bytes
from triage.matching.index import FlatPDQIndex, MultiIndexHash, hex_to_bytes, pdq_distance
from triage.matching.lists import hashlist_create, hashlist_share, hashlist_tombstone
from triage.matching.service import match_items
from triage.models import EvidenceItem, KnownState, Match
from triage.models.matching import RematchJob

from .helpers import (
    Evidence,
    dihedral_of,
    hamming,
    jpeg,
    mirrored,
    pattern,
    pdq_of,
    png_bytes,
    resized,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    service.INDEX_CACHE.clear()
    yield
    service.INDEX_CACHE.clear()


def vics_of(images: dict[int, np.ndarray], category: int = 1) -> bytes:
    media = []
    for seed, rgb in images.items():
        data = png_bytes(rgb)
        from .helpers import crypto

        hashes = crypto(data)
        media.append(
            {
                "MediaID": seed,
                "MD5": hashes["md5"],
                "SHA1": hashes["sha1"],
                "Category": category,
                "AlternativeHashes": [{"HashName": "PDQ", "HashValue": pdq_of(rgb)[0]}],
            }
        )
    return json.dumps({"@odata.context": "x", "value": [{"Media": media}]}).encode()


@pytest.fixture
def known(demo_agency, alice):
    images = {seed: pattern(seed) for seed in (1, 2, 3)}
    hash_list = hashlist_create(agency=demo_agency, user=alice, name="Known series")
    import_bytes(hash_list, vics_of(images), "vics")
    return hash_list, images


def test_exact_and_near_duplicates_with_reference_distances(demo_agency, alice, known):
    hash_list, images = known
    ev = Evidence(demo_agency, user=alice)
    original = images[1]
    variants = {
        "exact": original,
        "jpeg": jpeg(images[2], quality=50),
        "resized": resized(images[3], 0.5),
        "mirrored": mirrored(images[1]),
    }
    items = {"exact": ev.item(original)}
    for name in ("jpeg", "resized", "mirrored"):
        items[name] = ev.item(variants[name])
    unrelated = ev.item(pattern(99))
    match_items([*items.values(), unrelated])

    exact = EvidenceItem.objects.get(pk=items["exact"].pk)
    assert exact.known_state == KnownState.EXACT and exact.best_distance == 0
    algorithms = set(Match.objects.filter(item=exact).values_list("algorithm", flat=True))
    assert {"md5", "sha1", "pdq"} <= algorithms

    listed = {1: pdq_of(images[1])[2], 2: pdq_of(images[2])[2], 3: pdq_of(images[3])[2]}
    for name, seed in (("jpeg", 2), ("resized", 3), ("mirrored", 1)):
        item = EvidenceItem.objects.get(pk=items[name].pk)
        _, _, vectors = dihedral_of(variants[name])
        expected = min(hamming(v, listed[seed]) for v in vectors)
        assert expected <= 31, f"{name}: generated variant too far ({expected})"
        assert item.known_state == KnownState.NEAR, name
        assert item.best_distance == expected, name
        match = Match.objects.get(item=item, algorithm="pdq")
        assert match.distance == expected and match.hash_list_id == hash_list.id
        assert match.quality == item.pdq_quality
    assert EvidenceItem.objects.get(pk=unrelated.pk).known_state == KnownState.UNKNOWN
    assert not Match.objects.filter(item=unrelated).exists()


def test_idempotent(demo_agency, alice, known):
    ev = Evidence(demo_agency, user=alice)
    item = ev.item(known[1][1])
    match_items([item])
    first = list(Match.objects.values_list("id", "distance"))
    match_items([item])
    assert list(Match.objects.values_list("id", "distance")) == first


def test_threshold_and_quality_gate(demo_agency, alice, known):
    hash_list, images = known
    ev = Evidence(demo_agency, user=alice)
    item = ev.item(jpeg(images[2], quality=50))
    match_items([item])
    distance = EvidenceItem.objects.get(pk=item.pk).best_distance
    assert distance is not None and distance > 0
    hash_list.pdq_threshold = distance - 1
    hash_list.version += 1
    hash_list.save()
    match_items([item])
    assert EvidenceItem.objects.get(pk=item.pk).known_state == KnownState.UNKNOWN
    hash_list.pdq_threshold = 31
    hash_list.pdq_quality_min = item.pdq_quality + 1
    hash_list.version += 1
    hash_list.save()
    match_items([item])
    assert not Match.objects.filter(item=item).exists()


def test_video_keyframes_match_with_timestamp(demo_agency, alice, known):
    from triage.models import VideoFrame

    _, images = known
    ev = Evidence(demo_agency, user=alice)
    video = ev.item(data=b"not really a video", name="clip.mp4")
    for index, (seed, ts) in enumerate(((50, 0.0), (2, 1.0))):
        rgb = jpeg(images[seed]) if seed in images else pattern(seed)
        pdq, quality, _ = pdq_of(rgb)
        VideoFrame.objects.create(item=video, index=index, timestamp=ts, pdq=pdq, quality=quality)
    match_items([video])
    match = Match.objects.get(item=video)
    assert match.frame_timestamp == 1.0
    assert EvidenceItem.objects.get(pk=video.pk).known_state == KnownState.NEAR


def test_ncmec_tombstone_removes_match_after_rematch(
    demo_agency, alice, django_capture_on_commit_callbacks
):
    from .helpers import crypto

    rgb = pattern(7)
    hashes = crypto(png_bytes(rgb))
    ncmec = hashlist_create(
        agency=demo_agency, user=alice, name="NCMEC", scheme="custom", category_map={"A1": "1"}
    )
    doc = (
        '<queryResult xmlns="https://hashsharing.ncmec.org/hashsharing/v2"><images>'
        f"<image><id>n1</id><classification>A1</classification><fingerprints>"
        f"<md5>{hashes['md5']}</md5><pdq>{pdq_of(rgb)[0]}</pdq></fingerprints></image>"
        "</images></queryResult>"
    )
    import_bytes(ncmec, doc.encode(), "ncmec")
    item = Evidence(demo_agency, user=alice).item(rgb)
    match_items([item])
    assert Match.objects.filter(item=item).count() == 2
    tombstone = (
        doc.replace("</images>", "<deletedImage><id>n1</id></deletedImage></images>")
        .replace("<image>", "<imageX>")
        .replace("</image>", "</imageX>")
    )
    with django_capture_on_commit_callbacks(execute=True):
        summary = import_bytes(ncmec, tombstone.encode(), "ncmec")
    assert summary["tombstoned"] == 1
    # The import scheduled the re-match of past items, which removed the match.
    job = RematchJob.objects.filter(hash_list=ncmec).latest("created_at")
    assert job.status == RematchJob.Status.DONE and job.changed == 1
    item.refresh_from_db()
    assert not Match.objects.filter(item=item).exists()
    assert item.known_state == KnownState.UNKNOWN and item.best_distance is None


def test_retroactive_match_after_import(demo_agency, alice, django_capture_on_commit_callbacks):
    rgb = pattern(11)
    item = Evidence(demo_agency, user=alice).item(jpeg(rgb))
    hash_list = hashlist_create(agency=demo_agency, user=alice, name="Later")
    match_items([item])
    assert EvidenceItem.objects.get(pk=item.pk).known_state == KnownState.UNKNOWN
    with django_capture_on_commit_callbacks(execute=True):
        import_bytes(hash_list, vics_of({11: rgb}), "vics")
    assert EvidenceItem.objects.get(pk=item.pk).known_state == KnownState.NEAR
    job = RematchJob.objects.get(hash_list=hash_list)
    assert (job.status, job.total, job.processed, job.changed) == ("done", 1, 1, 1)


def test_index_cache_picks_up_a_list_change(demo_agency, alice, known):
    hash_list, images = known
    item = Evidence(demo_agency, user=alice).item(images[1])
    match_items([item])
    builds = service.INDEX_CACHE.builds
    match_items([item])
    assert service.INDEX_CACHE.builds == builds  # cached: no rebuild without a change
    hashlist_tombstone(hash_list=hash_list, user=alice, values=[pdq_of(images[1])[0]])
    match_items([item])
    assert service.INDEX_CACHE.builds == builds + 1
    # The PDQ entry is tombstoned (its MD5 too: one entry), so no stale PDQ match remains.
    assert not Match.objects.filter(item=item, algorithm="pdq").exists()


def test_lists_the_agency_may_use(demo_agency, other_agency, alice, otto, hugo):
    rgb = pattern(21)
    theirs = hashlist_create(agency=other_agency, user=otto, name="Their list")
    import_bytes(theirs, vics_of({21: rgb}), "vics")
    item = Evidence(demo_agency, user=alice).item(rgb)
    match_items([item])
    assert not Match.objects.filter(item=item).exists()  # not shared: not used
    hashlist_share(hash_list=theirs, user=otto, agencies=[demo_agency], share_all=False)
    match_items([item])
    assert Match.objects.filter(item=item, hash_list=theirs).exists()
    hashlist_share(hash_list=theirs, user=otto, agencies=[], share_all=False)
    match_items([item])
    assert not Match.objects.filter(item=item).exists()  # unshared: matches removed
    hub_wide = hashlist_create(agency=None, user=hugo, name="Hub list")
    import_bytes(hub_wide, vics_of({21: rgb}), "vics")
    match_items([item])
    assert Match.objects.filter(item=item, hash_list=hub_wide).exists()
    hub_wide.is_active = False
    hub_wide.version += 1
    hub_wide.save()
    match_items([item])
    assert not Match.objects.filter(item=item).exists()


def test_exact_matching_uses_bounded_queries(demo_agency, alice, django_assert_max_num_queries):
    hash_list = hashlist_create(agency=demo_agency, user=alice, name="Exact")
    ev = Evidence(demo_agency, user=alice)
    items = [ev.item(data=f"file {n}".encode()) for n in range(120)]
    from .helpers import crypto

    lines = "\n".join(crypto(f"file {n}".encode())["md5"] for n in range(0, 120, 2))
    import_bytes(hash_list, lines.encode(), "text")
    items = list(EvidenceItem.objects.filter(pk__in=[i.pk for i in items]).select_related("blob"))
    # lists (1) + 3 algorithms + frames (1) + existing matches (1) + writes (~4)
    with django_assert_max_num_queries(12):
        match_items(items)
    assert Match.objects.count() == 60
    assert EvidenceItem.objects.filter(known_state=KnownState.EXACT).count() == 60


@pytest.mark.parametrize("cls", [FlatPDQIndex, MultiIndexHash])
def test_index_structures_agree_with_brute_force(cls):
    rng = np.random.default_rng(5)
    base = rng.integers(0, 256, size=(3000, 32), dtype=np.uint8)
    queries = base[:200].copy()
    bits = np.unpackbits(queries, axis=1)
    for row in range(len(bits)):
        flips = rng.choice(256, rng.integers(0, 40), replace=False)
        bits[row, flips] ^= 1
    queries = np.packbits(bits, axis=1)
    index = cls(base, np.arange(len(base)) + 1000)
    result = index.range_search(queries, 31)
    got = set(zip(result.query.tolist(), result.ids.tolist(), result.distances.tolist()))
    expected = set()
    for q in range(len(queries)):
        dist = np.unpackbits(base ^ queries[q], axis=1).sum(axis=1)
        for row in np.nonzero(dist <= 31)[0]:
            expected.add((q, int(row) + 1000, int(dist[row])))
    assert got == expected


def test_pdq_distance_semantics():
    a = "0" * 64
    b = "f" * 8 + "0" * 56
    assert pdq_distance(a, b) == 32
    assert pdq_distance(a, a) == 0
    vectors = hex_to_bytes([a, b])
    assert vectors.shape == (2, 32)
