"""Queue order, visibility, claims and leases, and the query-count guard."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from hub.models import Membership, Role
from tests.review.helpers import World, flip_bits, random_pdq
from triage.models import EvidenceItem
from triage.review import selectors
from triage.review.service import prioritise_items, review_claim, review_decide

pytestmark = pytest.mark.django_db


def no_sampling(agency):
    agency.settings = {"verification_sample_percent": 0}
    agency.save(update_fields=["settings"])


def drain(user, agency, case=None):
    """Claim and decide until the queue is empty; the order items came in."""
    order = []
    while (item := review_claim(user=user, agency=agency, case=case)) is not None:
        order.append(item.original_name)
        review_decide(item=item, user=user, category="0")
        assert len(order) < 200
    return order


def test_queue_order_new_high_then_near_then_rest_urgent_case_raised(demo_agency, ivan, sam):
    no_sampling(demo_agency)
    routine = World(demo_agency, user=sam, reference="R-1", team=(ivan,))
    urgent = World(demo_agency, user=sam, reference="U-1", urgency=2, team=(ivan,))
    items = [
        routine.item(name="new-low", classifier=0.1),
        routine.item(name="new-high", classifier=0.95),
        routine.item(name="new-none"),
        routine.item(name="exact-unmapped"),
        routine.item(name="near"),
        urgent.item(name="urgent-new-low", classifier=0.1),
    ]
    unmapped = routine.hash_list(name="Other scheme", scheme="legacy")
    routine.known(items[3], category="3", hash_list=unmapped)
    routine.known(items[4], algorithm="pdq", distance=12)
    prioritise_items(items)
    assert drain(ivan, demo_agency) == [
        "new-high",
        "urgent-new-low",  # 6 + 30 urgency: above near (30) of a routine case
        "near",
        "new-low",
        "new-none",
        "exact-unmapped",
    ]


def test_investigators_only_get_cases_they_are_on(demo_agency, ivan, iris, sam):
    mine = World(demo_agency, user=sam, reference="MINE", team=(ivan,))
    theirs = World(demo_agency, user=sam, reference="THEIRS", team=(iris,))
    led = World(demo_agency, user=sam, reference="LED")
    led.case.lead = ivan
    led.case.save()
    items = [mine.item(name="mine"), theirs.item(name="theirs"), led.item(name="led")]
    prioritise_items(items)
    assert sorted(drain(ivan, demo_agency)) == ["led", "mine"]
    # The supervisor sees every case of the agency.
    assert drain(sam, demo_agency) == ["theirs"]


def test_case_scope_and_closed_cases(demo_agency, ivan, sam):
    a = World(demo_agency, user=sam, reference="A", team=(ivan,))
    b = World(demo_agency, user=sam, reference="B", team=(ivan,))
    closed = World(demo_agency, user=sam, reference="C", team=(ivan,))
    closed.case.is_closed = True
    closed.case.save()
    items = [a.item(name="a"), b.item(name="b"), closed.item(name="c")]
    prioritise_items(items)
    assert drain(ivan, demo_agency, case=b.case) == ["b"]
    assert drain(ivan, demo_agency) == ["a"]


def test_other_agency_items_never_reach_the_queue(demo_agency, other_agency, ivan, oscar, sam):
    ours = World(demo_agency, user=sam, reference="R-1", team=(ivan,))
    theirs = World(other_agency, user=oscar, reference="R-1", team=(oscar, ivan))
    prioritise_items([ours.item(name="ours"), theirs.item(name="theirs", classifier=1.0)])
    # ivan is even on the other agency's case team, but has no membership there.
    assert drain(ivan, demo_agency) == ["ours"]
    assert selectors.next_for(ivan, other_agency) is None
    assert drain(oscar, other_agency) == ["theirs"]


def test_a_deactivated_member_gets_nothing(world, ivan):
    prioritise_items([world.item()])
    Membership.objects.filter(user=ivan).update(is_active=False)
    assert review_claim(user=ivan, agency=world.agency) is None


def test_a_group_is_shown_once_through_its_representative(world, ivan):
    rng = random.Random(1)
    base = random_pdq(rng)
    members = [world.item(pdq=flip_bits(base, n + 1, rng), name=f"m{n}") for n in range(4)]
    single = world.item(name="single")
    prioritise_items([*members, single])
    counts = selectors.queue_counts(ivan, world.agency)
    assert counts == {"items": 5, "decisions": 2, "items_capped": False, "decisions_capped": False}
    # Counted up to a cap, so that a million-item queue costs the page no more than this.
    assert selectors.queue_counts(ivan, world.agency, cap=3) == {
        "items": 3,
        "decisions": 2,
        "items_capped": True,
        "decisions_capped": False,
    }
    assert selectors.queue_counts(ivan, world.agency, cap=1)["decisions_capped"] is True
    first = review_claim(user=ivan, agency=world.agency)
    second_pick = selectors.next_for(ivan, world.agency)
    names = {first.original_name, second_pick.original_name}
    assert "single" in names and len(names & {f"m{n}" for n in range(4)}) == 1


def test_claim_leases_and_resumes_and_others_skip_it(world, ivan, iris):
    prioritise_items([world.item(name="a", classifier=0.9), world.item(name="b")])
    a = review_claim(user=ivan, agency=world.agency)
    assert a.original_name == "a"
    stored = EvidenceItem.objects.get(pk=a.pk)
    assert stored.claimed_by == ivan
    lease = world.agency.policy.lease_seconds
    assert abs((stored.lease_expires_at - timezone.now()).total_seconds() - lease) < 5
    # Reloading gives ivan the same item; iris gets the next one.
    assert review_claim(user=ivan, agency=world.agency).pk == a.pk
    assert review_claim(user=iris, agency=world.agency).original_name == "b"


def test_an_expired_lease_frees_the_item(world, ivan, iris):
    prioritise_items([world.item(name="a")])
    a = review_claim(user=ivan, agency=world.agency)
    assert review_claim(user=iris, agency=world.agency) is None
    EvidenceItem.objects.filter(pk=a.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    taken = review_claim(user=iris, agency=world.agency)
    assert taken.pk == a.pk and EvidenceItem.objects.get(pk=a.pk).claimed_by == iris


def test_the_decision_releases_the_lease(world, ivan):
    prioritise_items([world.item(name="a")])
    a = review_claim(user=ivan, agency=world.agency)
    review_decide(item=a, user=ivan, category="0")
    stored = EvidenceItem.objects.get(pk=a.pk)
    assert stored.claimed_by is None and stored.lease_expires_at is None


def test_release_expired_leases_task(world, ivan):
    from triage.review.tasks import release_expired_leases

    prioritise_items([world.item()])
    a = review_claim(user=ivan, agency=world.agency)
    EvidenceItem.objects.filter(pk=a.pk).update(lease_expires_at=timezone.now() - timedelta(1))
    assert release_expired_leases.delay().get() == 1
    assert EvidenceItem.objects.get(pk=a.pk).claimed_by is None


def test_queue_selection_is_one_query(world, ivan, sam, django_assert_num_queries):
    items = [world.item(classifier=n / 30) for n in range(30)]
    prioritise_items(items)
    for user in (ivan, sam):
        with django_assert_num_queries(1):
            assert selectors.next_for(user, world.agency) is not None
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        first = review_claim(user=ivan, agency=world.agency)
    verbs = [q["sql"].split()[0] for q in ctx.captured_queries]
    if connection.vendor == "postgresql":
        # One prepared statement resumes or locks, and leases: PREPARE once per session,
        # then one EXECUTE per claim.
        assert [v for v in verbs if v != "PREPARE"] == ["EXECUTE"]
        with CaptureQueriesContext(connection) as ctx:
            assert review_claim(user=ivan, agency=world.agency).pk == first.pk  # resumed
            assert review_claim(user=sam, agency=world.agency).pk != first.pk
        assert [q["sql"].split()[0] for q in ctx.captured_queries] == ["EXECUTE", "EXECUTE"]
    else:
        # The resume check, the selection, the conditional update.
        assert len([v for v in verbs if v in ("SELECT", "UPDATE")]) <= 3


def test_the_claim_takes_the_item_the_queue_selection_shows(demo_agency, ivan, iris, sam):
    """The claim (on PostgreSQL a statement compiled once from the querysets, with the
    user, agency, case and time bound at each call) picks exactly what ``next_for``
    shows, through groups, second reviews, other reviewers' leases and case scopes."""
    no_sampling(demo_agency)
    rng = random.Random(7)
    a = World(demo_agency, user=sam, reference="PA", team=(ivan, iris))
    b = World(demo_agency, user=sam, reference="PB", urgency=2, team=(ivan, iris))
    hidden = World(demo_agency, user=sam, reference="PC", team=(iris,))
    base = random_pdq(rng)
    items = [a.item(name=f"a{n}", classifier=rng.random()) for n in range(8)]
    items += [b.item(name=f"b{n}", classifier=rng.random()) for n in range(6)]
    items += [a.item(name=f"g{n}", pdq=flip_bits(base, n + 2, rng)) for n in range(4)]
    items += [hidden.item(name=f"h{n}", classifier=1.0) for n in range(3)]
    prioritise_items(items)
    # Two items iris graded first as "1" (second review): ivan may take them, iris not.
    for _ in range(2):
        review_decide(
            item=review_claim(user=iris, agency=demo_agency, case=a.case), user=iris, category="1"
        )
    # iris holds one item of b: nobody else gets it.
    held = review_claim(user=iris, agency=demo_agency, case=b.case)
    order = []
    for scope in (b.case, None):
        while (shown := selectors.next_for(ivan, demo_agency, scope)) is not None:
            claimed = review_claim(user=ivan, agency=demo_agency, case=scope)
            assert claimed.pk == shown.pk
            assert claimed.claimed_by_id == ivan.pk and claimed.lease_expires_at is not None
            order.append(claimed.original_name)
            review_decide(item=claimed, user=ivan, category="0")
            assert len(order) < 40
        assert review_claim(user=ivan, agency=demo_agency, case=scope) is None
    assert held.original_name not in order
    assert not any(name.startswith("h") for name in order)  # not on that case's team
    assert len([n for n in order if n.startswith("g")]) == 1  # the group, once
    assert len(order) == 8 + 6 - 1 + 1  # a, b without iris's held item, one group


def test_queue_query_count_does_not_grow_with_the_queue(world, ivan, django_assert_max_num_queries):
    prioritise_items([world.item() for _ in range(5)])
    with django_assert_max_num_queries(5):
        review_claim(user=ivan, agency=world.agency)
    prioritise_items([world.item() for _ in range(60)])
    with django_assert_max_num_queries(5):
        review_claim(user=ivan, agency=world.agency, case=world.case)


def test_role_is_read_inside_the_query(world, ivan):
    """Promoting ivan to supervisor shows him every case without another query."""
    other = World(world.agency, reference="NOT-ON")
    prioritise_items([other.item(name="x")])
    assert selectors.next_for(ivan, world.agency) is None
    Membership.objects.filter(user=ivan).update(role=Role.SUPERVISOR)
    assert selectors.next_for(ivan, world.agency).original_name == "x"
