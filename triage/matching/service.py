"""Matching service (owned by the matching area).

CONTRACT used by the pipeline's Match stage:
    match_items(items: list[EvidenceItem]) -> None
Matches already-hashed items exactly (MD5/SHA-1/SHA-256) and perceptually (PDQ with
dihedrals, video keyframes) against every list the item's agency may use, stores Match
rows idempotently, and sets item.known_state / item.best_distance (saved).

Re-running is safe and is how lists changes reach past items: the match set of each item
is recomputed, new matches are inserted, changed ones updated, and matches to tombstoned
entries or lists no longer usable are deleted.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from triage.matching.index import IndexCache, build_index, hex_to_bytes
from triage.matching.lists import usable_lists
from triage.models import Blob, EvidenceItem, HashEntry, KnownState, Match, VideoFrame
from triage.models.matching import HashList, RematchJob

log = logging.getLogger(__name__)

EXACT_ALGORITHMS = ("md5", "sha1", "sha256")
EXACT_CHUNK = 500  # values per IN (...) query; below SQLite's variable limit
REMATCH_CHUNK = 500

INDEX_CACHE = IndexCache()


@dataclass
class ListIndex:
    """A PDQ index over the live entries of a set of lists, with per-row metadata."""

    index: object
    entry_ids: np.ndarray
    list_ids: np.ndarray
    build_seconds: float

    def __len__(self) -> int:
        return len(self.entry_ids)


def _build_list_index(list_ids: list[int]) -> ListIndex:
    started = time.perf_counter()
    rows = (
        HashEntry.objects.filter(hash_list_id__in=list_ids, deleted_at__isnull=True)
        .exclude(pdq="")
        .order_by("id")
        .values_list("id", "hash_list_id", "pdq")
    )
    entry_ids, owners, hashes = [], [], []
    for entry_id, list_id, pdq in rows.iterator(chunk_size=20000):
        entry_ids.append(entry_id)
        owners.append(list_id)
        hashes.append(pdq)
    vectors = hex_to_bytes(hashes)
    index = build_index(vectors, np.arange(len(hashes), dtype=np.int64))
    seconds = time.perf_counter() - started
    log.info("PDQ index of %d hashes (%s) built in %.2fs", len(hashes), index.kind, seconds)
    return ListIndex(
        index, np.array(entry_ids, dtype=np.int64), np.array(owners, dtype=np.int64), seconds
    )


def index_for(lists: list[HashList]) -> ListIndex:
    """The cached index of these lists at their current versions."""
    key = tuple(sorted((hl.id, hl.version) for hl in lists))
    return INDEX_CACHE.get(key, lambda: _build_list_index([hl.id for hl in lists]))


@dataclass
class Hit:
    entry_id: int
    list_id: int
    algorithm: str
    distance: int
    quality: int | None = None
    frame_timestamp: float | None = None


def _exact_hits(items: list[EvidenceItem], list_ids: list[int]) -> dict[int, list[Hit]]:
    """One query per chunk per algorithm on the indexed hash columns."""
    hits: dict[int, list[Hit]] = defaultdict(list)
    if not list_ids:
        return hits
    for start in range(0, len(items), EXACT_CHUNK):
        chunk = items[start : start + EXACT_CHUNK]
        for algo in EXACT_ALGORITHMS:
            by_value: dict[str, list[int]] = defaultdict(list)
            for item in chunk:
                value = getattr(item.blob, algo, "") if item.blob_id else ""
                if value:
                    by_value[value.lower()].append(item.id)
            if not by_value:
                continue
            rows = HashEntry.objects.filter(
                hash_list_id__in=list_ids,
                deleted_at__isnull=True,
                **{f"{algo}__in": list(by_value)},
            ).values_list("id", "hash_list_id", algo)
            for entry_id, list_id, value in rows:
                for item_id in by_value.get(value, ()):
                    hits[item_id].append(Hit(entry_id, list_id, algo, 0))
    return hits


def _pdq_queries(items: list[EvidenceItem]):
    """(item id, hex hash, quality, frame timestamp) for every hash of every item: the
    eight dihedral PDQs of an image (the original included) and each video keyframe's."""
    queries = []
    for item in items:
        if item.pdq:
            hashes = list(dict.fromkeys([item.pdq, *(item.pdq_dihedral or [])]))
            for value in hashes:
                if value and len(value) == 64:
                    queries.append((item.id, value.lower(), item.pdq_quality or 0, None))
    frames = VideoFrame.objects.filter(item__in=[i.id for i in items]).values_list(
        "item_id", "pdq", "quality", "timestamp"
    )
    for item_id, pdq, quality, timestamp in frames:
        if pdq and len(pdq) == 64:
            queries.append((item_id, pdq.lower(), quality, timestamp))
    return queries


def _pdq_hits(items: list[EvidenceItem], lists: list[HashList]) -> dict[int, list[Hit]]:
    hits: dict[int, list[Hit]] = defaultdict(list)
    if not lists:
        return hits
    queries = _pdq_queries(items)
    if not queries:
        return hits
    by_id = {hl.id: hl for hl in lists}
    # A query below every list's quality gate cannot match anything: drop it early.
    lowest_gate = min(hl.pdq_quality_min for hl in lists)
    queries = [q for q in queries if q[2] >= lowest_gate]
    if not queries:
        return hits
    index = index_for(lists)
    if not len(index):
        return hits
    radius = max(hl.pdq_threshold for hl in lists)
    result = index.index.range_search(hex_to_bytes([q[1] for q in queries]), radius)
    best: dict[tuple[int, int], Hit] = {}
    for qrow, row, distance in zip(
        result.query.tolist(), result.ids.tolist(), result.distances.tolist(), strict=True
    ):
        item_id, _, quality, timestamp = queries[qrow]
        hash_list = by_id[int(index.list_ids[row])]
        if distance > hash_list.pdq_threshold or quality < hash_list.pdq_quality_min:
            continue
        entry_id = int(index.entry_ids[row])
        key = (item_id, entry_id)
        if key not in best or distance < best[key].distance:
            best[key] = Hit(entry_id, hash_list.id, "pdq", distance, quality, timestamp)
    for (item_id, _), hit in best.items():
        hits[item_id].append(hit)
    return hits


def _store(items: list[EvidenceItem], hits: dict[int, list[Hit]]) -> list[EvidenceItem]:
    """Make each item's Match rows equal ``hits`` and set its known state; return the
    items whose matches or state changed."""
    item_ids = [i.id for i in items]
    existing = {
        (m.item_id, m.entry_id, m.algorithm): m
        for m in Match.objects.filter(item_id__in=item_ids).only(
            "id", "item_id", "entry_id", "algorithm", "distance", "quality", "frame_timestamp"
        )
    }
    wanted = {(item_id, h.entry_id, h.algorithm): h for item_id, hs in hits.items() for h in hs}
    changed_ids: set[int] = set()
    stale = [m.id for key, m in existing.items() if key not in wanted]
    changed_ids.update(key[0] for key in existing if key not in wanted)
    to_create, to_update = [], []
    now = timezone.now()
    for key, hit in wanted.items():
        match = existing.get(key)
        if match is None:
            to_create.append(
                Match(
                    item_id=key[0],
                    entry_id=hit.entry_id,
                    hash_list_id=hit.list_id,
                    algorithm=hit.algorithm,
                    distance=hit.distance,
                    quality=hit.quality,
                    frame_timestamp=hit.frame_timestamp,
                    created_at=now,
                )
            )
            changed_ids.add(key[0])
        elif (match.distance, match.quality, match.frame_timestamp) != (
            hit.distance,
            hit.quality,
            hit.frame_timestamp,
        ):
            match.distance, match.quality = hit.distance, hit.quality
            match.frame_timestamp = hit.frame_timestamp
            to_update.append(match)
            changed_ids.add(key[0])
    changed_items = []
    for item in items:
        item_hits = hits.get(item.id, [])
        if any(h.algorithm != "pdq" for h in item_hits):
            state, best = KnownState.EXACT, 0
        elif item_hits:
            state, best = KnownState.NEAR, min(h.distance for h in item_hits)
        else:
            state, best = KnownState.UNKNOWN, None
        if (item.known_state, item.best_distance) != (state, best):
            item.known_state, item.best_distance = state, best
            changed_ids.add(item.id)
            changed_items.append(item)
    with transaction.atomic():
        if stale:
            Match.objects.filter(id__in=stale).delete()
        # ignore_conflicts: a concurrent run of the same chunk may have inserted first.
        Match.objects.bulk_create(to_create, ignore_conflicts=True, batch_size=1000)
        if to_update:
            Match.objects.bulk_update(to_update, ["distance", "quality", "frame_timestamp"])
        if changed_items:
            EvidenceItem.objects.bulk_update(changed_items, ["known_state", "best_distance"])
    return [item for item in items if item.id in changed_ids]


def match_items_changed(items: list[EvidenceItem]) -> list[EvidenceItem]:
    """``match_items`` that also returns the items whose matches or state changed."""
    by_agency: dict[int, list[EvidenceItem]] = defaultdict(list)
    for item in items:
        by_agency[item.agency_id].append(item)
    changed = []
    for agency_id, group in by_agency.items():
        lists = list(usable_lists(agency_id))
        list_ids = [hl.id for hl in lists]
        hits = _exact_hits(group, list_ids)
        for item_id, pdq in _pdq_hits(group, lists).items():
            hits[item_id].extend(pdq)
        changed.extend(_store(group, hits))
    return changed


def match_items(items: list) -> None:
    """Match items against every list their agency may use (see module docstring)."""
    items = [i for i in items if i.id is not None]
    if not items:
        return
    # Load blobs in one query when the caller did not select_related them.
    missing = [i for i in items if i.blob_id and not EvidenceItem.blob.is_cached(i)]
    if missing:
        blobs = Blob.objects.in_bulk([i.blob_id for i in missing])
        for item in missing:
            item.blob = blobs.get(item.blob_id)
    match_items_changed(items)


# --- retroactive matching --------------------------------------------------------------


def rematch_start(job_id: int) -> None:
    """Split the job into chunks of past items and queue one task per chunk."""
    from triage.matching.tasks import rematch_chunk

    claimed = RematchJob.objects.filter(pk=job_id, status=RematchJob.Status.PENDING).update(
        status=RematchJob.Status.RUNNING
    )
    if not claimed:
        return
    job = RematchJob.objects.get(pk=job_id)
    ids = list(
        EvidenceItem.objects.filter(agency_id__in=job.agency_ids)
        .exclude(blob__isnull=True, pdq="")
        .order_by("id")
        .values_list("id", flat=True)
    )
    chunks = [ids[s : s + REMATCH_CHUNK] for s in range(0, len(ids), REMATCH_CHUNK)]
    RematchJob.objects.filter(pk=job_id).update(total=len(ids), chunks_total=len(chunks))
    if not chunks:
        RematchJob.objects.filter(pk=job_id).update(
            status=RematchJob.Status.DONE, finished_at=timezone.now()
        )
        return
    for chunk in chunks:
        transaction.on_commit(lambda chunk=chunk: rematch_chunk.delay(job_id, chunk))


def rematch_items(job_id: int, item_ids: list[int]) -> int:
    """Re-match one chunk, re-prioritise the items that changed; returns their count."""
    items = list(EvidenceItem.objects.filter(id__in=item_ids).select_related("blob"))
    changed = match_items_changed(items)
    if changed:
        from triage.review.service import prioritise_items

        try:
            prioritise_items(changed)
        except NotImplementedError:
            log.info("prioritise_items is not implemented yet; skipped")
    with transaction.atomic():
        RematchJob.objects.filter(pk=job_id).update(
            processed=F("processed") + len(items),
            changed=F("changed") + len(changed),
            chunks_done=F("chunks_done") + 1,
        )
        RematchJob.objects.filter(
            pk=job_id, status=RematchJob.Status.RUNNING, chunks_done__gte=F("chunks_total")
        ).update(status=RematchJob.Status.DONE, finished_at=timezone.now())
    return len(changed)
