"""`make bench`: run every benchmark script at a size that finishes in minutes here and print
their figures one after another. Each script takes flags for the large sizes (see --help)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (script, default arguments for the quick run)
SCRIPTS = [
    ("hash.py", []),
    ("match.py", []),
    ("classify.py", []),
    ("ingest.py", []),
    ("exposure.py", []),
]


def main() -> int:
    failures = 0
    for script, args in SCRIPTS:
        path = HERE / script
        if not path.exists():
            print(f"== {script}: not present yet")
            continue
        print(f"\n== {script} {' '.join(args)}", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(path), *args], cwd=HERE.parent)
        print(f"== {script} finished in {time.monotonic() - started:.1f}s (exit {code})")
        failures += code != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
