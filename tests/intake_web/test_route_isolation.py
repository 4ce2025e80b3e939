"""This area's entries of the cross-agency walk, exercised directly: every intake route
that names an object answers 404 to each Demo Police role for Other Force's objects."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.urls import reverse

from hub.models import AuditEvent
from tests.routes import intake

pytestmark = pytest.mark.django_db


def test_every_object_route_is_404_across_agencies(
    client_for, other_agency, otto, alice, sam, ivan
):
    world = SimpleNamespace(agency=other_agency, admin=otto)
    intake.build(world)
    served_before = AuditEvent.objects.filter(action__startswith="evidence.").count()
    object_routes = {n: r for n, r in intake.ROUTES.items() if r.kwargs is not None}
    assert len(object_routes) >= 8
    for person in (alice, sam, ivan):
        client = client_for(person)
        for name, route in object_routes.items():
            url = reverse(name, kwargs=route.kwargs(world))
            for method in route.methods:
                response = getattr(client, method.lower())(url)
                assert response.status_code == 404, (person, name, method)
    assert AuditEvent.objects.filter(action__startswith="evidence.").count() == served_before
    # Other Force's own admin reaches them (the objects are real, not just missing).
    own = client_for(otto)
    for name in ("triage:case_detail", "triage:item_detail", "triage:item_thumb"):
        assert own.get(reverse(name, kwargs=intake.ROUTES[name].kwargs(world))).status_code == 200
