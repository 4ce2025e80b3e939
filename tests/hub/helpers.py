"""Small helpers shared by the platform tests."""

from __future__ import annotations

import re

from django.urls import reverse

from hub.audit import chain_key
from hub.models import AuditEvent
from tests.conftest import PASSWORD


def post_login(client, username: str, password: str = PASSWORD):
    return client.post(
        reverse("hub:login"),
        {"username": username, "password": password, "acknowledge": "on"},
    )


def token_from(response) -> str:
    """The invitation token from a page that shows the link once."""
    match = re.search(r"/invite/([A-Za-z0-9_\-]+)/", response.content.decode())
    assert match, "no invitation link in the page"
    return match.group(1)


def events(agency, action: str | None = None):
    qs = AuditEvent.objects.filter(chain=chain_key(agency)).order_by("seq")
    return qs.filter(action=action) if action else qs
