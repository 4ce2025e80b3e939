"""Matching service (owned by the matching area).

CONTRACT used by the pipeline's Match stage:
    match_items(items: list[EvidenceItem]) -> None
Matches already-hashed items exactly (MD5/SHA-1/SHA-256) and perceptually (PDQ with
dihedrals, video keyframes) against every list the item's agency may use, stores Match
rows idempotently, and sets item.known_state / item.best_distance (saved).
"""

from __future__ import annotations


def match_items(items: list) -> None:
    """Not implemented yet: the matching area replaces this."""
    raise NotImplementedError("matching is not implemented yet")
