"""Exposure and queue benchmark.

    .venv/bin/python bench/exposure.py                     # 1000-file exhibit, 100k queue
    .venv/bin/python bench/exposure.py --queue 1000000     # the issue's figure: 1M items
    .venv/bin/python bench/exposure.py --queue 1000000 --reuse   # reuse the 1M database

1. Builds a synthetic exhibit (bench/exhibit.py: 60% exact copies of listed images, 20%
   near-duplicates of listed images, 20% new; benign generated images) in a throwaway
   database (test_<name> of ``DATABASE_URL``, SQLite by default), runs the real matcher and
   ``prioritise_items``, and prints the share of items a reviewer must look at (goal
   <= 20%), with what it is made of per kind of file.
2. Runs bench/review_queue.py (PostgreSQL: ``DATABASE_URL`` when it is PostgreSQL, else
   127.0.0.1:5432): ``--queue`` items, ``--threads`` concurrent reviewer processes claiming
   and deciding; prints the p50/p95/p99 claim time before and after (goal p95 <= 50 ms).
   Skipped with a message when no PostgreSQL answers.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
os.environ.setdefault("HUB_DATA_DIR", "/tmp/hub-bench")

import django  # noqa: E402


def setup():
    from django.conf import settings

    django.setup()

    class NoMigrations(dict):
        def __contains__(self, item):
            return True

        def __getitem__(self, item):
            return None

    settings.MIGRATION_MODULES = NoMigrations()
    from django.db import connection

    old = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    return connection, old


def personas(n_reviewers: int):
    from hub.models import Agency, Membership, Role, User

    agency = Agency.objects.create(name="Bench Police", slug="bench-police")
    users = []
    for k in range(n_reviewers):
        user = User.objects.create(username=f"reviewer{k}")
        Membership.objects.create(user=user, agency=agency, role=Role.INVESTIGATOR)
        users.append(user)
    return agency, users


def exhibit_share(agency, users, n: int) -> float:
    from collections import Counter

    from bench.exhibit import build_exhibit
    from triage.models import EvidenceItem
    from triage.review import selectors
    from triage.review.service import prioritise_items

    t0 = time.perf_counter()
    case, items = build_exhibit(agency, n, user=users[0])
    case.team.add(*users)
    t1 = time.perf_counter()
    for start in range(0, len(items), 200):
        prioritise_items(items[start : start + 200])
    t2 = time.perf_counter()
    qs = EvidenceItem.objects.filter(case=case)
    by_state = {s: qs.filter(review_state=s).count() for s in ("auto_graded", "queued")}
    known = {k: qs.filter(known_state=k).count() for k in ("exact", "near", "unknown")}
    counts = selectors.queue_counts(users[0], agency, case, cap=n)
    verify = qs.filter(needs_verification=True).count()
    share = counts["decisions"] / len(items)
    # What the share is made of: per kind of file (bench/exhibit.py names each file
    # dump/<n>-<kind>), the files, and the decisions a person makes (a group counts once,
    # under the kind of its representative).
    files, decisions, waiting = Counter(), Counter(), Counter()
    rows = qs.values_list("path", "review_state", "group_id", "group__representative_id", "id")
    for path, state, group, representative, pk in rows:
        kind = path.rsplit("-", 1)[1]
        files[kind] += 1
        if state in ("queued", "second_review"):
            waiting[kind] += 1
            if group is None or representative == pk:
                decisions[kind] += 1
    print(f"exhibit: {len(items)} files, matched as {known}")
    print(
        f"  build+match {t1 - t0:.1f} s, prioritise {t2 - t1:.2f} s "
        f"({(t2 - t1) / len(items) * 1000:.2f} ms/item)"
    )
    print(
        f"  auto-graded {by_state['auto_graded']}, queued {by_state['queued']} items "
        f"(of which {verify} sampled verifications), in {counts['decisions']} decisions "
        f"after grouping"
    )
    for kind in ("exact", "near", "new", "burst"):
        print(
            f"    {kind:<6} {files[kind]:>5} files, {waiting[kind]:>4} awaiting a person, "
            f"{decisions[kind]:>4} decisions ({decisions[kind] / len(items):.1%} of the exhibit)"
        )
    print(
        f"  SHARE A REVIEWER MUST LOOK AT: {share:.1%} (goal <= 20%); "
        f"without grouping it would be {by_state['queued'] / len(items):.1%}"
    )
    from bench._report import result as report

    report("exposure", "share of items a reviewer must look at", f"{share:.1%}", "goal ≤ 20%")
    return share


def queue_benchmark(args) -> int:
    """bench/review_queue.py in its own process (its own scratch PostgreSQL database)."""
    import subprocess

    import psycopg2

    from bench.review_queue import database_url

    url = database_url("postgres")
    try:
        psycopg2.connect(url, connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        print(f"queue: skipped, no PostgreSQL at {url.rsplit('@', 1)[-1]} ({exc})".strip())
        return 0
    command = [
        sys.executable,
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "review_queue.py"),
        "--items",
        str(args.queue),
        "--reviewers",
        str(args.threads),
        "--claims",
        str(args.claims),
    ]
    if args.reuse:
        command.append("--reuse")
    print(f"\n== {' '.join(command[1:])}", flush=True)
    return subprocess.call(command)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exhibit", type=int, default=1000, help="files in the exhibit")
    parser.add_argument("--queue", type=int, default=100_000, help="queued items (1000000: 1M)")
    parser.add_argument("--threads", type=int, default=20, help="concurrent reviewers")
    parser.add_argument("--claims", type=int, default=25, help="claims per reviewer")
    parser.add_argument("--reuse", action="store_true", help="reuse the queue's database")
    parser.add_argument("--no-queue", action="store_true", help="only the exposure share")
    args = parser.parse_args()
    connection, old = setup()
    try:
        agency, users = personas(2)
        exhibit_share(agency, users, args.exhibit)
    finally:
        from django.db import connections

        for name in connections:
            connections[name].close()
        connection.creation.destroy_test_db(old, verbosity=0)
    return 0 if args.no_queue else queue_benchmark(args)


if __name__ == "__main__":
    raise SystemExit(main())
