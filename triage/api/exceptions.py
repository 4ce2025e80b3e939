"""Every API error in one shape::

{"error": {"code": "not_found", "message": "a sentence a person can act on",
           "details": {...}}}
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from triage.api.tokens import TokenError
from triage.exports.services import ExportRefused
from triage.matching.lists import HashListError
from triage.review.service import ReviewError
from triage.services.intake import IntakeRejected


class ApiError(exceptions.APIException):
    """An error raised by the API itself with an explicit code and details."""

    def __init__(self, message: str, *, code: str, status_code: int = 400, details=None):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.details = details or {}


MESSAGES = {
    "not_found": "Not found: it does not exist, or it is not visible to you in this agency.",
    "not_authenticated": "Authenticate with 'Authorization: Bearer <token>' or a session.",
    "method_not_allowed": "This endpoint does not accept that HTTP method.",
    "unsupported_media_type": "Send JSON, or multipart/form-data for uploads.",
}

# Service errors carry a message for a person already; map them to a status and code.
SERVICE_ERRORS = (
    (IntakeRejected, 400, "intake_rejected"),
    (HashListError, 400, "hash_list_rejected"),
    (ReviewError, 409, "review_rejected"),
    (TokenError, 400, "token_rejected"),
    (ExportRefused, 409, "export_refused"),
)


def _error(status_code: int, code: str, message: str, details=None, headers=None) -> Response:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return Response(body, status=status_code, headers=headers)


def api_exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    for cls, status_code, code in SERVICE_ERRORS:
        if isinstance(exc, cls):
            set_rollback()
            return _error(status_code, code, str(exc))
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: let Django log it and answer 500
    set_rollback()
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if isinstance(exc, ApiError):
        return _error(exc.status_code, exc.error_code, str(exc.detail), exc.details)
    if isinstance(exc, exceptions.ValidationError):
        return _error(
            status.HTTP_400_BAD_REQUEST,
            "invalid",
            "Some fields are missing or invalid: see details for each field.",
            exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail},
        )
    if isinstance(exc, exceptions.Throttled):
        if exc.wait is not None:
            headers["Retry-After"] = str(int(exc.wait))
        return _error(
            exc.status_code,
            "throttled",
            f"{exc.detail} Retry in {int(exc.wait or 0)} seconds.",
            {"retry_after": int(exc.wait or 0)},
            headers,
        )
    if isinstance(exc, exceptions.ParseError):
        return _error(
            exc.status_code,
            "parse_error",
            f"The request body could not be read ({exc.detail}); send valid JSON.",
        )
    code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
    message = MESSAGES.get(code) if str(exc.detail) == str(exc.default_detail) else None
    return _error(exc.status_code, code, message or str(exc.detail), headers=headers or None)
