"""One line per headline figure, which `bench/run_all.py` gathers into the summary table.

A script calls ``result("ingest", "pipeline vs bare stages", "1.25×", "n=100")`` after it
prints its own detailed figures."""

from __future__ import annotations

import json

MARK = "@@bench-result "


def result(benchmark: str, measure: str, value: str, note: str = "") -> None:
    row = {"benchmark": benchmark, "measure": measure, "value": value, "note": note}
    print(MARK + json.dumps(row, ensure_ascii=False), flush=True)


def parse(line: str) -> dict | None:
    if not line.startswith(MARK):
        return None
    try:
        return json.loads(line[len(MARK) :])
    except json.JSONDecodeError:
        return None
