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
from triage.api.exceptions import MESSAGES, api_exception_handler
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


METHODS = ("get", "post", "put", "patch", "delete")

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every API error has this shape.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "A stable machine-readable code."},
                "message": {"type": "string", "description": "What to do, for a person."},
                "details": {"type": "object", "additionalProperties": {}},
            },
            "required": ["code", "message", "details"],
        }
    },
    "required": ["error"],
}

# status -> (description, example code, example message); added where they can happen.
ERRORS = {
    "400": ("Invalid request", "invalid", "Some fields are missing or invalid: see details."),
    "401": ("Not authenticated", "not_authenticated", MESSAGES["not_authenticated"]),
    "403": ("Role not enough", "permission_denied", "This needs the admin role in your agency."),
    "404": ("Not found or not yours", "not_found", MESSAGES["not_found"]),
    "409": ("Conflict with the object's state", "conflict", "See the message."),
    "410": ("Deleted: it existed, its content does not any more", "gone", "See the message."),
    "413": ("Upload too large", "payload_too_large", "Split the upload into several requests."),
    "415": ("Wrong content type", "unsupported_media_type", MESSAGES["unsupported_media_type"]),
    "429": ("Rate-limited", "throttled", "Request was throttled. Retry in 30 seconds."),
    "501": ("Not available on this server", "not_implemented", "Not available yet."),
}


def api_operations(schema: dict):
    """``(path, method, operation)`` of every /api/v1/ operation of the schema."""
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method in METHODS:
            if (op := operations.get(method)) is not None:
                yield path, method, op


def add_error_responses(schema: dict) -> dict:
    """Document the one error shape on every /api/v1/ operation: 400, 401, 403, 415 and
    429 everywhere, 404 where the path names an object, plus the statuses a view declared
    (their bodies become the error schema)."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path, _method, op in api_operations(schema):
        responses = op.setdefault("responses", {})
        wanted = {"400", "401", "403", "415", "429"}
        if "{" in path:
            wanted.add("404")
        wanted |= {code for code in responses if code in ERRORS}
        for code in sorted(wanted):
            description, example_code, message = ERRORS[code]
            responses[code] = {
                "description": description,
                "content": {
                    "application/json": {
                        "schema": ref,
                        "example": {
                            "error": {"code": example_code, "message": message, "details": {}}
                        },
                    }
                },
            }
    return schema


class ApiSchemaGenerator(SchemaGenerator):
    def get_schema(self, request=None, public=False):
        return add_error_responses(super().get_schema(request=request, public=public))


@extend_schema_view(get=extend_schema(summary="This OpenAPI 3 document", tags=["schema"]))
class SchemaView(SpectacularAPIView):
    generator_class = ApiSchemaGenerator
    authentication_classes = [BearerTokenAuthentication, AgencySessionAuthentication]
    permission_classes = [HasAgencyRole]
    required_role = Role.INVESTIGATOR

    def get_exception_handler(self):
        return api_exception_handler


def build_schema() -> dict:
    return ApiSchemaGenerator().get_schema(request=None, public=True)


@agency_required(Role.INVESTIGATOR)
def api_docs(request):
    schema = build_schema()
    endpoints = []
    for path, method, op in api_operations(schema):
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
