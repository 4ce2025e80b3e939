"""Classifier service (owned by the classifier area).

CONTRACT used by the pipeline's Classify stage (which runs on the "inference" queue):
    classify_items(items: list[EvidenceItem]) -> None
Scores image items (and video keyframes, keeping the max) with every model enabled for
the item's agency, in batches; stores one ClassifierScore per (item, model) idempotently
and sets item.classifier_score (max over models, saved).
"""

from __future__ import annotations


def classify_items(items: list) -> None:
    """Not implemented yet: the classifier area replaces this."""
    raise NotImplementedError("classification is not implemented yet")
