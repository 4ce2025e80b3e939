"""API tokens: created on a page (shown once, stored hashed, audited), scoped to one
agency, expiring, revocable; failed attempts are rate-limited."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from hub.models import AuditEvent
from tests.api.conftest import error_of
from triage.models.api import ApiToken

CASES = reverse("triage:api_cases")


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_token_page_creates_a_token_shown_once_and_stored_hashed(client_for, ivan, demo_agency):
    client = client_for(ivan)
    response = client.post(
        reverse("triage:api_tokens"), {"name": "workstation 3", "lifetime_days": 90}
    )
    assert response.status_code == 200
    raw = response.context["new_token"]
    assert raw and raw in response.content.decode()
    token = ApiToken.objects.get(user=ivan)
    assert token.agency == demo_agency
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in (token.prefix, token.name) and raw.startswith(token.prefix)
    assert timedelta(days=89) < token.expires_at - timezone.now() <= timedelta(days=90)
    assert AuditEvent.objects.filter(action="api_token.created", object_id=str(token.uuid))
    # Listed afterwards by prefix, never again in full.
    listing = client.get(reverse("triage:api_tokens")).content.decode()
    assert token.prefix in listing and raw not in listing
    assert bearer(raw).get(CASES).status_code == 200


def test_token_page_refuses_bad_input(client_for, ivan):
    response = client_for(ivan).post(
        reverse("triage:api_tokens"), {"name": "", "lifetime_days": 9999}
    )
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_revoke_from_the_page_stops_the_token(client_for, ivan, demo_agency, token_for):
    raw = token_for(ivan, demo_agency)
    token = ApiToken.objects.get(user=ivan)
    client = client_for(ivan)
    response = client.post(reverse("triage:api_token_revoke", kwargs={"token": token.uuid}))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(action="api_token.revoked", object_id=str(token.uuid))
    response = bearer(raw).get(CASES)
    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"
    assert "revoked" in error_of(response)["message"]


def test_nobody_else_can_revoke_or_see_my_token(
    client_for, ivan, iris, oscar, demo_agency, token_for
):
    token_for(ivan, demo_agency)
    token = ApiToken.objects.get(user=ivan)
    url = reverse("triage:api_token_revoke", kwargs={"token": token.uuid})
    for other in (iris, oscar):
        assert client_for(other).post(url).status_code == 404
        assert (
            token.prefix not in client_for(other).get(reverse("triage:api_tokens")).content.decode()
        )
    token.refresh_from_db()
    assert token.revoked_at is None


def test_expired_token_is_refused(ivan, demo_agency, token_for):
    raw = token_for(ivan, demo_agency)
    ApiToken.objects.filter(user=ivan).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = bearer(raw).get(CASES)
    assert response.status_code == 401
    assert "expired" in error_of(response)["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_unknown_and_malformed_tokens_are_refused(db):
    for header in ("Bearer nope", "Bearer ", "Bearer thub_" + "x" * 43):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        response = client.get(CASES)
        assert response.status_code == 401, header
        assert error_of(response)["code"] == "authentication_failed"


def test_no_credentials_is_401_in_the_error_shape(db):
    response = APIClient().get(CASES)
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


def test_token_stops_when_membership_is_deactivated(ivan, demo_agency, token_for):
    raw = token_for(ivan, demo_agency)
    assert bearer(raw).get(CASES).status_code == 200
    ivan.memberships.update(is_active=False)
    assert bearer(raw).get(CASES).status_code == 401
    ivan.memberships.update(is_active=True)
    demo_agency.is_active = False
    demo_agency.save()
    assert bearer(raw).get(CASES).status_code == 401


def test_token_acts_in_its_own_agency_only(
    ivan, demo_agency, other_agency, case, other_case, token_for
):
    from hub.models import Membership, Role

    # ivan also joins Other Force: a token made for Demo Police still sees Demo Police only.
    Membership.objects.create(user=ivan, agency=other_agency, role=Role.ADMIN)
    raw = token_for(ivan, demo_agency)
    refs = [c["reference"] for c in bearer(raw).get(CASES).json()["results"]]
    assert refs == ["DP-API"]
    url = reverse("triage:api_case", kwargs={"case": other_case.uuid})
    assert bearer(raw).get(url).status_code == 404
    # ...and with Demo Police's (investigator) role, not Other Force's admin role.
    assert bearer(raw).get(reverse("triage:api_hashlists")).status_code == 403


def test_last_used_is_updated_at_most_once_a_minute(ivan, demo_agency, token_for):
    raw = token_for(ivan, demo_agency)
    token = ApiToken.objects.get(user=ivan)
    assert token.last_used_at is None
    bearer(raw).get(CASES)
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    bearer(raw).get(CASES)
    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    bearer(raw).get(CASES)
    token.refresh_from_db()
    assert token.last_used_at > first - timedelta(minutes=2)


def test_failed_token_attempts_are_rate_limited(ivan, demo_agency, token_for):
    raw = token_for(ivan, demo_agency)
    for _ in range(10):
        assert bearer("thub_wrong").get(CASES).status_code == 401
    response = bearer("thub_wrong").get(CASES)
    assert response.status_code == 429
    error = error_of(response)
    assert error["code"] == "throttled" and error["details"]["retry_after"] > 0
    assert int(response["Retry-After"]) > 0
    # From that address even a good token waits: the limit is checked before the lookup.
    assert bearer(raw).get(CASES).status_code == 429


def test_good_tokens_are_not_counted_as_failures(ivan, demo_agency, token_for):
    raw = token_for(ivan, demo_agency)
    for _ in range(15):
        assert bearer(raw).get(CASES).status_code == 200


def test_session_needs_the_second_factor(client, ivan):
    client.force_login(ivan, backend="django.contrib.auth.backends.ModelBackend")
    response = client.get(CASES)
    assert response.status_code in (401, 403)
    error_of(response)


def test_session_works_for_the_browser_with_csrf(client_for, ivan, case):
    from django.test import Client

    from tests.conftest import login_as

    assert client_for(ivan).get(CASES).status_code == 200
    strict = login_as(Client(enforce_csrf_checks=True), ivan)
    response = strict.post(CASES, {"reference": "NEW-1"}, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in error_of(response)["message"]
