"""Fixtures of the UI tests: a Demo Police case that ivan is on, one of Other Force, and
items in chosen pipeline states (made directly, so a test names the state it is about)."""

from __future__ import annotations

import pytest

from tests.intake_web import conftest as intake_web

# The same Demo Police and Other Force cases as the intake web tests.
case = intake_web.case
other_case = intake_web.other_case


@pytest.fixture
def batch(case, ivan):
    from triage.services.intake import batch_create

    return batch_create(case=case, user=ivan, exhibit_ref="EX/1")


@pytest.fixture
def make_item(batch):
    """``make_item(path, **fields)``: an item of ``batch`` with the given fields."""
    from triage.models import EvidenceItem

    def make(path: str, **fields) -> EvidenceItem:
        return EvidenceItem.objects.create(
            agency=batch.agency,
            case=batch.case,
            batch=batch,
            path=path,
            original_name=path.rsplit("/", 1)[-1],
            **fields,
        )

    return make
