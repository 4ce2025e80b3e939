"""The OpenAPI document (drf-spectacular) and a server-rendered docs page listing every
endpoint: Swagger UI and Redoc load scripts from a CDN, which the CSP (script-src 'self')
and offline installs forbid."""

from __future__ import annotations

from django.shortcuts import render
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.utils import extend_schema, extend_schema_view
from drf_spectacular.views import SpectacularAPIView

from hub.access import agency_required
from hub.models import Role
from triage.api.authentication import AgencySessionAuthentication, BearerTokenAuthentication
from triage.api.exceptions import api_exception_handler
from triage.api.permissions import HasAgencyRole


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "triage.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token from the 'API tokens' page, scoped to one agency.",
        }


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "triage.api.authentication.AgencySessionAuthentication"
    name = "sessionAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


@extend_schema_view(get=extend_schema(summary="This OpenAPI 3 document", tags=["schema"]))
class SchemaView(SpectacularAPIView):
    authentication_classes = [BearerTokenAuthentication, AgencySessionAuthentication]
    permission_classes = [HasAgencyRole]
    required_role = Role.INVESTIGATOR

    def get_exception_handler(self):
        return api_exception_handler


METHODS = ("get", "post", "put", "patch", "delete")


def build_schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


@agency_required(Role.INVESTIGATOR)
def api_docs(request):
    schema = build_schema()
    endpoints = []
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method in METHODS:
            op = operations.get(method)
            if op is None:
                continue
            endpoints.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "tag": (op.get("tags") or [""])[0],
                    "parameters": [p["name"] for p in op.get("parameters", [])],
                    "responses": sorted(op.get("responses", {})),
                }
            )
    return render(
        request,
        "triage/tokens/api_docs.html",
        {"endpoints": endpoints, "info": schema.get("info", {})},
    )
