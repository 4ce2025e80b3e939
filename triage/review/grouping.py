"""Near-duplicate groups within a case: items awaiting review whose PDQ hashes are within
``policy.near_duplicate_distance`` (any of the 8 dihedral hashes, so mirrors and
rotations group too) form connected components. The queue shows a group once, through
its representative (the member with the highest priority); one decision grades all.

Regrouping is incremental: the changed items are searched against every candidate of
the case (faiss ``IndexBinaryFlat`` below 50k hashes, multi-index hashing above), and
unchanged members keep the links they already had. A group a person split off
(``pinned``) is never touched."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
from django.db.models import Q
from django.utils import timezone

from triage.matching.index import build_index, hex_to_bytes
from triage.models import EvidenceItem, ItemGroup, ReviewState

PDQ_QUALITY_MIN = 50  # the PDQ reference ignores hashes below this quality


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _candidates(case_id: int):
    return list(
        EvidenceItem.objects.filter(
            case_id=case_id, review_state=ReviewState.QUEUED, needs_verification=False
        )
        .exclude(pdq="")
        .filter(Q(pdq_quality__isnull=True) | Q(pdq_quality__gte=PDQ_QUALITY_MIN))
        .filter(Q(group__isnull=True) | Q(group__pinned=False))
        .values_list("id", "pdq", "pdq_dihedral", "group_id", "priority", "claimed_by_id")
    )


def near_pairs(pdqs: list[str], queries: list[list[str]], threshold: int) -> set[tuple[int, int]]:
    """``(query row, pdq row)`` pairs within ``threshold`` for any hash of each query."""
    if not pdqs or not queries:
        return set()
    index = build_index(hex_to_bytes(pdqs), np.arange(len(pdqs), dtype=np.int64))
    flat, owner = [], []
    for row, hashes in enumerate(queries):
        for h in hashes:
            if isinstance(h, str) and len(h) == 64:
                flat.append(h)
                owner.append(row)
    if not flat:
        return set()
    result = index.range_search(hex_to_bytes(flat), threshold)
    owners = np.asarray(owner, dtype=np.int64)[result.query]
    return {(int(q), int(p)) for q, p in zip(owners, result.ids, strict=True)}


def regroup_case(case_id: int, agency, changed_ids: set[int]) -> None:
    threshold = int(agency.policy.near_duplicate_distance)
    rows = _candidates(case_id)
    pos = {row[0]: n for n, row in enumerate(rows)}
    uf = _UnionFind(len(rows))
    # Unchanged members keep their links.
    by_group: dict[int, list[int]] = defaultdict(list)
    for n, (item_id, _pdq, _dih, group_id, _prio, _claim) in enumerate(rows):
        if group_id is not None and item_id not in changed_ids:
            by_group[group_id].append(n)
    for members in by_group.values():
        for other in members[1:]:
            uf.union(members[0], other)
    # Changed items are searched against every candidate of the case.
    changed_rows = [pos[i] for i in changed_ids if i in pos]
    queries = [(rows[n][2] or []) + [rows[n][1]] for n in changed_rows]
    for q, p in near_pairs([r[1] for r in rows], queries, threshold):
        uf.union(changed_rows[q], p)

    components: dict[int, list[int]] = defaultdict(list)
    for n in range(len(rows)):
        components[uf.find(n)].append(n)

    touched: set[int] = set()
    used: set[int] = set()
    assign: dict[int, int | None] = {}
    for members in components.values():
        if len(members) == 1:
            item_id, group_id = rows[members[0]][0], rows[members[0]][3]
            if group_id is not None:
                assign[item_id] = None
                touched.add(group_id)
            continue
        votes = Counter(rows[n][3] for n in members if rows[n][3] is not None)
        group_id = next((g for g, _ in votes.most_common() if g not in used), None)
        if group_id is None:
            group = ItemGroup.objects.create(
                agency_id=agency.pk, case_id=case_id, size=len(members)
            )
            group_id = group.pk
        used.add(group_id)
        touched.add(group_id)
        for n in members:
            if rows[n][3] != group_id:
                if rows[n][3] is not None:
                    touched.add(rows[n][3])
                assign[rows[n][0]] = group_id
    # Changed items that are no longer candidates (auto-graded, failed) leave their group.
    gone = (
        EvidenceItem.objects.filter(pk__in=changed_ids - set(pos), group__pinned=False)
        .exclude(group__isnull=True)
        .exclude(
            review_state__in=(ReviewState.REVIEWED, ReviewState.SECOND_REVIEW, ReviewState.CONFLICT)
        )
    )
    for item_id, group_id in gone.values_list("id", "group_id"):
        assign[item_id] = None
        touched.add(group_id)

    by_target: dict[int | None, list[int]] = defaultdict(list)
    for item_id, group_id in assign.items():
        by_target[group_id].append(item_id)
    for group_id, ids in by_target.items():
        EvidenceItem.objects.filter(pk__in=ids).update(group_id=group_id)
    for group in ItemGroup.objects.filter(pk__in=touched):
        refresh_group(group)


def refresh_group(group: ItemGroup) -> None:
    """Recount a group and choose its representative: a member holding a live lease keeps
    the role (so two reviewers never work the same group), else the highest priority
    member still awaiting review. An empty group is deleted; a lone queued member is
    released from an unpinned group that holds no decided items."""
    members = list(
        EvidenceItem.objects.filter(group=group)
        .order_by("-priority", "id")
        .values_list("id", "review_state", "claimed_by_id", "lease_expires_at")
    )
    if not members:
        group.delete()
        return
    if not group.pinned and len(members) == 1:
        EvidenceItem.objects.filter(group=group).update(group=None)
        group.delete()
        return
    now = timezone.now()
    queued = [m for m in members if m[1] in (ReviewState.QUEUED, ReviewState.SECOND_REVIEW)]
    held = [m for m in queued if m[2] is not None and m[3] and m[3] > now]
    current = next((m for m in held if m[0] == group.representative_id), None)
    chosen = current or (held[0] if held else None) or (queued[0] if queued else members[0])
    ItemGroup.objects.filter(pk=group.pk).update(size=len(members), representative_id=chosen[0])
    group.size = len(members)
    group.representative_id = chosen[0]


def regroup_cases(items: list[EvidenceItem]) -> None:
    """Regroup every case touched by ``items`` (the changed items)."""
    by_case: dict[int, set[int]] = defaultdict(set)
    agencies = {}
    for item in items:
        by_case[item.case_id].add(item.id)
        agencies[item.case_id] = item.agency
    for case_id, changed in by_case.items():
        regroup_case(case_id, agencies[case_id], changed)
