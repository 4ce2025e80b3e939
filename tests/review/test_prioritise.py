"""prioritise_items: priority stored with reasons, auto-grading with deterministic
sampling, near-duplicate groups, idempotence."""

from __future__ import annotations

import random

import pytest

from hub.audit import audit_record  # noqa: F401 (imported so a broken audit fails early)
from tests.review.helpers import World, flip_bits, random_pdq
from triage.models import EvidenceItem, ItemGroup, ReviewDecision, ReviewState
from triage.review.service import prioritise_items, sampled_for_verification

pytestmark = pytest.mark.django_db


def reload(*items):
    return [EvidenceItem.objects.get(pk=i.pk) for i in items]


def set_policy(agency, **values):
    agency.settings = {**(agency.settings or {}), **values}
    agency.save(update_fields=["settings"])


def test_priority_and_reasons_are_stored(world):
    item = world.item(classifier=0.93)
    prioritise_items([item])
    (item,) = reload(item)
    assert item.review_state == ReviewState.QUEUED
    assert item.queued_at is not None
    assert item.priority == pytest.approx(60 * 0.93)
    texts = [r["text"] for r in item.priority_reasons]
    assert texts == ["no known match", "classifier 0.93 (open_nsfw v1)"]


def test_case_urgency_is_in_the_reasons(demo_agency, sam):
    urgent = World(demo_agency, user=sam, reference="U-1", urgency=3)
    item = urgent.item(classifier=0.5)
    prioritise_items([item])
    (item,) = reload(item)
    assert "case urgency: child at risk" in [r["text"] for r in item.priority_reasons]


def test_exact_match_with_category_is_auto_graded(world):
    set_policy(world.agency, verification_sample_percent=0)
    item = world.item()
    world.known(item, category="1")
    prioritise_items([item])
    (item,) = reload(item)
    assert item.review_state == ReviewState.AUTO_GRADED
    assert item.category == "1" and item.is_precategorized
    assert item.precategorization_source == "Known list"
    decision = ReviewDecision.objects.get(item=item)
    assert decision.kind == "auto" and decision.source == "Known list" and decision.category == "1"


def test_auto_grade_maps_the_list_scheme_into_the_agency_scheme(world):
    set_policy(world.agency, verification_sample_percent=0, category_scheme="uk_caid")
    legacy = world.hash_list(
        name="Legacy list", scheme="legacy", category_map={"1": "A", "5": "NP"}
    )
    item = world.item()
    world.known(item, category="1", hash_list=legacy)
    prioritise_items([item])
    (item,) = reload(item)
    assert item.review_state == ReviewState.AUTO_GRADED and item.category == "A"


def test_exact_match_without_a_mapped_category_goes_to_a_person(world):
    set_policy(world.agency, verification_sample_percent=0, category_scheme="uk_caid")
    unmapped = world.hash_list(name="Unmapped", scheme="projectvic_us")
    item = world.item()
    world.known(item, category="1", hash_list=unmapped)
    prioritise_items([item])
    (item,) = reload(item)
    assert item.review_state == ReviewState.QUEUED and not item.is_precategorized
    assert item.priority < 0  # exact matches last


def test_auto_grade_can_be_switched_off(world):
    set_policy(world.agency, auto_grade_exact=False)
    item = world.item()
    world.known(item)
    prioritise_items([item])
    (item,) = reload(item)
    assert item.review_state == ReviewState.QUEUED
    assert not ReviewDecision.objects.filter(item=item).exists()


def test_sampling_is_deterministic_and_close_to_the_rate(world):
    import uuid

    ids = [uuid.UUID(int=random.Random(7).getrandbits(128) ^ n) for n in range(20000)]
    share = sum(sampled_for_verification(u, 2.0) for u in ids) / len(ids)
    assert 0.015 < share < 0.025
    assert [sampled_for_verification(u, 2.0) for u in ids[:500]] == [
        sampled_for_verification(u, 2.0) for u in ids[:500]
    ]
    assert not any(sampled_for_verification(u, 0) for u in ids[:500])
    assert all(sampled_for_verification(u, 100) for u in ids[:500])


def test_sampled_items_are_queued_for_verification(world):
    set_policy(world.agency, verification_sample_percent=25)
    items = [world.item() for _ in range(40)]
    for item in items:
        world.known(item)
    prioritise_items(items)
    items = reload(*items)
    sampled = [i for i in items if sampled_for_verification(i.uuid, 25)]
    assert 0 < len(sampled) < 40
    for item in items:
        if item in sampled:
            assert item.review_state == ReviewState.QUEUED and item.needs_verification
            assert item.category == "1"
            assert "verification" in [r["code"] for r in item.priority_reasons]
        else:
            assert item.review_state == ReviewState.AUTO_GRADED and not item.needs_verification


def test_failed_refused_and_non_media_items_are_not_queued(world):
    failed = world.item(status="failed")
    refused = world.item(status="refused")
    archive = world.item(media_kind="archive")
    ok = world.item()
    prioritise_items([failed, refused, archive, ok])
    failed, refused, archive, ok = reload(failed, refused, archive, ok)
    assert [failed.review_state, refused.review_state, archive.review_state] == ["not_queued"] * 3
    assert ok.review_state == "queued"


def test_near_duplicates_group_within_the_case_including_existing_items(world):
    rng = random.Random(3)
    base = random_pdq(rng)
    first = world.item(pdq=base, classifier=0.2)
    prioritise_items([first])
    # A later batch: two near-duplicates of the first (chained), one far item.
    near = world.item(pdq=flip_bits(base, 20, rng), classifier=0.9)
    chained = world.item(pdq=flip_bits(near.pdq, 25, rng))
    far = world.item(pdq=random_pdq(rng))
    prioritise_items([near, chained, far])
    first, near, chained, far = reload(first, near, chained, far)
    assert first.group_id is not None
    assert first.group_id == near.group_id == chained.group_id
    assert far.group_id is None
    group = ItemGroup.objects.get(pk=first.group_id)
    assert group.size == 3
    assert group.representative_id == near.pk  # the highest priority member


def test_items_of_another_case_never_group(world, demo_agency, sam):
    rng = random.Random(4)
    base = random_pdq(rng)
    other = World(demo_agency, user=sam, reference="R-2")
    a = world.item(pdq=base)
    b = other.item(pdq=flip_bits(base, 3, rng))
    prioritise_items([a, b])
    a, b = reload(a, b)
    assert a.group_id is None and b.group_id is None


def test_mirrored_items_group_through_dihedral_hashes(world):
    rng = random.Random(5)
    base, mirror = random_pdq(rng), random_pdq(rng)
    a = world.item(pdq=base)
    b = world.item(pdq=mirror)
    # b's dihedral set holds a hash close to a's plain hash, as a mirror's would.
    EvidenceItem.objects.filter(pk=b.pk).update(pdq_dihedral=[mirror, flip_bits(base, 6, rng)])
    prioritise_items([a, b])
    a, b = reload(a, b)
    assert a.group_id is not None and a.group_id == b.group_id


def test_low_quality_hashes_do_not_group(world):
    rng = random.Random(6)
    base = random_pdq(rng)
    a = world.item(pdq=base, quality=20)
    b = world.item(pdq=flip_bits(base, 2, rng), quality=20)
    prioritise_items([a, b])
    a, b = reload(a, b)
    assert a.group_id is None and b.group_id is None


def test_distance_threshold_follows_the_policy(world):
    set_policy(world.agency, near_duplicate_distance=10)
    rng = random.Random(8)
    base = random_pdq(rng)
    a = world.item(pdq=base)
    b = world.item(pdq=flip_bits(base, 11, rng))
    c = world.item(pdq=flip_bits(base, 10, rng))
    prioritise_items([a, b, c])
    a, b, c = reload(a, b, c)
    assert a.group_id == c.group_id is not None
    assert b.group_id is None


def test_prioritise_is_idempotent(world):
    set_policy(world.agency, verification_sample_percent=0)
    rng = random.Random(9)
    base = random_pdq(rng)
    items = [world.item(pdq=flip_bits(base, n, rng), classifier=n / 10) for n in range(1, 5)]
    exact = world.item()
    world.known(exact)
    items.append(exact)

    def snapshot():
        return [
            (i.review_state, i.priority, i.group_id, i.category, i.priority_reasons)
            for i in reload(*items)
        ]

    prioritise_items(items)
    first = snapshot()
    groups = ItemGroup.objects.count()
    decisions = ReviewDecision.objects.count()
    prioritise_items(items)
    prioritise_items(items[:2])
    assert snapshot() == first
    assert ItemGroup.objects.count() == groups == 1
    assert ReviewDecision.objects.count() == decisions == 1


def test_recomputed_when_signals_change(world):
    set_policy(world.agency, verification_sample_percent=0)
    item = world.item(classifier=0.9)
    prioritise_items([item])
    (item,) = reload(item)
    assert item.review_state == "queued"
    # Later a list update makes it an exact known match: auto-graded now.
    entry = world.known(item, category="2")
    prioritise_items([item])
    (item,) = reload(item)
    assert item.review_state == "auto_graded" and item.category == "2"
    # The entry is tombstoned: the auto-grade is withdrawn and the item is queued again.
    from django.utils import timezone

    entry.deleted_at = timezone.now()
    entry.save()
    EvidenceItem.objects.filter(pk=item.pk).update(known_state="unknown")
    prioritise_items([item])
    (item,) = reload(item)
    assert item.review_state == "queued" and item.category == "" and not item.is_precategorized
    assert ReviewDecision.objects.get(item=item).undone_at is not None


def test_decided_items_keep_their_decision_when_reprioritised(world, ivan):
    from triage.review.service import review_decide

    item = world.item(classifier=0.7)
    prioritise_items([item])
    review_decide(item=EvidenceItem.objects.get(pk=item.pk), user=ivan, category="0")
    prioritise_items([item])
    (item,) = reload(item)
    assert item.review_state == "reviewed" and item.category == "0"


@pytest.mark.parametrize(
    ("scheme", "categories", "boosted"),
    [
        ("projectvic_us", ["0"], False),  # Project VIC: 0 is non-pertinent
        ("projectvic_us", ["0", "1"], True),  # one pertinent near match is enough
        ("legacy", ["5"], False),  # legacy: 5 is non-pertinent (0 is uncategorised)
        ("legacy", ["0"], True),
        ("uk_caid", ["NP"], False),
        ("uk_caid", ["B"], True),
    ],
)
def test_near_matches_of_non_pertinent_material_get_no_confirmation_boost(
    world, scheme, categories, boosted
):
    set_policy(world.agency, category_scheme=scheme)
    rng = random.Random(3)
    item = world.item(pdq=random_pdq(rng))
    for category in categories:
        known = world.hash_list(name=f"List {category}", scheme=scheme)
        world.known(item, category=category, algorithm="pdq", distance=6, hash_list=known)
    prioritise_items([item])
    (item,) = reload(item)
    assert item.review_state == ReviewState.QUEUED
    assert item.priority == (30.0 if boosted else 0.0)
    text = item.priority_reasons[0]["text"]
    assert ("non-pertinent" in text) is (not boosted)
