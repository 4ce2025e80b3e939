"""Fixtures of the UI tests: a Demo Police case that ivan is on, one of Other Force, and
items in chosen pipeline states (made directly, so a test names the state it is about)."""

from __future__ import annotations

import pytest


@pytest.fixture
def case(demo_agency, ivan, sam):
    from triage.services.intake import case_create

    return case_create(
        agency=demo_agency, user=sam, reference="DP-100", title="Harbour", urgency=2, team=[ivan]
    )


@pytest.fixture
def other_case(other_agency, oscar):
    from triage.services.intake import case_create

    return case_create(
        agency=other_agency, user=oscar, reference="OF-7", title="Elsewhere", team=[oscar]
    )


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
