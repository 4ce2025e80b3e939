"""Decisions, group decisions, undo, split, second review, conflicts, verification,
exposure and the agency's own list; each audited in the same transaction."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from hub.models import AuditEvent
from tests.review.helpers import flip_bits, random_pdq
from triage.models import EvidenceItem, ExposureEvent, HashEntry, HashList, ReviewDecision
from triage.review import selectors
from triage.review.service import (
    ReviewError,
    exposure_record,
    group_split,
    hashlist_add_confirmed,
    prioritise_items,
    review_claim,
    review_decide,
    review_undo,
    sampled_for_verification,
)

pytestmark = pytest.mark.django_db


def fresh(item):
    return EvidenceItem.objects.get(pk=item.pk)


def actions():
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


def make_group(world, n=3, seed=1):
    rng = random.Random(seed)
    base = random_pdq(rng)
    members = [world.item(pdq=flip_bits(base, k + 2, rng), name=f"g{k}") for k in range(n)]
    prioritise_items(members)
    return [fresh(m) for m in members]


def test_decision_records_reviewer_category_note_and_audit(world, ivan):
    prioritise_items([world.item()])
    item = review_claim(user=ivan, agency=world.agency)
    decision = review_decide(item=item, user=ivan, category="0", note="holiday photo")
    assert (decision.reviewer, decision.category, decision.note, decision.kind) == (
        ivan,
        "0",
        "holiday photo",
        "first",
    )
    item = fresh(item)
    assert item.review_state == "reviewed" and item.category == "0"
    assert item.first_reviewed_at is not None
    assert "review.decided" in actions()


def test_unknown_category_is_refused(world, ivan):
    prioritise_items([world.item()])
    item = review_claim(user=ivan, agency=world.agency)
    with pytest.raises(ReviewError):
        review_decide(item=item, user=ivan, category="A")  # UK CAID, not Project VIC
    assert fresh(item).review_state == "queued"


def test_an_item_held_by_someone_else_cannot_be_decided(world, ivan, iris):
    prioritise_items([world.item()])
    item = review_claim(user=ivan, agency=world.agency)
    with pytest.raises(ReviewError):
        review_decide(item=item, user=iris, category="0")


def test_a_group_decision_grades_every_member(world, ivan):
    members = make_group(world, n=4)
    rep = review_claim(user=ivan, agency=world.agency)
    assert rep.group_id is not None and rep.group.representative_id == rep.pk
    review_decide(item=rep, user=ivan, category="0")
    states = {fresh(m).review_state for m in members}
    assert states == {"reviewed"}
    assert ReviewDecision.objects.filter(group=rep.group, category="0").count() == 4
    assert review_claim(user=ivan, agency=world.agency) is None
    event = AuditEvent.objects.filter(action="review.decided").get()
    assert event.data["items"] == 4


def test_undo_within_the_window_restores_the_whole_group(world, ivan):
    members = make_group(world, n=3)
    rep = review_claim(user=ivan, agency=world.agency)
    decision = review_decide(item=rep, user=ivan, category="0")
    assert selectors.last_undoable(ivan, world.agency).pk == decision.pk
    back = review_undo(decision=decision, user=ivan)
    assert back.pk == rep.pk
    assert {fresh(m).review_state for m in members} == {"queued"}
    assert {fresh(m).category for m in members} == {""}
    assert fresh(rep).claimed_by == ivan  # back to the same reviewer
    assert ReviewDecision.objects.filter(undone_at__isnull=True).count() == 0
    assert "review.undone" in actions()
    with pytest.raises(ReviewError):
        review_undo(decision=decision, user=ivan)


def test_undo_after_the_window_or_by_someone_else_is_refused(world, ivan, iris):
    prioritise_items([world.item()])
    item = review_claim(user=ivan, agency=world.agency)
    decision = review_decide(item=item, user=ivan, category="0")
    with pytest.raises(PermissionDenied):
        review_undo(decision=decision, user=iris)
    ReviewDecision.objects.filter(pk=decision.pk).update(
        created_at=timezone.now() - timedelta(seconds=world.agency.policy.undo_seconds + 1)
    )
    decision.refresh_from_db()
    with pytest.raises(ReviewError):
        review_undo(decision=decision, user=ivan)
    assert selectors.last_undoable(ivan, world.agency) is None


def test_split_takes_an_item_out_and_it_stays_out(world, ivan):
    members = make_group(world, n=3)
    rep = review_claim(user=ivan, agency=world.agency)
    other = next(m for m in members if m.pk != rep.pk)
    group_split(item=fresh(other), user=ivan)
    other = fresh(other)
    assert other.group.pinned and other.group.representative_id == other.pk
    assert fresh(rep).group.size == 2
    # Recomputing the signals does not pull it back into the group.
    prioritise_items(members)
    assert fresh(other).group.pinned and fresh(other).group_id != fresh(rep).group_id
    review_decide(item=fresh(rep), user=ivan, category="0")
    assert fresh(other).review_state == "queued"
    assert review_claim(user=ivan, agency=world.agency).pk == other.pk
    assert "review.group_split" in actions()


def test_splitting_a_pair_leaves_two_single_items(world, ivan):
    a, b = make_group(world, n=2)
    group_split(item=fresh(b), user=ivan)
    assert fresh(a).group_id is None
    counts = selectors.queue_counts(ivan, world.agency)
    assert (counts["items"], counts["decisions"]) == (2, 2)


def test_second_review_by_a_different_investigator(world, ivan, iris):
    prioritise_items([world.item()])
    item = review_claim(user=ivan, agency=world.agency)
    review_decide(item=item, user=ivan, category="1")  # in second_review_categories
    assert fresh(item).review_state == "second_review"
    # ivan does not get it back; iris does.
    assert review_claim(user=ivan, agency=world.agency) is None
    with pytest.raises(ReviewError):
        review_decide(item=fresh(item), user=ivan, category="1")
    again = review_claim(user=iris, agency=world.agency)
    assert again.pk == item.pk
    decision = review_decide(item=again, user=iris, category="1")
    assert decision.kind == "second"
    assert fresh(item).review_state == "reviewed" and fresh(item).category == "1"


def test_disagreement_goes_to_a_supervisor(world, ivan, iris, sam):
    prioritise_items([world.item()])
    item = review_claim(user=ivan, agency=world.agency)
    review_decide(item=item, user=ivan, category="1")
    review_decide(item=review_claim(user=iris, agency=world.agency), user=iris, category="2")
    assert fresh(item).review_state == "conflict"
    assert list(selectors.conflicts_for(world.agency)) == [fresh(item)]
    with pytest.raises(PermissionDenied):
        review_decide(item=fresh(item), user=ivan, category="2")
    decision = review_decide(item=fresh(item), user=sam, category="2", note="seen both")
    assert decision.kind == "supervisor"
    assert fresh(item).review_state == "reviewed" and fresh(item).category == "2"
    assert not selectors.conflicts_for(world.agency).exists()


def test_verification_of_an_auto_grade(world, ivan):
    world.agency.settings = {"verification_sample_percent": 100}
    world.agency.save()
    agree, disagree = world.item(name="agree"), world.item(name="disagree")
    for item in (agree, disagree):
        world.known(item, category="2")
    prioritise_items([agree, disagree])
    assert sampled_for_verification(agree.uuid, 100)
    first = review_claim(user=ivan, agency=world.agency)
    decision = review_decide(item=first, user=ivan, category="2")
    assert decision.kind == "verification" and fresh(first).review_state == "reviewed"
    second = review_claim(user=ivan, agency=world.agency)
    review_decide(item=second, user=ivan, category="0")
    assert fresh(second).review_state == "conflict"
    assert not fresh(second).needs_verification


def test_exposure_is_recorded_audited_and_metered(world, ivan):
    world.agency.settings = {"break_reminder_after_reveals": 2}
    world.agency.save()
    item = world.item()
    exposure_record(user=ivan, item=item, kind="reveal", duration_ms=1500)
    meter = selectors.exposure_today(ivan, world.agency)
    assert meter["reveals"] == 1 and not meter["break_due"]
    exposure_record(user=ivan, item=item, kind="reveal", duration_ms=900)
    exposure_record(user=ivan, item=item, kind="video", duration_ms=90_000)
    meter = selectors.exposure_today(ivan, world.agency)
    assert meter["reveals"] == 2 and meter["break_due"]
    assert meter["video_minutes"] == 1.5
    assert meter["reveal_limit"] == 200
    assert ExposureEvent.objects.filter(user=ivan).count() == 3
    assert actions().count("evidence.revealed") == 2
    assert "evidence.video_played" in actions()
    with pytest.raises(ReviewError):
        exposure_record(user=ivan, item=item, kind="stare", duration_ms=1)


def test_confirmed_decisions_go_to_the_agency_own_list(world, ivan, sam):
    prioritise_items([world.item(), world.item()])
    a = review_claim(user=ivan, agency=world.agency)
    review_decide(item=a, user=ivan, category="0")
    b = review_claim(user=ivan, agency=world.agency)
    with pytest.raises(ReviewError):
        hashlist_add_confirmed(items=[fresh(b)], user=sam)  # not reviewed yet
    hash_list = hashlist_add_confirmed(items=[fresh(a)], user=sam)
    assert hash_list.is_agency_own and hash_list.agency == world.agency
    version = HashList.objects.get(pk=hash_list.pk).version
    entry = HashEntry.objects.get(hash_list=hash_list)
    blob = fresh(a).blob
    assert (entry.md5, entry.sha1, entry.sha256, entry.pdq, entry.category) == (
        blob.md5,
        blob.sha1,
        blob.sha256,
        fresh(a).pdq,
        "0",
    )
    # Adding again is idempotent and reuses the same list.
    again = hashlist_add_confirmed(items=[fresh(a)], user=sam)
    assert again.pk == hash_list.pk and HashEntry.objects.filter(hash_list=hash_list).count() == 1
    assert HashList.objects.get(pk=hash_list.pk).version == version
    assert "hashlist.confirmed_added" in actions()
