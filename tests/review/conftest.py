from __future__ import annotations

import pytest

from tests.review.helpers import World


@pytest.fixture
def world(demo_agency, ivan, iris, sam):
    """A routine case in Demo Police with ivan and iris on its team."""
    return World(demo_agency, user=sam, reference="R-1", team=(ivan, iris))
