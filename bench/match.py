"""PDQ index benchmark: build time, memory, lookups/s per core and recall at distance 31.

    .venv/bin/python bench/match.py                 # 1M hashes, 2000 queries (< 2 min)
    .venv/bin/python bench/match.py --n 10000000    # the 10M run

Compares, in one run and on the same data and queries:
  numpy-scan   brute-force popcount over every hash (on a subset, extrapolated: labelled)
  faiss-flat   faiss IndexBinaryFlat (our structure for small lists)
  threatexch   python-threatexchange's configuration:
               IndexBinaryIDMap2(IndexBinaryMultiHash(256, 16, 16)), nflip = 31 // 16
  ours-mih     triage.matching.index.MultiIndexHash (sorted-array multi-index hashing,
               queried in vectorised batches)

Queries are planted near-duplicates of random database hashes (0..31 bits flipped), so
recall at distance 31 must be 100%. Everything runs single-threaded
(faiss.omp_set_num_threads(1)) so the figures are per core."""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import faiss  # noqa: E402

from bench._report import result as report_result  # noqa: E402
from triage.matching.index import FlatPDQIndex, MultiIndexHash  # noqa: E402

THRESHOLD = 31


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 1e6


def plant(db: np.ndarray, nq: int, rng) -> tuple[np.ndarray, np.ndarray]:
    targets = rng.choice(len(db), nq, replace=False)
    bits = np.unpackbits(db[targets], axis=1)
    for row in range(nq):
        flips = rng.choice(256, rng.integers(0, THRESHOLD + 1), replace=False)
        bits[row, flips] ^= 1
    return np.packbits(bits, axis=1), targets


def recall(found: list[set], targets: np.ndarray) -> float:
    return sum(int(t) in f for f, t in zip(found, targets, strict=True)) / len(targets)


def sets_from_lims(lims, ids, nq) -> list[set]:
    return [set(ids[lims[i] : lims[i + 1]].tolist()) for i in range(nq)]


def sets_from_result(result, nq) -> list[set]:
    out = [set() for _ in range(nq)]
    for q, i in zip(result.query.tolist(), result.ids.tolist(), strict=True):
        out[q].add(i)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="hashes in the index")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--scan-subset", type=int, default=200_000)
    parser.add_argument("--flat-queries", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    print(
        f"PDQ benchmark: {args.n:,} random hashes, {args.queries:,} planted queries, "
        f"radius {THRESHOLD}, 1 thread, faiss {faiss.__version__}"
    )
    db = rng.integers(0, 256, size=(args.n, 32), dtype=np.uint8)
    queries, targets = plant(db, args.queries, rng)
    ids = np.arange(args.n, dtype=np.int64)
    rows = []

    # NumPy popcount scan on a subset of the database, extrapolated to n.
    subset = min(args.scan_subset, args.n)
    words = db[:subset].view(np.uint64).reshape(subset, 4)
    nq_scan = min(50, args.queries)
    t = time.perf_counter()
    for q in queries[:nq_scan].view(np.uint64).reshape(nq_scan, 4):
        dist = np.bitwise_count(words ^ q).sum(axis=1)
        np.nonzero(dist <= THRESHOLD)
    seconds = (time.perf_counter() - t) / nq_scan * (args.n / subset)
    rows.append(
        ("numpy-scan*", 0.0, words.nbytes * args.n / subset / 1e6, 1 / seconds, "100% (exact)")
    )

    # Ours first: an RSS delta measured after another index was freed means little.
    before = rss_mb()
    t = time.perf_counter()
    ours = MultiIndexHash(db, ids)
    build = time.perf_counter() - t
    mem = max(rss_mb() - before, ours.nbytes / 1e6)
    ours.range_search(queries[-64:], THRESHOLD)  # warm-up: first touch of the tables
    t = time.perf_counter()
    result = ours.range_search(queries, THRESHOLD)
    qps = args.queries / (time.perf_counter() - t)
    rec = recall(sets_from_result(result, args.queries), targets)
    ours_rows = [("ours-mih (batched)", build, mem, qps, f"{rec:.2%}")]
    found = []
    t = time.perf_counter()
    for s in range(200):
        found.append(set(ours.range_search(queries[s : s + 1], THRESHOLD).ids.tolist()))
    qps = 200 / (time.perf_counter() - t)
    ours_rows.append(("ours-mih (1 by 1)", build, mem, qps, f"{recall(found, targets[:200]):.2%}"))
    del ours, result

    # faiss IndexBinaryFlat (range search, radius is exclusive: threshold + 1).
    before = rss_mb()
    t = time.perf_counter()
    flat = FlatPDQIndex(db, ids)
    build = time.perf_counter() - t
    mem = rss_mb() - before
    nq = min(args.flat_queries, args.queries)
    t = time.perf_counter()
    result = flat.range_search(queries[:nq], THRESHOLD)
    qps = nq / (time.perf_counter() - t)
    rows.append(
        ("faiss-flat", build, mem, qps, f"{recall(sets_from_result(result, nq), targets[:nq]):.2%}")
    )
    del flat

    # python-threatexchange's configuration.
    before = rss_mb()
    t = time.perf_counter()
    mih = faiss.IndexBinaryMultiHash(256, 16, 16)
    mih.nflip = THRESHOLD // 16
    te = faiss.IndexBinaryIDMap2(mih)
    te.add_with_ids(db, ids)
    build = time.perf_counter() - t
    mem = rss_mb() - before
    t = time.perf_counter()
    found = []
    for q in queries:  # threatexchange queries one hash at a time
        lims, _, labels = te.range_search(q[None, :], THRESHOLD + 1)
        found.append(set(labels.tolist()))
    one = args.queries / (time.perf_counter() - t)
    t = time.perf_counter()
    lims, _, labels = te.range_search(queries, THRESHOLD + 1)
    batched = args.queries / (time.perf_counter() - t)
    te_recall = recall(sets_from_lims(lims, labels, args.queries), targets)
    rows.append(("threatexch (1 by 1)", build, mem, one, f"{recall(found, targets):.2%}"))
    rows.append(("threatexch (batched)", build, mem, batched, f"{te_recall:.2%}"))
    te_qps = max(one, batched)
    del te, mih

    rows.extend(ours_rows)

    print()
    print(
        f"{'index':22s} {'build s':>8s} {'mem MB':>8s} {'lookups/s':>10s} {'vs TE':>7s}  recall@31"
    )
    for name, build, mem, qps, rec in rows:
        print(f"{name:22s} {build:8.2f} {mem:8.0f} {qps:10.0f} {qps / te_qps:6.2f}x  {rec}")
    ours = {name: (qps, rec, mem) for name, _, mem, qps, rec in ours_rows}
    one_qps, one_rec, our_mem = ours["ours-mih (1 by 1)"]
    report_result(
        "match",
        "PDQ lookups/s vs threatexchange's faiss index",
        f"{one_qps / te_qps:.2f}×",
        f"n={args.n:,}, 1 by 1, recall {one_rec}; memory {our_mem:.0f} vs {mem:.0f} MB",
    )
    print(
        "\n* numpy-scan: timed on the first "
        f"{subset:,} hashes with {nq_scan} queries, extrapolated linearly to {args.n:,}; "
        "memory is the packed hashes only. 'vs TE' is against the better of the two "
        "threatexchange timings. mem is the RSS delta of building the index."
    )


if __name__ == "__main__":
    main()
