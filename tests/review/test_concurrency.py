"""Concurrent reviewers never get the same item (PostgreSQL, SELECT ... FOR UPDATE SKIP
LOCKED). Threads each use their own database connection."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from hub.models import Role
from tests.conftest import make_user
from tests.review.helpers import World
from triage.review.service import prioritise_items, review_claim, review_decide

pytestmark = [pytest.mark.services]


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_never_share_an_item(demo_agency, sam):
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED concurrency is tested on PostgreSQL")
    reviewers = [make_user(f"rev{n}", demo_agency, Role.INVESTIGATOR) for n in range(8)]
    world = World(demo_agency, user=sam, reference="CONC", team=reviewers)
    items = [world.item(classifier=(n % 50) / 50) for n in range(120)]
    prioritise_items(items)
    claimed: dict[str, list[int]] = {r.username: [] for r in reviewers}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(reviewers))

    def work(user):
        try:
            barrier.wait()
            while True:
                item = review_claim(user=user, agency=demo_agency)
                if item is None:
                    break
                claimed[user.username].append(item.pk)
                review_decide(item=item, user=user, category="0")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(r,)) for r in reviewers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    every = [pk for pks in claimed.values() for pk in pks]
    assert len(every) == len(set(every)) == 120
    assert sum(1 for pks in claimed.values() if pks) > 1  # the work was really shared
