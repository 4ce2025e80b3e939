"""Review service (owned by the review area).

CONTRACT used by the pipeline's Prioritise stage (the last stage):
    prioritise_items(items: list[EvidenceItem]) -> None
Computes priority + reasons from the item's signals and the agency's weights,
auto-grades exact known matches per policy, groups near-duplicates within the case, and
puts reviewable items in the queue (review_state=QUEUED). Idempotent.
"""

from __future__ import annotations


def prioritise_items(items: list) -> None:
    """Not implemented yet: the review area replaces this."""
    raise NotImplementedError("prioritisation is not implemented yet")
