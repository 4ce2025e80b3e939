"""Fixtures of the API tests: tokens for the personas, bearer clients, a Demo Police case
ivan is on (iris is not) and an Other Force case of oscar's."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image
from rest_framework.test import APIClient

from triage.api.tokens import api_token_create


def png(seed: int, size: int = 96) -> bytes:
    """A benign synthetic pattern (sinusoids), different per seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size, 3))
    for channel in range(3):
        fx, fy, phase = rng.uniform(1, 6), rng.uniform(1, 6), rng.uniform(0, 6.28)
        img[..., channel] = np.sin(2 * np.pi * (fx * x + fy * y) + phase)
    img = ((img + 1) * 127.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def error_of(response) -> dict:
    """The API's one error shape, asserted."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["message"].endswith((".", "!", "?")), body
    return body["error"]


@pytest.fixture
def token_for():
    """``token_for(user, agency)`` -> the raw bearer token (30 days)."""

    def make(user, agency, days: int = 30):
        _, raw = api_token_create(user=user, agency=agency, name="test", lifetime_days=days)
        return raw

    return make


@pytest.fixture
def api_for(token_for):
    """``api_for(user)`` -> an APIClient sending that user's bearer token for their first
    agency."""

    def make(user, agency=None):
        agency = agency or user.memberships.get().agency
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user, agency)}")
        return client

    return make


@pytest.fixture
def case(demo_agency, ivan, sam):
    from triage.services.intake import case_create

    return case_create(
        agency=demo_agency, user=sam, reference="DP-API", title="Harbour", team=[ivan]
    )


@pytest.fixture
def other_case(other_agency, oscar):
    from triage.services.intake import case_create

    return case_create(agency=other_agency, user=oscar, reference="OF-API", title="Elsewhere")


def add_file(batch, data: bytes, name: str, tmp_path):
    from triage.services.intake import batch_add_file

    path = tmp_path / name
    path.write_bytes(data)
    return batch_add_file(batch=batch, src_path=path, name=name, move=True)


@pytest.fixture
def processed_batch(case, ivan, tmp_path):
    """A Demo Police batch of three benign images, processed in-process."""
    from triage.services.intake import batch_create, process_batch_now

    batch = batch_create(case=case, user=ivan, exhibit_ref="EX/1")
    for n in range(3):
        add_file(batch, png(n), f"img{n}.png", tmp_path)
    return process_batch_now(batch, ivan)
