"""Hash-path benchmark: the hub's path vs the plain full-resolution path.

    .venv/bin/python bench/hash.py            # 20 images (half ~1 MP, half ~6 MP)
    .venv/bin/python bench/hash.py --n 200

hub:    read + MD5/SHA-1/SHA-256 (one pass) + bounded decode (JPEG DCT scaling) + PDQ with
        the 8 dihedral hashes (triage.media: the pipeline's code)
plain:  python-threatexchange's PDQ path: Pillow full decode to RGB + pdqhash.compute
        (no crypto hashes, no dihedrals)
Prints per-image times, the speed ratio, and the PDQ drift of the hub's hash from the
plain one (max / mean bits)."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
os.environ.setdefault("HUB_DATA_DIR", tempfile.mkdtemp(prefix="bench-hash-"))

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import pdqhash  # noqa: E402
from PIL import Image  # noqa: E402

from bench._corpus import make_corpus  # noqa: E402
from bench._report import result  # noqa: E402
from triage.media import analyse, crypto_hashes, sniff_file  # noqa: E402
from triage.media.pdq import hamming_hex, to_hex  # noqa: E402


def hub_path(path: Path) -> str:
    crypto_hashes(path)
    return analyse(path, sniff_file(path)).pdq


def plain_path(path: Path) -> str:
    rgb = np.asarray(Image.open(path).convert("RGB"))
    vector, _ = pdqhash.compute(rgb)
    return to_hex(vector)


def timed(fn, paths):
    results, times = [], []
    for p in paths:
        started = time.perf_counter()
        results.append(fn(p))
        times.append(time.perf_counter() - started)
    return results, times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--corpus", type=Path, default=Path(tempfile.gettempdir()) / "hub-bench")
    args = parser.parse_args()
    paths = make_corpus(args.corpus, args.n)
    for p in paths[:2]:  # warm the page cache and the libraries
        hub_path(p), plain_path(p)
    hub, hub_t = timed(hub_path, paths)
    plain, plain_t = timed(plain_path, paths)
    drift = [hamming_hex(a, b) for a, b in zip(hub, plain, strict=True)]
    print(f"images: {len(paths)} (half ~1 MP, half ~6 MP, JPEG q80/q95)")
    for label, sel in (
        ("~1 MP", slice(0, None, 2)),
        ("~6 MP", slice(1, None, 2)),
        ("all", slice(None)),
    ):
        h, p = statistics.mean(hub_t[sel]), statistics.mean(plain_t[sel])
        print(
            f"{label:6} hub {h * 1000:7.1f} ms/img   plain {p * 1000:7.1f} ms/img   "
            f"ratio {p / h:4.1f}x"
        )
    print(
        f"PDQ drift hub vs plain full-resolution: max {max(drift)} bits, "
        f"mean {statistics.mean(drift):.2f} bits (bound: 10)"
    )
    h, p = statistics.mean(hub_t), statistics.mean(plain_t)
    result(
        "hash",
        "hub path vs plain full-resolution PDQ (threatexchange)",
        f"{p / h:.1f}× faster",
        f"n={len(paths)}; PDQ drift max {max(drift)} bits (bound 10)",
    )
    return 0 if max(drift) <= 10 else 1


if __name__ == "__main__":
    sys.exit(main())
