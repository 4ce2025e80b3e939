"""Threshold calibration from reviewers' decisions.

The arithmetic is pure (lists in, rows out) so it can be checked by hand; the two
selectors at the bottom gather its inputs from the database, scoped to one agency.

An item is predicted positive at threshold t when its score >= t. It is actually positive
when its latest non-undone reviewer decision is any category other than the agency's
non-pertinent one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ThresholdRow:
    threshold: float
    tp: int
    fp: int
    fn: int
    tn: int
    moved: int = 0  # queued items that would cross the line if the threshold were this

    @property
    def precision(self) -> float | None:
        flagged = self.tp + self.fp
        return self.tp / flagged if flagged else None

    @property
    def recall(self) -> float | None:
        positives = self.tp + self.fn
        return self.tp / positives if positives else None

    @property
    def flagged(self) -> int:
        return self.tp + self.fp


def threshold_steps(step: float = 0.05) -> list[float]:
    """0, step, 2*step ... 1 (rounded so 0.15 is 0.15, not 0.15000000000000002)."""
    n = round(1 / step)
    return [round(i * step, 6) for i in range(n + 1)]


def confusion_at(scores: list[float], positives: list[bool], threshold: float) -> ThresholdRow:
    tp = fp = fn = tn = 0
    for score, positive in zip(scores, positives, strict=True):
        flagged = score >= threshold
        if flagged and positive:
            tp += 1
        elif flagged:
            fp += 1
        elif positive:
            fn += 1
        else:
            tn += 1
    return ThresholdRow(threshold, tp, fp, fn, tn)


def items_crossing(scores: list[float], old: float, new: float) -> int:
    """How many scores change side when the threshold moves from ``old`` to ``new``
    (a score s is on the flagged side of t when s >= t)."""
    low, high = min(old, new), max(old, new)
    return sum(1 for s in scores if low <= s < high)


def calibration_table(
    scores: list[float],
    positives: list[bool],
    *,
    queued_scores: list[float],
    current: float,
    step: float = 0.05,
) -> list[ThresholdRow]:
    rows = []
    for t in threshold_steps(step):
        row = confusion_at(scores, positives, t)
        rows.append(
            ThresholdRow(
                t, row.tp, row.fp, row.fn, row.tn, items_crossing(queued_scores, current, t)
            )
        )
    return rows


def non_pertinent_code(categories: list[tuple[str, str]]) -> str | None:
    """The code of the scheme's non-pertinent category (``0`` in Project VIC US, ``5`` in
    the legacy DHS scheme, ``NP`` in UK CAID), found by its label."""
    for code, label in categories:
        if label.strip().lower().replace("-", " ") in ("non pertinent", "not pertinent"):
            return code
    return None


# --- selectors (database) ---------------------------------------------------------------


def labelled_scores(model, agency) -> tuple[list[float], list[bool]]:
    """(scores, positives) of the agency's items scored by ``model`` that a reviewer has
    decided (auto-grades by hash are not reviewers' decisions and are left out)."""
    from triage.models import ClassifierScore, ReviewDecision

    np_code = non_pertinent_code(agency.policy.categories)
    latest: dict[int, str] = {}
    decisions = (
        ReviewDecision.objects.filter(agency=agency, undone_at__isnull=True)
        .exclude(kind=ReviewDecision.Kind.AUTO)
        .filter(item__scores__model=model)
        .order_by("created_at", "id")
        .values_list("item_id", "category")
    )
    for item_id, category in decisions:
        latest[item_id] = category  # later rows overwrite earlier ones
    score_of = dict(
        ClassifierScore.objects.filter(
            model=model, item__agency=agency, item_id__in=list(latest)
        ).values_list("item_id", "score")
    )
    scores, positives = [], []
    for item_id, category in latest.items():
        if item_id in score_of:
            scores.append(score_of[item_id])
            positives.append(category != np_code)
    return scores, positives


def queued_scores(model, agency) -> list[float]:
    from triage.models import ClassifierScore, ReviewState

    return list(
        ClassifierScore.objects.filter(
            model=model, item__agency=agency, item__review_state=ReviewState.QUEUED
        ).values_list("score", flat=True)
    )
