"""Fixtures of the intake web tests: a Demo Police case that ivan is on (iris is not),
and one of Other Force."""

from __future__ import annotations

import pytest
from django.urls import reverse


@pytest.fixture
def case(demo_agency, ivan, sam):
    """Demo Police case; ivan is on the team, iris is not. Created by sam."""
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
def post_upload(django_capture_on_commit_callbacks):
    """POST an upload through the real view, running on-commit tasks (eager Celery)."""

    def post(client, case, files, *, xhr=False, **fields):
        data = {"exhibit_ref": fields.pop("exhibit_ref", "EX/1"), "note": "", **fields}
        data["files"] = files
        headers = {"X-Requested-With": "XMLHttpRequest"} if xhr else {}
        url = reverse("triage:batch_upload", kwargs={"case": case.uuid})
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, data, headers=headers)

    return post
