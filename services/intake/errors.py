"""Intake's domain errors → HTTP status and stable code, in one table."""

from __future__ import annotations

from services.common.errors import ApiError

from . import service

DOMAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    service.CaseNotFound: (404, "NOT_FOUND"),
    service.InvalidState: (409, "INVALID_STATE"),
    service.FeedbackAlreadyRecorded: (409, "FEEDBACK_ALREADY_RECORDED"),
    service.ContactForbidden: (403, "FORBIDDEN"),
}


def to_api_error(error: Exception) -> ApiError:
    status, code = DOMAIN_ERRORS[type(error)]
    return ApiError(status, code, str(error))


def register(app) -> None:
    for error_class in DOMAIN_ERRORS:
        app.register_error_handler(error_class, lambda e: (to_api_error(e).body(), to_api_error(e).status))
