"""PDQ indexes: exact Hamming range search over 256-bit hashes.

Distance semantics are the PDQ reference's: the Hamming distance over the 256 bits, and a
hash matches when ``distance <= threshold``. Every index here returns *all* entries within
the radius (no approximate recall): a missed known image is worse than a slow query.

Two structures, chosen by size (``build_index``):

- ``FlatPDQIndex`` wraps faiss ``IndexBinaryFlat``: a brute-force popcount scan, the
  fastest option below a few tens of thousands of hashes and free to build.
- ``MultiIndexHash``: multi-index hashing (Norouzi et al.), the same idea as faiss'
  ``IndexBinaryMultiHash`` that Meta's python-threatexchange uses, but laid out as sorted
  arrays (one CSR table per 16-bit chunk) and queried a whole batch at a time with
  vectorised NumPy. By the pigeonhole principle a hash within distance ``r`` of a query
  agrees with it on at least one of ``m`` chunks up to ``r // m`` flipped bits, so probing
  every chunk value within ``r // m`` flips finds every true neighbour; each candidate is
  then verified with an exact popcount. faiss' version deduplicates candidates through a
  hash set per query; here candidates are verified without deduplication (a verified
  duplicate is dropped once, among the few hits), which is what makes batching pay off.
  ``bench/match.py`` compares the two.

``IndexCache`` keeps built indexes per worker process keyed by the *versions* of the lists
they were built from, so a list change is picked up on the next lookup without rebuilding
on every task.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from itertools import combinations

import numpy as np

PDQ_BITS = 256
PDQ_BYTES = 32
# Below this many hashes a flat scan beats building hash tables.
FLAT_MAX = 50_000


def hex_to_bytes(hashes: list[str]) -> np.ndarray:
    """64-hex PDQ strings to an (n, 32) uint8 array (faiss' binary layout)."""
    if not hashes:
        return np.zeros((0, PDQ_BYTES), dtype=np.uint8)
    joined = "".join(hashes)
    return np.frombuffer(bytes.fromhex(joined), dtype=np.uint8).reshape(len(hashes), PDQ_BYTES)


def pdq_distance(a: str, b: str) -> int:
    """Hamming distance between two 64-hex PDQ hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


@dataclass
class RangeResult:
    """Hits of a batch of queries: ``query[i]`` matched ``ids[i]`` at ``distances[i]``."""

    query: np.ndarray  # int64 row of the query in the batch
    ids: np.ndarray  # int64 id given at build time
    distances: np.ndarray  # int32

    def __len__(self) -> int:
        return len(self.ids)


def _empty_result() -> RangeResult:
    return RangeResult(
        np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
    )


class FlatPDQIndex:
    """faiss ``IndexBinaryFlat``: exact, no build cost, linear scan per query."""

    kind = "flat"

    def __init__(self, vectors: np.ndarray, ids: np.ndarray):
        import faiss

        self.ids = np.asarray(ids, dtype=np.int64)
        self.index = faiss.IndexBinaryFlat(PDQ_BITS)
        if len(vectors):
            self.index.add(np.ascontiguousarray(vectors, dtype=np.uint8))

    def __len__(self) -> int:
        return self.index.ntotal

    @property
    def nbytes(self) -> int:
        return self.index.ntotal * PDQ_BYTES + self.ids.nbytes

    def range_search(self, queries: np.ndarray, threshold: int) -> RangeResult:
        if not len(self) or not len(queries):
            return _empty_result()
        # faiss binary range search keeps distances strictly below the radius.
        lims, dist, rows = self.index.range_search(
            np.ascontiguousarray(queries, dtype=np.uint8), threshold + 1
        )
        counts = np.diff(lims.astype(np.int64))
        query = np.repeat(np.arange(len(queries), dtype=np.int64), counts)
        return RangeResult(query, self.ids[rows.astype(np.int64)], dist.astype(np.int32))


class MultiIndexHash:
    """Multi-index hashing on sorted arrays, queried in vectorised batches (see module doc).

    ``chunk_bits`` is 16: the chunk values index directly into a 65,536-slot offset table,
    which is cheap to probe. 16 tables cover all 256 bits."""

    kind = "mih"
    chunk_bits = 16

    def __init__(self, vectors: np.ndarray, ids: np.ndarray, *, query_block: int = 16):
        vectors = np.ascontiguousarray(vectors, dtype=np.uint8)
        n = len(vectors)
        self.ids = np.asarray(ids, dtype=np.int64)
        self.words = vectors.view(np.uint64).reshape(n, 4)  # for the exact verification
        self.nchunks = PDQ_BITS // self.chunk_bits
        chunks = vectors.view(np.uint16).reshape(n, self.nchunks)
        slots = 1 << self.chunk_bits
        row_dtype = np.uint32 if n < 2**32 else np.int64
        self.rows = np.empty((self.nchunks, n), dtype=row_dtype)
        self.offsets = np.empty((self.nchunks, slots + 1), dtype=np.int64)
        for t in range(self.nchunks):
            keys = chunks[:, t]
            order = np.argsort(keys, kind="stable")
            self.rows[t] = order
            counts = np.bincount(keys, minlength=slots)
            self.offsets[t, 0] = 0
            np.cumsum(counts, out=self.offsets[t, 1:])
            # Make the offsets global into the flattened rows array.
            self.offsets[t] += t * n
        self.rows_flat = self.rows.reshape(-1)
        self.query_block = query_block
        self._masks: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        return self.words.nbytes + self.rows.nbytes + self.offsets.nbytes + self.ids.nbytes

    def _flip_masks(self, nflip: int) -> np.ndarray:
        """Every 16-bit XOR mask with at most ``nflip`` bits set."""
        if nflip not in self._masks:
            masks = [0]
            for k in range(1, nflip + 1):
                for bits in combinations(range(self.chunk_bits), k):
                    masks.append(sum(1 << b for b in bits))
            self._masks[nflip] = np.array(masks, dtype=np.uint16)
        return self._masks[nflip]

    def range_search(self, queries: np.ndarray, threshold: int) -> RangeResult:
        if not len(self) or not len(queries):
            return _empty_result()
        queries = np.ascontiguousarray(queries, dtype=np.uint8)
        masks = self._flip_masks(threshold // self.nchunks)
        parts = [
            self._search_block(queries[s : s + self.query_block], threshold, masks, s)
            for s in range(0, len(queries), self.query_block)
        ]
        return RangeResult(
            np.concatenate([p.query for p in parts]),
            np.concatenate([p.ids for p in parts]),
            np.concatenate([p.distances for p in parts]),
        )

    def _search_block(self, q: np.ndarray, threshold: int, masks, first: int) -> RangeResult:
        nq = len(q)
        qchunks = q.view(np.uint16).reshape(nq, self.nchunks)
        # (nq, nchunks, nmasks) probe keys -> slot ranges in the flattened CSR tables.
        keys = (qchunks[:, :, None] ^ masks[None, None, :]).astype(np.int64)
        table = np.arange(self.nchunks)[None, :, None]
        starts = self.offsets[table, keys].reshape(-1)
        ends = self.offsets[table, keys + 1].reshape(-1)
        lengths = ends - starts
        total = int(lengths.sum())
        if total == 0:
            return _empty_result()
        # Expand ranges to positions without a Python loop.
        nonempty = lengths > 0
        starts, lengths = starts[nonempty], lengths[nonempty]
        probe_query = np.repeat(np.arange(nq), self.nchunks * len(masks))[nonempty]
        ends_cum = np.cumsum(lengths)
        pos = np.arange(total, dtype=np.int64) + np.repeat(starts - (ends_cum - lengths), lengths)
        cand = np.take(self.rows_flat, pos).astype(np.int64)
        cand_query = np.repeat(probe_query, lengths)
        qwords = q.view(np.uint64).reshape(nq, 4)
        # np.take on axis 0 is several times faster than fancy indexing of 2-D rows.
        x = np.take(self.words, cand, axis=0)
        x ^= np.take(qwords, cand_query, axis=0)
        counts = np.bitwise_count(x)
        dist = counts[:, 0].astype(np.int32)
        dist += counts[:, 1]
        dist += counts[:, 2]
        dist += counts[:, 3]
        keep = dist <= threshold
        cand, cand_query, dist = cand[keep], cand_query[keep], dist[keep]
        if len(cand) > 1:
            # A neighbour agreeing on several chunks was found several times.
            _, first_seen = np.unique(cand_query * len(self.ids) + cand, return_index=True)
            cand, cand_query, dist = cand[first_seen], cand_query[first_seen], dist[first_seen]
        return RangeResult(cand_query + first, self.ids[cand], dist)


def build_index(vectors: np.ndarray, ids: np.ndarray, *, flat_max: int = FLAT_MAX):
    """The right structure for the size: a flat scan for small lists, MIH for large."""
    if len(vectors) <= flat_max:
        return FlatPDQIndex(vectors, ids)
    return MultiIndexHash(vectors, ids)


class IndexCache:
    """Per-process cache of built indexes keyed by ``((list id, version), ...)``.

    The key holds every list's version, so an import, edit or tombstone (which bump the
    version) yields a new key: the next lookup rebuilds, never serving a stale index past
    one change. Old keys fall out LRU."""

    def __init__(self, max_entries: int = 8):
        self.max_entries = max_entries
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.builds = 0  # observable in tests

    def get(self, key: Hashable, build: Callable):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = build()
        with self._lock:
            self.builds += 1
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
