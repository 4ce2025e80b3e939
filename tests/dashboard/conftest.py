"""A generated, seeded dashboard world in Demo Police (plus some Other Force noise), with
the plain-Python record of everything created so tests compute expected figures
independently of the selectors' queries."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.utils import timezone

from triage.models import (
    Case,
    EvidenceBatch,
    EvidenceItem,
    ExposureEvent,
    ItemGroup,
    ReviewDecision,
    Urgency,
)

STATES = ["not_queued", "queued", "auto_graded", "second_review", "conflict", "reviewed"]
KINDS = ["auto", "first", "second", "supervisor", "verification"]


@dataclass
class World:
    agency: object
    cases: dict
    items: list = field(default_factory=list)  # dicts: the attributes each item was given
    decisions: list = field(default_factory=list)
    exposure: list = field(default_factory=list)
    now: object = None


def build_world(
    agency, people, *, other_agency=None, other_user=None, n_items=120, seed=7, prefix="D"
):
    rng = random.Random(seed)
    now = timezone.now()
    lead = people[1]
    cases = {
        "urgent": Case.objects.create(
            agency=agency, reference=f"{prefix}-URG", title="Urgent one",
            urgency=Urgency.CHILD_AT_RISK, lead=lead, created_by=people[0],
        ),
        "routine": Case.objects.create(
            agency=agency, reference=f"{prefix}-ROU", title="=cmd|' /C calc'!A0",
            urgency=Urgency.ROUTINE, created_by=people[0],
        ),
        "closed": Case.objects.create(
            agency=agency, reference=f"{prefix}-CLO", title="Closed", urgency=Urgency.PRIORITY,
            is_closed=True, closed_at=now, created_by=people[0],
        ),
    }  # fmt: skip
    cases["urgent"].team.set([people[1], people[2]])
    cases["routine"].team.set([people[2]])
    w = World(agency=agency, cases=cases, now=now)
    batches = {
        key: EvidenceBatch.objects.create(
            agency=agency, case=case, exhibit_ref=f"EX-{key}", uploaded_by=people[0]
        )
        for key, case in cases.items()
    }
    groups = {
        key: [ItemGroup.objects.create(agency=agency, case=case) for _ in range(3)]
        for key, case in cases.items()
    }
    case_keys = list(cases)
    for i in range(n_items):
        key = rng.choice(case_keys)
        state = rng.choice(STATES)
        created = now - timedelta(days=rng.uniform(0, 12), minutes=rng.randint(0, 600))
        status = rng.choice(["done", "done", "done", "failed", "errored"])
        rec = {
            "case": key,
            "review_state": state,
            "created_at": created,
            "status": status,
            "processed_at": created + timedelta(minutes=rng.randint(1, 30)),
            "is_precategorized": rng.random() < 0.3,
            "classifier_score": rng.choice([None, rng.random()]),
            "group": rng.choice([None, None, *range(3)]),
            "queued_at": None,
            "first_reviewed_at": None,
            "category": "",
        }
        if state != "not_queued":
            rec["queued_at"] = created + timedelta(minutes=rng.randint(30, 120))
        if state in ("reviewed", "second_review", "conflict", "auto_graded"):
            rec["category"] = rng.choice(["0", "1", "2", "3"])
        if state in ("reviewed", "second_review", "conflict"):
            fr = rec["queued_at"] + timedelta(hours=rng.uniform(0.5, 48))
            rec["first_reviewed_at"] = min(fr, now)
        item = EvidenceItem.objects.create(
            agency=agency,
            case=cases[key],
            batch=batches[key],
            path=f"dump/{i}.jpg",
            original_name=f"{i}.jpg",
            status=status,
            processed_at=rec["processed_at"],
            review_state=state,
            created_at=created,
            queued_at=rec["queued_at"],
            first_reviewed_at=rec["first_reviewed_at"],
            is_precategorized=rec["is_precategorized"],
            classifier_score=rec["classifier_score"],
            category=rec["category"],
            group=None if rec["group"] is None else groups[key][rec["group"]],
        )
        rec["item"] = item
        w.items.append(rec)
        for _ in range(rng.randint(0, 2)):
            d = {
                "item": rec,
                "reviewer": rng.choice(people),
                "kind": rng.choice(KINDS),
                "created_at": now - timedelta(days=rng.uniform(0, 16)),
                "undone": rng.random() < 0.15,
            }
            ReviewDecision.objects.create(
                agency=agency, item=item, reviewer=d["reviewer"], kind=d["kind"], category="1",
                created_at=d["created_at"], undone_at=now if d["undone"] else None,
            )  # fmt: skip
            w.decisions.append(d)
        for _ in range(rng.randint(0, 3)):
            e = {
                "item": rec,
                "user": rng.choice(people),
                "kind": rng.choice(["reveal", "reveal", "video", "original"]),
                "started_at": now - timedelta(days=rng.uniform(0, 16)),
                "duration_ms": rng.randint(1000, 400_000),
            }
            ExposureEvent.objects.create(
                agency=agency, user=e["user"], item=item, kind=e["kind"],
                started_at=e["started_at"], duration_ms=e["duration_ms"],
            )  # fmt: skip
            w.exposure.append(e)
    if other_agency is not None:
        # Noise in another agency that must never show up.
        oc = Case.objects.create(agency=other_agency, reference="O-1", title="Other")
        ob = EvidenceBatch.objects.create(agency=other_agency, case=oc, exhibit_ref="O")
        for i in range(15):
            it = EvidenceItem.objects.create(
                agency=other_agency, case=oc, batch=ob, path=f"o/{i}", original_name="o",
                review_state="queued", queued_at=now - timedelta(days=30), status="done",
                processed_at=now, first_reviewed_at=now, classifier_score=0.9,
            )  # fmt: skip
            ReviewDecision.objects.create(
                agency=other_agency, item=it, reviewer=other_user, kind="first", category="1"
            )
            ExposureEvent.objects.create(
                agency=other_agency, user=other_user, item=it, kind="reveal"
            )
        w.other_case = oc
    return w


@pytest.fixture
def dash_world(demo_agency, other_agency, alice, sam, ivan, iris, oscar):
    return build_world(demo_agency, [sam, ivan, iris], other_agency=other_agency, other_user=oscar)
