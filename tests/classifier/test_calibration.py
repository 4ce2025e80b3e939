"""Calibration arithmetic on hand-computed cases, and its inputs from the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from hub.policy import CATEGORY_SCHEMES
from tests.classifier.conftest import solid
from triage.classifier.calibration import (
    calibration_table,
    confusion_at,
    items_crossing,
    labelled_scores,
    non_pertinent_code,
    queued_scores,
    threshold_steps,
)
from triage.classifier.service import classify_items
from triage.models import ReviewDecision, ReviewState

SCORES = [0.9, 0.8, 0.4, 0.3, 0.1]
POSITIVE = [True, False, True, False, False]


@pytest.mark.parametrize(
    ("t", "tp", "fp", "fn", "tn", "precision", "recall"),
    [
        (0.5, 1, 1, 1, 2, 0.5, 0.5),
        (0.35, 2, 1, 0, 2, 2 / 3, 1.0),
        (0.4, 2, 1, 0, 2, 2 / 3, 1.0),  # a score equal to the threshold is flagged
        (0.0, 2, 3, 0, 0, 0.4, 1.0),
        (0.95, 0, 0, 2, 3, None, 0.0),
    ],
)
def test_confusion_by_hand(t, tp, fp, fn, tn, precision, recall):
    row = confusion_at(SCORES, POSITIVE, t)
    assert (row.tp, row.fp, row.fn, row.tn) == (tp, fp, fn, tn)
    assert row.precision == (pytest.approx(precision) if precision is not None else None)
    assert row.recall == pytest.approx(recall)


def test_no_positives_means_unknown_recall():
    row = confusion_at([0.2, 0.7], [False, False], 0.5)
    assert row.recall is None and row.precision == 0.0


def test_threshold_steps():
    steps = threshold_steps(0.05)
    assert len(steps) == 21 and steps[0] == 0.0 and steps[-1] == 1.0
    assert 0.15 in steps and 0.35 in steps
    assert threshold_steps(0.25) == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_items_crossing():
    queued = [0.1, 0.3, 0.5, 0.7]
    assert items_crossing(queued, 0.5, 0.3) == 1  # 0.3 becomes flagged
    assert items_crossing(queued, 0.5, 0.8) == 2  # 0.5 and 0.7 stop being flagged
    assert items_crossing(queued, 0.5, 0.5) == 0
    assert items_crossing(queued, 0.0, 1.0) == 4


def test_table_marks_moves_relative_to_current():
    rows = calibration_table(
        SCORES, POSITIVE, queued_scores=[0.1, 0.3, 0.5, 0.7], current=0.5, step=0.25
    )
    assert [(r.threshold, r.moved) for r in rows] == [
        (0.0, 2),
        (0.25, 1),
        (0.5, 0),
        (0.75, 2),
        (1.0, 2),
    ]
    assert rows[2].precision == 0.5


def test_non_pertinent_code_per_scheme():
    assert non_pertinent_code(CATEGORY_SCHEMES["projectvic_us"]) == "0"
    assert non_pertinent_code(CATEGORY_SCHEMES["legacy"]) == "5"
    assert non_pertinent_code(CATEGORY_SCHEMES["uk_caid"]) == "NP"
    assert non_pertinent_code([("x", "Other")]) is None


@pytest.mark.django_db
def test_labels_from_latest_non_undone_reviewer_decision(
    evidence, other_evidence, tiny_model, demo_agency, other_agency, ivan
):
    model = tiny_model(agency=None)
    a, b, c, d, e = (evidence.image(solid(v)) for v in (230, 204, 51, 25, 128))
    theirs = other_evidence.image(solid(255))
    classify_items([a, b, c, d, e, theirs])
    now = timezone.now()

    def decide(item, category, minutes, **kw):
        return ReviewDecision.objects.create(
            agency=item.agency,
            item=item,
            reviewer=ivan,
            category=category,
            created_at=now + timedelta(minutes=minutes),
            **kw,
        )

    decide(a, "1", 0)
    decide(b, "1", 0)
    decide(b, "0", 1)  # latest: non-pertinent
    decide(c, "0", 0)
    decide(c, "2", 1, undone_at=now)  # undone: ignored, c stays non-pertinent
    decide(d, "1", 0, kind=ReviewDecision.Kind.AUTO)  # auto-grade: not a reviewer's decision
    decide(theirs, "1", 0)  # other agency
    scores, positives = labelled_scores(model, demo_agency)
    got = sorted(zip((round(s, 3) for s in scores), positives, strict=True))
    assert got == [(0.2, False), (0.8, False), (0.902, True)]

    type(e).objects.filter(pk__in=[e.pk, a.pk]).update(review_state=ReviewState.QUEUED)
    assert sorted(round(s, 3) for s in queued_scores(model, demo_agency)) == [0.502, 0.902]
