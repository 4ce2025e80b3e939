"""Fixtures of the hostile-input tests: a Demo Police case and batch, a private system temp
folder, snapshots of the file trees, and the checks every outcome must pass."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from triage.services.intake import batch_add_file, batch_create, case_create


@pytest.fixture
def case(alice, demo_agency):
    return case_create(agency=demo_agency, user=alice, reference="HX-1", title="Hostile")


@pytest.fixture
def batch(case, alice):
    return batch_create(case=case, user=alice, exhibit_ref="HX/1", source="cli")


@pytest.fixture
def systmp(tmp_path, monkeypatch):
    """Point every ``tempfile`` user in this process (and child processes) at a folder of
    the test, so that stray temporary files can be seen."""
    folder = tmp_path / "systmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder


@pytest.fixture
def add(batch):
    def add_file(path, name=None, target=None, **kwargs):
        return batch_add_file(
            batch=target or batch, src_path=path, name=name or Path(path).name, **kwargs
        )

    return add_file


@pytest.fixture
def process_now():
    from triage.services.intake import process_batch_now

    return process_batch_now
