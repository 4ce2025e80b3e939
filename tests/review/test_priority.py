"""The pure priority function: ordering and explainable reasons."""

from __future__ import annotations

import random

import pytest

from hub.policy import PriorityWeights
from triage.review.priority import Signals, compute_priority, reasons_text

W = PriorityWeights()


def score(signals, urgency=0, age=0.0, weights=W):
    return compute_priority(signals, weights, urgency=urgency, age_days=age)[0]


def tier(s: Signals, weights=W) -> int:
    """The documented tier: 0 new+high classifier, 1 near, 2 other new, 3 exact."""
    if s.known_state == "exact":
        return 3
    if s.known_state == "near":
        return 1
    threshold = weights.near_match / weights.classifier
    if s.classifier_score is not None and s.classifier_score > threshold:
        return 0
    return 2


def random_signals(rng: random.Random) -> Signals:
    state = rng.choice(["unknown", "unknown", "near", "exact"])
    return Signals(
        known_state=state,
        classifier_score=rng.choice([None, rng.random()]),
        classifier_model="open_nsfw v1",
        best_distance=rng.randint(1, 31) if state == "near" else None,
        match_list="NCMEC" if state != "unknown" else "",
    )


def test_documented_order_with_default_weights():
    new_high = Signals(classifier_score=0.93, classifier_model="open_nsfw v1")
    near = Signals(known_state="near", best_distance=12, match_list="Project VIC")
    new_low = Signals(classifier_score=0.2)
    new_none = Signals()
    exact = Signals(known_state="exact", match_list="Project VIC")
    ranked = sorted([exact, new_none, near, new_low, new_high], key=score, reverse=True)
    assert ranked == [new_high, near, new_low, new_none, exact]


@pytest.mark.parametrize("seed", range(5))
def test_order_holds_for_random_signals_within_a_case(seed):
    """Property: within one case and age, a lower tier never outranks a higher one, and
    among new material a higher classifier score never ranks lower."""
    rng = random.Random(seed)
    for _ in range(400):
        a, b = random_signals(rng), random_signals(rng)
        urgency, age = rng.randint(0, 3), rng.uniform(0, 40)
        sa, sb = score(a, urgency, age), score(b, urgency, age)
        if tier(a) < tier(b):
            assert sa > sb, (a, b, sa, sb)
        if a.known_state == b.known_state == "unknown":
            ca, cb = a.classifier_score or 0, b.classifier_score or 0
            if ca > cb:
                assert sa >= sb


@pytest.mark.parametrize("seed", range(3))
def test_urgency_raises_every_item_of_its_case(seed):
    rng = random.Random(100 + seed)
    for _ in range(200):
        s = random_signals(rng)
        age = rng.uniform(0, 40)
        levels = [score(s, urgency=u, age=age) for u in range(4)]
        assert levels == sorted(levels) and len(set(levels)) == 4


def test_age_is_capped_and_monotonic():
    s = Signals(classifier_score=0.5)
    ages = [score(s, age=d) for d in (0, 1, 5, 20, 100, 1000)]
    assert ages == sorted(ages)
    assert ages[-1] - ages[0] == pytest.approx(W.age_cap)


def test_reasons_are_words_and_add_up_to_the_score():
    s = Signals(classifier_score=0.93, classifier_model="open_nsfw v1")
    total, reasons = compute_priority(s, W, urgency=3, age_days=0)
    assert reasons_text(reasons) == (
        "no known match; classifier 0.93 (open_nsfw v1); case urgency: child at risk"
    )
    assert all(set(r) == {"code", "text", "weight"} for r in reasons)
    assert total == pytest.approx(sum(r["weight"] for r in reasons))
    assert total == pytest.approx(60 * 0.93 + 45)


def test_near_and_exact_reasons_name_the_list_and_distance():
    _, reasons = compute_priority(
        Signals(known_state="near", best_distance=9, match_list="VIC", match_category="1 · CAM"),
        W,
        urgency=0,
        age_days=3,
    )
    text = reasons_text(reasons)
    assert "near-duplicate of known material in VIC at PDQ distance 9 (1 · CAM)" in text
    assert "waiting 3 days" in text
    _, reasons = compute_priority(
        Signals(known_state="exact", match_list="VIC", needs_verification=True),
        W,
        urgency=0,
        age_days=0,
    )
    assert [r["code"] for r in reasons] == ["exact_match", "verification"]


def test_agency_weights_change_the_order():
    near = Signals(known_state="near", best_distance=5)
    new = Signals(classifier_score=0.6)
    assert score(new) > score(near)
    confirm_first = PriorityWeights(near_match=80.0)
    assert score(near, weights=confirm_first) > score(new, weights=confirm_first)


def test_classifier_score_out_of_range_is_clamped():
    assert score(Signals(classifier_score=7.0)) == score(Signals(classifier_score=1.0))
    assert score(Signals(classifier_score=-1.0)) == score(Signals(classifier_score=0.0))


def test_a_near_match_only_to_non_pertinent_material_ranks_with_unscored_new_material():
    pertinent = Signals(known_state="near", best_distance=4, match_category="1 · CAM")
    non_pertinent = Signals(
        known_state="near",
        best_distance=0,
        match_list="VIC",
        match_category="0 · Non-pertinent",
        near_non_pertinent=True,
    )
    new_low = Signals(classifier_score=0.03)
    assert score(pertinent) > score(new_low) > score(non_pertinent)
    assert score(non_pertinent) == score(Signals())  # beside unscored new material
    assert score(non_pertinent) > score(Signals(known_state="exact"))
    _, reasons = compute_priority(non_pertinent, W, urgency=0, age_days=0)
    assert "near-duplicate of known non-pertinent material in VIC" in reasons_text(reasons)
    raised = PriorityWeights(near_match_non_pertinent=20.0)
    assert score(non_pertinent, weights=raised) > score(new_low, weights=raised)
