"""A worker SIGKILLed between streaming a file into the store's ``tmp/`` and linking it
into place leaves the partial file behind; the reconciler removes such files once they
have not changed for a whole period, and never a file still being written."""

from __future__ import annotations

import os
import time

from triage import storage
from triage.pipeline import runner


def test_reconciler_sweeps_stale_temporary_files_only(db, demo_agency, other_agency):
    left = storage.agency_dir(demo_agency) / "tmp" / "in-orphan"
    theirs = storage.agency_dir(other_agency) / "tmp" / "dv-orphan"
    for path in (left, theirs):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
    # Within the period (a live write keeps its times fresh): kept.
    assert runner.reconcile(stuck_after_seconds=900)["temp_removed"] == 0
    assert left.exists() and theirs.exists()
    # Older than the period: removed, in every agency's temp area.
    assert runner.reconcile(stuck_after_seconds=0)["temp_removed"] == 2
    assert not left.exists() and not theirs.exists()


def test_sweep_judges_by_the_latest_of_modification_and_change_time(settings, tmp_path):
    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    path = tmp_path / "evidence" / "some-agency" / "tmp" / "mv-upload"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"moved in")
    # stage_file(move=True) renames an old file into tmp/: its mtime is old, but the
    # rename (and the chmod before linking) refresh its change time, so it is kept.
    old = time.time() - 7200
    os.utime(path, (old, old))
    assert storage.sweep_temp(3600) == 0
    assert storage.sweep_temp(3600, now=time.time() + 7200) == 1
    assert not path.exists()
