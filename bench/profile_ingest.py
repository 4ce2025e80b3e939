"""Profile the ingest path: one batch through every stage in this process (the code a worker
runs for each chunk, without the broker), under pyinstrument, on a scratch PostgreSQL
database. Prints the profile and the throughput.

    .venv/bin/python bench/profile_ingest.py --n 60
    .venv/bin/python bench/profile_ingest.py --n 60 --html var/ingest-profile.html
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._report import result  # noqa: E402
from bench.ingest import SCRATCH, create_database, fill, make_corpus  # noqa: E402 (sets up Django)


def main() -> int:
    import tempfile

    from django.db import connection
    from pyinstrument import Profiler

    from triage.services.intake import process_batch_now

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--html", type=Path, help="also write an HTML profile here")
    parser.add_argument(
        "--corpus", type=Path, default=Path(tempfile.gettempdir()) / "hub-bench-ingest"
    )
    args = parser.parse_args()
    corpus = make_corpus(args.corpus, args.n, sizes=((640, 480), (1200, 900)), quality=(85,))
    create_database(SCRATCH)
    try:
        warm = fill(min(4, args.n), corpus, "warm")  # load the model and libraries first
        process_batch_now(warm)
        batch = fill(args.n, corpus, "profiled")
        profiler = Profiler(interval=0.002)
        started = time.perf_counter()
        profiler.start()
        process_batch_now(batch)
        profiler.stop()
        seconds = time.perf_counter() - started
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        if args.html:
            args.html.write_text(profiler.output_html())
        print(f"{args.n} images in {seconds:.2f}s: {args.n / seconds:.1f} images/s (profiled)")
        result(
            "ingest-profile", "images/s through every stage, in-process", f"{args.n / seconds:.1f}"
        )
    finally:
        connection.creation.destroy_test_db(SCRATCH, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
