"""`make bench`: run every benchmark script at a size that finishes in minutes here, stream
their detailed output, then print one table of the headline figures. Each script takes
flags for the large sizes (see its --help); `--only NAME` runs a subset."""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import parse  # noqa: E402

# (script, default arguments for the quick run)
SCRIPTS = [
    ("hash.py", []),
    ("match.py", []),
    ("classify.py", []),
    ("ingest.py", []),
    ("exposure.py", []),
    ("dashboard.py", []),
    ("load.py", []),
    ("hostile_memory.py", []),
]


def machine() -> str:
    cores = os.cpu_count() or 0
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        mem = f", {kb / 1024**2:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{platform.machine()}, {cores} cores{mem}, Python {platform.python_version()}"


def run(script: str, args: list[str]) -> tuple[int, float, list[dict]]:
    started = time.monotonic()
    results = []
    proc = subprocess.Popen(
        [sys.executable, str(HERE / script), *args],
        cwd=HERE.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        parsed = parse(line.rstrip("\n"))
        if parsed is not None:
            results.append(parsed)
        else:
            sys.stdout.write(line)
            sys.stdout.flush()
    return proc.wait(), time.monotonic() - started, results


def table(rows: list[dict]) -> str:
    header = ("benchmark", "measure", "result", "note")
    cells = [header] + [(r["benchmark"], r["measure"], r["value"], r.get("note", "")) for r in rows]
    widths = [max(len(str(c[i])) for c in cells) for i in range(4)]
    out = []
    for n, c in enumerate(cells):
        padded = (str(v).ljust(w) for v, w in zip(c, widths, strict=True))
        out.append("| " + " | ".join(padded) + " |")
        if n == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="script names, e.g. hash match")
    opts = parser.parse_args()
    rows: list[dict] = []
    failures = []
    for script, args in SCRIPTS:
        name = script.removesuffix(".py")
        if opts.only and name not in opts.only:
            continue
        if not (HERE / script).exists():
            print(f"== {script}: not present")
            continue
        print(f"\n== {script} {' '.join(args)}", flush=True)
        code, seconds, results = run(script, args)
        print(f"== {script} finished in {seconds:.1f}s (exit {code})", flush=True)
        if code != 0:
            failures.append(script)
            rows.append({"benchmark": name, "measure": "(failed)", "value": f"exit {code}"})
        elif not results:
            rows.append({"benchmark": name, "measure": "(no headline figure)", "value": "-"})
        rows.extend(results)
    print(f"\n## Benchmark summary ({machine()}; one run, compare the ratios)\n")
    print(table(rows))
    if failures:
        print(f"\nFailed: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
