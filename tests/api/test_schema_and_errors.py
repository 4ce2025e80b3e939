"""The OpenAPI document is valid and documents every endpoint; the docs page works
offline under the CSP; errors share one shape; every list is paginated."""

from __future__ import annotations

import re

import pytest
import yaml
from django.urls import get_resolver, reverse
from openapi_spec_validator import validate

from tests.api.conftest import error_of
from triage.services.intake import case_create


def api_paths() -> set[str]:
    """Every /api/v1/ URL pattern, in OpenAPI's {param} form."""
    paths = set()
    for entry in get_resolver().url_patterns:
        for sub in getattr(entry, "url_patterns", []):
            route = str(getattr(sub, "pattern", ""))
            if route.startswith("api/v1/"):
                paths.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))
    return paths


@pytest.fixture
def schema(api_for, ivan):
    response = api_for(ivan).get(reverse("triage:api_schema"))
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate(schema)


def test_schema_documents_every_endpoint(schema):
    expected = api_paths()
    assert len(expected) >= 15
    assert expected == {p for p in schema["paths"] if p.startswith("/api/v1/")}
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            assert op.get("summary"), f"{method.upper()} {path} has no summary"
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["scheme"] == "bearer"


def test_schema_needs_authentication(db):
    from rest_framework.test import APIClient

    assert APIClient().get(reverse("triage:api_schema")).status_code == 401


def test_docs_page_lists_endpoints_without_external_scripts(client_for, ivan):
    response = client_for(ivan).get(reverse("triage:api_docs"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "/api/v1/batches/{batch}/files/" in html and "Upload files to a batch" in html
    assert not re.search(r"<script[^>]+src=\"https?://", html)
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_error_shape_for_404_405_and_unknown_objects(api_for, ivan):
    api = api_for(ivan)
    response = api.get(
        reverse("triage:api_case", kwargs={"case": "0" * 8 + "-0000-0000-0000-" + "0" * 12})
    )
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    response = api.delete(reverse("triage:api_cases"))
    assert response.status_code == 405 and error_of(response)["code"] == "method_not_allowed"


def test_lists_are_paginated(api_for, sam, demo_agency):
    for n in range(7):
        case_create(agency=demo_agency, user=sam, reference=f"P-{n}", title="paged")
    api = api_for(sam)
    page = api.get(reverse("triage:api_cases"), {"limit": 3}).json()
    assert page["count"] == 7 and len(page["results"]) == 3 and page["next"]
    seen = [c["reference"] for c in page["results"]]
    while page["next"]:
        page = api.get(page["next"]).json()
        seen += [c["reference"] for c in page["results"]]
    assert sorted(seen) == [f"P-{n}" for n in range(7)]
    big = api.get(reverse("triage:api_cases"), {"limit": 100000}).json()
    assert len(big["results"]) == 7  # capped by max_limit, not refused


@pytest.mark.parametrize("name", ["triage:api_cases", "triage:api_batches", "triage:api_hashlists"])
def test_every_list_endpoint_has_the_page_envelope(api_for, alice, name):
    body = api_for(alice).get(reverse(name)).json()
    assert set(body) == {"count", "next", "previous", "results"}
