"""A new agency list from the agency's confirmed decisions (triage.matching.lists.
hashlist_from_decisions): only categories a person decided, never undone decisions or
auto-grades, never another agency's items; audited; and its admin-only form."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from hub.models import AuditEvent
from triage.matching import service
from triage.matching.lists import hashlist_from_decisions
from triage.models import EvidenceItem, HashEntry, HashList, ReviewDecision, ReviewState
from triage.review.service import review_decide, review_undo

from .helpers import Evidence, pattern

pytestmark = pytest.mark.django_db

Kind = ReviewDecision.Kind


@pytest.fixture(autouse=True)
def _fresh_cache():
    service.INDEX_CACHE.clear()


def queued(evidence: Evidence, seed: int) -> EvidenceItem:
    item = evidence.item(pattern(seed), name=f"img-{seed}.png")
    EvidenceItem.objects.filter(pk=item.pk).update(review_state=ReviewState.QUEUED)
    return EvidenceItem.objects.get(pk=item.pk)


def decide(item, user, category):
    decision = review_decide(item=item, user=user, category=category)
    item.refresh_from_db()
    return decision


def auto_graded(evidence: Evidence, seed: int, category: str = "1", state=None):
    """An item graded by hash, as review.service._auto_grade leaves it."""
    item = evidence.item(pattern(seed), name=f"auto-{seed}.png")
    ReviewDecision.objects.create(
        agency=item.agency,
        item=item,
        kind=Kind.AUTO,
        category=category,
        source="Known list",
        previous_state=item.review_state,
    )
    EvidenceItem.objects.filter(pk=item.pk).update(
        review_state=state or ReviewState.AUTO_GRADED,
        category=category,
        is_precategorized=True,
        precategorization_source="Known list",
    )
    return EvidenceItem.objects.get(pk=item.pk)


def entries_of(hash_list) -> dict[str, HashEntry]:
    return {e.sha256: e for e in HashEntry.objects.filter(hash_list=hash_list)}


@pytest.fixture
def demo(demo_agency, alice):
    return Evidence(demo_agency, user=alice)


def test_reviewed_items_become_entries_with_hashes_and_category(demo, demo_agency, alice, ivan):
    a, b = queued(demo, 1), queued(demo, 2)
    decide(a, ivan, "0")
    decide(b, ivan, "3")
    assert a.review_state == ReviewState.REVIEWED and a.category == "0"

    hl = hashlist_from_decisions(agency=demo_agency, user=alice, name="Our decisions")

    assert hl.agency == demo_agency and hl.is_agency_own
    assert hl.scheme == demo_agency.policy.category_scheme
    entries = entries_of(hl)
    assert set(entries) == {a.blob.sha256, b.blob.sha256}
    for item, category in ((a, "0"), (b, "3")):
        entry = entries[item.blob.sha256]
        assert (entry.md5, entry.sha1, entry.sha256) == (
            item.blob.md5,
            item.blob.sha1,
            item.blob.sha256,
        )
        assert entry.pdq == item.pdq and len(entry.pdq) == 64
        assert entry.pdq_quality == item.pdq_quality
        assert entry.category == category
        assert entry.deleted_at is None


def test_second_review_counts_only_once_confirmed(demo, demo_agency, alice, ivan, sam):
    item = queued(demo, 3)
    decide(item, ivan, "1")  # category 1 needs a second review (default policy)
    assert item.review_state == ReviewState.SECOND_REVIEW
    pending = hashlist_from_decisions(agency=demo_agency, user=alice, name="Before")
    assert not entries_of(pending)

    decide(item, sam, "1")
    assert item.review_state == ReviewState.REVIEWED
    done = hashlist_from_decisions(agency=demo_agency, user=alice, name="After")
    assert entries_of(done)[item.blob.sha256].category == "1"


def test_undone_decisions_are_not_included(demo, demo_agency, alice, ivan):
    kept, undone, stale = queued(demo, 4), queued(demo, 5), queued(demo, 6)
    decide(kept, ivan, "0")
    review_undo(decision=decide(undone, ivan, "3"), user=ivan)
    undone.refresh_from_db()
    assert undone.review_state == ReviewState.QUEUED
    # An undone decision whose item still says "reviewed" (data edited by hand, or an undo
    # interrupted): the item's category is no longer backed by a live decision.
    decide(stale, ivan, "3")
    ReviewDecision.objects.filter(item=stale).update(undone_at=timezone.now())

    hl = hashlist_from_decisions(agency=demo_agency, user=alice, name="Live only")

    assert set(entries_of(hl)) == {kept.blob.sha256}


def test_auto_graded_items_are_not_included(demo, demo_agency, alice, ivan):
    person = queued(demo, 7)
    decide(person, ivan, "0")
    auto_graded(demo, 8)
    # Even marked "reviewed", an item whose category came from a list stays out.
    auto_graded(demo, 9, state=ReviewState.REVIEWED)
    # A verified auto-grade: a person confirmed the list's category; still from a list.
    sampled = auto_graded(demo, 10, category="3", state=ReviewState.QUEUED)
    EvidenceItem.objects.filter(pk=sampled.pk).update(needs_verification=True)
    sampled.refresh_from_db()
    decide(sampled, ivan, "3")
    assert sampled.review_state == ReviewState.REVIEWED
    assert sampled.decisions.filter(kind=Kind.VERIFICATION).exists()

    hl = hashlist_from_decisions(agency=demo_agency, user=alice, name="No auto")

    assert set(entries_of(hl)) == {person.blob.sha256}


def test_a_person_overriding_an_auto_grade_is_included(demo, demo_agency, alice, ivan, sam):
    item = auto_graded(demo, 11, category="3", state=ReviewState.QUEUED)
    EvidenceItem.objects.filter(pk=item.pk).update(needs_verification=True)
    item.refresh_from_db()
    decide(item, ivan, "0")  # disagrees with the list: conflict
    assert item.review_state == ReviewState.CONFLICT
    decide(item, sam, "0")  # the supervisor resolves it
    assert item.review_state == ReviewState.REVIEWED

    hl = hashlist_from_decisions(agency=demo_agency, user=alice, name="Resolved")

    assert entries_of(hl)[item.blob.sha256].category == "0"


def test_other_agencys_items_never_appear(demo, demo_agency, other_agency, alice, ivan, otto):
    mine = queued(demo, 12)
    decide(mine, ivan, "0")
    theirs = Evidence(other_agency, reference="THEIRS", user=otto)
    foreign = [queued(theirs, 20), queued(theirs, 21)]
    for item in foreign:
        decide(item, otto, "3")

    hl = hashlist_from_decisions(agency=demo_agency, user=alice, name="Ours")

    assert set(entries_of(hl)) == {mine.blob.sha256}
    assert not HashEntry.objects.filter(
        hash_list=hl, sha256__in=[i.blob.sha256 for i in foreign]
    ).exists()
    assert not HashEntry.objects.filter(hash_list=hl, pdq__in=[i.pdq for i in foreign]).exists()


def test_the_new_list_is_audited(demo, demo_agency, alice, ivan):
    decide(queued(demo, 13), ivan, "0")
    decide(queued(demo, 14), ivan, "3")

    hl = hashlist_from_decisions(agency=demo_agency, user=alice, name="Audited")

    events = AuditEvent.objects.filter(agency=demo_agency, object_id=str(hl.uuid))
    by_action = {e.action: e for e in events}
    assert {"hashlist.created", "hashlist.from_decisions"} <= set(by_action)
    event = by_action["hashlist.from_decisions"]
    assert event.data["entries"] == 2
    assert event.actor_id == alice.pk


def test_the_same_file_decided_twice_is_one_entry(demo, demo_agency, alice, ivan):
    first = queued(demo, 15)
    again = demo.item(pattern(15), name="copy.png")  # same bytes, same blob
    EvidenceItem.objects.filter(pk=again.pk).update(review_state=ReviewState.QUEUED)
    decide(first, ivan, "0")
    decide(EvidenceItem.objects.get(pk=again.pk), ivan, "0")

    hl = hashlist_from_decisions(agency=demo_agency, user=alice, name="Dedup")

    assert HashEntry.objects.filter(hash_list=hl).count() == 1


# --- the form on the hash-list page -------------------------------------------------------


def test_admin_sees_the_form_and_creates_the_list(client_for, demo, demo_agency, alice, ivan):
    item = queued(demo, 16)
    decide(item, ivan, "0")
    client = client_for(alice)
    page = client.get(reverse("triage:hashlist_list"))
    assert b"New list from our confirmed decisions" in page.content

    response = client.post(reverse("triage:hashlist_from_decisions"), {"name": "From UI"})

    hl = HashList.objects.get(name="From UI")
    assert response.status_code == 302
    assert response["Location"] == reverse("triage:hashlist_detail", kwargs={"hashlist": hl.uuid})
    assert hl.agency == demo_agency
    assert set(entries_of(hl)) == {item.blob.sha256}
    assert AuditEvent.objects.filter(action="hashlist.from_decisions", actor=alice).exists()


def test_supervisor_is_refused_and_sees_no_form(client_for, sam, ivan):
    client = client_for(sam)
    page = client.get(reverse("triage:hashlist_list"))
    assert page.status_code == 200
    assert b"New list from our confirmed decisions" not in page.content
    response = client.post(reverse("triage:hashlist_from_decisions"), {"name": "Nope"})
    assert response.status_code == 403
    assert client_for(ivan).post(reverse("triage:hashlist_from_decisions")).status_code == 403
    assert not HashList.objects.filter(name="Nope").exists()


def test_without_a_name_nothing_is_created(client_for, alice):
    response = client_for(alice).post(reverse("triage:hashlist_from_decisions"), {"name": " "})
    assert response.status_code == 302
    assert response["Location"] == reverse("triage:hashlist_list")
    assert not HashList.objects.exists()


def test_get_is_not_allowed(client_for, alice):
    assert client_for(alice).get(reverse("triage:hashlist_from_decisions")).status_code == 405


def test_hub_operator_without_an_agency_is_refused(client_for, hugo):
    response = client_for(hugo).post(reverse("triage:hashlist_from_decisions"), {"name": "Hub"})
    assert response.status_code == 403
    assert not HashList.objects.filter(name="Hub").exists()
