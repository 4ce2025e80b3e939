"""Fixtures of the pipeline tests: a case and a batch of Demo Police (Alice uploads), and
helpers to add generated files and process them inline."""

from __future__ import annotations

import pytest

from triage.services.intake import batch_add_file, batch_create, case_create, process_batch_now


@pytest.fixture
def case(alice, demo_agency):
    return case_create(agency=demo_agency, user=alice, reference="OP-1", title="Operation One")


@pytest.fixture
def batch(case, alice):
    return batch_create(case=case, user=alice, exhibit_ref="EX-1", source="cli")


@pytest.fixture
def files(tmp_path):
    d = tmp_path / "files"
    d.mkdir()
    return d


@pytest.fixture
def add(batch):
    """``add(path, name=None, batch=None)`` -> the new EvidenceItem."""

    def add_file(path, name=None, target=None, **kwargs):
        return batch_add_file(
            batch=target or batch, src_path=path, name=name or path.name, **kwargs
        )

    return add_file


@pytest.fixture
def process(batch):
    def run(target=None):
        return process_batch_now(target or batch)

    return run
