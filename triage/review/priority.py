"""The priority function: one pure function from an item's signals to a score and the
reasons behind it, so that every place in the queue can be explained in words.

Order it produces with the default ``PriorityWeights`` (hub/policy.py), for items of the
same case and age:

1. new material (no known match) with a classifier score above ``near_match /
   classifier`` (0.5 by default): it may show a child who has not been identified;
2. near-duplicates of known material, to confirm;
3. the rest of the new material (low or no classifier score), and near-duplicates only
   of material the lists grade non-pertinent (``near_match_non_pertinent``, 0 by default);
4. exact known matches, last (normally auto-graded and not queued at all; the ones
   sampled for verification or without a usable category land here).

Case urgency adds ``urgency_step`` per level to every item of the case, and age adds
``age_per_day`` per day up to ``age_cap`` so that nothing starves.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.policy import PriorityWeights

URGENCY_LABELS = {0: "routine", 1: "priority", 2: "urgent", 3: "child at risk"}


@dataclass(frozen=True)
class Signals:
    """What the pipeline found out about an item (all optional but ``known_state``)."""

    known_state: str = "unknown"  # unknown, near, exact (triage.models.KnownState)
    classifier_score: float | None = None
    classifier_model: str = ""  # e.g. "open_nsfw v1"
    best_distance: int | None = None  # PDQ distance of the best near match
    match_list: str = ""  # the list of the best match
    match_category: str = ""  # its category as the agency reads it (label)
    needs_verification: bool = False  # an exact match sampled for a human check
    near_non_pertinent: bool = False  # every near match is to non-pertinent material


def _reason(code: str, text: str, weight: float) -> dict:
    return {"code": code, "text": text, "weight": round(float(weight), 2)}


def compute_priority(
    signals: Signals, weights: PriorityWeights, *, urgency: int, age_days: float
) -> tuple[float, list[dict]]:
    """``(score, reasons)``: higher scores are reviewed first; ``reasons`` is a list of
    ``{"code", "text", "weight"}`` whose weights add up to the score."""
    reasons: list[dict] = []
    state = signals.known_state
    if state == "exact":
        where = f" in {signals.match_list}" if signals.match_list else ""
        category = f" ({signals.match_category})" if signals.match_category else ""
        reasons.append(
            _reason("exact_match", f"exact known match{where}{category}", weights.exact_match)
        )
        if signals.needs_verification:
            reasons.append(_reason("verification", "sampled to verify the auto-grade", 0))
    elif state == "near":
        distance = (
            f" at PDQ distance {signals.best_distance}" if signals.best_distance is not None else ""
        )
        where = f" in {signals.match_list}" if signals.match_list else ""
        category = f" ({signals.match_category})" if signals.match_category else ""
        if signals.near_non_pertinent:
            text = f"near-duplicate of known non-pertinent material{where}{distance}{category}"
            reasons.append(_reason("near_match", text, weights.near_match_non_pertinent))
        else:
            text = f"near-duplicate of known material{where}{distance}{category}"
            reasons.append(_reason("near_match", text, weights.near_match))
    else:
        reasons.append(_reason("new_material", "no known match", 0))
        if signals.classifier_score is not None:
            score = min(max(float(signals.classifier_score), 0.0), 1.0)
            model = f" ({signals.classifier_model})" if signals.classifier_model else ""
            reasons.append(
                _reason("classifier", f"classifier {score:.2f}{model}", weights.classifier * score)
            )
        else:
            reasons.append(_reason("classifier", "no classifier score", 0))
    level = max(0, int(urgency or 0))
    if level:
        label = URGENCY_LABELS.get(level, f"level {level}")
        reasons.append(_reason("urgency", f"case urgency: {label}", weights.urgency_step * level))
    # Whole days, so that a recomputation on the same day gives the same score.
    days = int(max(0.0, float(age_days or 0)))
    age_weight = min(weights.age_per_day * days, weights.age_cap)
    if age_weight > 0:
        reasons.append(_reason("age", f"waiting {days} day{'s' if days != 1 else ''}", age_weight))
    score = round(sum(r["weight"] for r in reasons), 4)
    return score, reasons


def reasons_text(reasons: list[dict]) -> str:
    """The reasons as one line: ``no known match; classifier 0.93 (open_nsfw v1); …``."""
    return "; ".join(r["text"] for r in reasons if r.get("text"))
