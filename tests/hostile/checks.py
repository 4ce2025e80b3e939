"""Checks shared by the hostile-input tests (the eager SQLite run, the real-worker run)
and the benchmark: outcomes and their reasons, and what was written where."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from pathlib import Path

# Characters that must never be stored or shown raw: C0 controls, DEL, C1 controls and the
# Unicode bidirectional overrides/isolates and line separators.
RAW_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def tree(root: Path, exclude=()) -> set[Path]:
    """Every file, folder and link under ``root`` (absolute paths), leaving out those
    with a part of their relative path matching one of the ``exclude`` patterns."""
    root = Path(root)
    if not root.exists():
        return set()
    return {
        p
        for p in root.rglob("*")
        if not any(fnmatchcase(part, e) for part in p.relative_to(root).parts for e in exclude)
    }


def store_temp_dirs(evidence_root: Path) -> list[Path]:
    return [p for p in Path(evidence_root).glob("*/tmp") if p.is_dir()]


# Nothing may appear in a temporary folder. (onnxruntime's telemetry file $TMPDIR/.ses is
# prevented by ORT_DISABLE_TELEMETRY, set in hub.settings.)
KNOWN_TEMP_FILES: set[str] = set()


def assert_nothing_written_outside(before: dict, after: dict, evidence_root: Path, temp_roots):
    """``before``/``after``: {root: tree(root)}. Everything new is inside the evidence
    store, and the temporary folders (the store's own and the upload/system ones) are
    empty."""
    evidence_root = Path(evidence_root).resolve()
    temp_roots = [Path(t) for t in temp_roots]
    for root, old in before.items():
        new = after[root] - old
        outside = sorted(
            str(p)
            for p in new
            if evidence_root not in (p.resolve(), *p.resolve().parents)
            and not (p.parent in temp_roots and p.name in KNOWN_TEMP_FILES)
        )
        assert not outside, f"written outside the evidence store: {outside[:10]}"
    for folder in [*store_temp_dirs(evidence_root), *temp_roots]:
        left = sorted(
            str(p)
            for p in Path(folder).rglob("*")
            if not (folder in temp_roots and p.name in KNOWN_TEMP_FILES)
        )
        assert not left, f"temporary files left behind in {folder}: {left[:10]}"


def assert_readable(reason: str, where: str = "") -> None:
    """A reason written for a person: plain words, bounded, no traceback, no Python repr
    of an object, no exception class names, no raw control characters."""
    assert reason, f"{where}: no reason given"
    assert len(reason) <= 600, f"{where}: reason of {len(reason)} characters"
    assert "Traceback" not in reason and 'File "' not in reason, (where, reason)
    assert not re.search(r"\b[A-Z]\w*(Error|Exception|Warning)\b", reason), (where, reason)
    assert not re.search(r"<[\w.]+ object at 0x|^\w+\(", reason), (where, reason)
    assert not RAW_CONTROL.search(reason), (where, reason)
    assert len(re.findall(r"\b[a-z]{2,}\b", reason)) >= 4, (where, reason)  # sentences


def check_outcomes(batch, members) -> list[tuple[str, str, str]]:
    """Assert every member's expected endings; return ``(path, status, reason)`` rows of the
    items that did not simply succeed, for reports."""
    from triage.models import EvidenceItem, ItemStatus

    items = list(EvidenceItem.objects.filter(batch=batch).order_by("path"))
    errored = [(i.path, i.failure_reason) for i in items if i.status == ItemStatus.ERRORED]
    assert not errored, f"items errored (an unexpected exception): {errored}"
    assert not [i.path for i in items if i.error_traceback]
    rows = []
    for member in members:
        mine = [i for i in items if i.path == member.name or i.path.startswith(member.name + "/")]
        assert mine, f"{member.name}: no item recorded"
        for expect in member.expect:
            matched = [i for i in mine if fnmatchcase(i.path, expect.pattern)]
            assert matched, f"{member.name}: nothing matches {expect.pattern!r}"
            for item in matched:
                where = f"{member.name} ({item.path[:80]!r})"
                assert item.status == expect.status, (where, item.status, item.failure_reason)
                if expect.status != ItemStatus.DONE:
                    assert expect.words.lower() in item.failure_reason.lower(), (
                        where,
                        item.failure_reason,
                    )
                    assert_readable(item.failure_reason, where)
        for item in mine:
            if not any(fnmatchcase(item.path, e.pattern) for e in member.expect):
                # The containers of a refused member were expanded normally.
                assert item.status == ItemStatus.DONE, (item.path, item.status)
        top = next(i for i in mine if i.path == member.name)
        for field, value in member.checks.items():
            got = getattr(top, field)
            assert got == value or (isinstance(value, float) and abs(got - value) < 0.25), (
                member.name,
                field,
                got,
            )
        rows += [(i.path, i.status, i.failure_reason) for i in mine if i.failure_reason]
    return rows


# --- memory --------------------------------------------------------------------------


def _status_kb(pid, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def peak_rss_mb(pid="self") -> float:
    """The process's peak resident set size (VmHWM) in MiB."""
    return _status_kb(pid, "VmHWM") / 1024


def rss_mb(pid="self") -> float:
    return _status_kb(pid, "VmRSS") / 1024


def reset_peak(pid="self") -> bool:
    """Reset the process's peak RSS to its current RSS (Linux >= 4.0: ``clear_refs`` 5).
    False when the kernel or the sandbox does not allow it."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True
