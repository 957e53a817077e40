"""Dispatch's domain exceptions and the one table that maps them to an HTTP status and code."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm.exc import StaleDataError

from services.common.errors import ApiError


class DispatchError(Exception):
    def __init__(self, message: str, **extra: Any):
        super().__init__(message)
        self.message = message
        self.extra = extra


class NotFound(DispatchError):
    """No such case or task — or one the caller may not see (a department's view of another's)."""


class InvalidTransition(DispatchError):
    """The action is not allowed from the current status; ``allowed`` names those that are."""

    def __init__(self, message: str, allowed: list[str]):
        super().__init__(message, allowed=allowed)


class Conflict(DispatchError):
    """The request contradicts the current state in a way no other action would fix."""


class PreconditionFailed(DispatchError):
    """``If-Match`` named a version the task no longer has."""


class Invalid(DispatchError):
    """Well-formed input the rules refuse (an unknown department, a lead that is also an assist)."""

    def __init__(self, message: str, errors: dict):
        super().__init__(message)
        self.errors = errors


STATUS: dict[type[Exception], tuple[int, str]] = {
    NotFound: (404, "NOT_FOUND"),
    InvalidTransition: (409, "INVALID_TRANSITION"),
    Conflict: (409, "CONFLICT"),
    # Lost an optimistic-locking race at the UPDATE: the caller re-reads and decides again.
    StaleDataError: (409, "CONFLICT"),
    PreconditionFailed: (412, "PRECONDITION_FAILED"),
    Invalid: (422, "VALIDATION_ERROR"),
}


def to_api_error(exc: Exception) -> ApiError:
    status, code = next(STATUS[c] for c in type(exc).__mro__ if c in STATUS)
    if isinstance(exc, StaleDataError):
        return ApiError(status, code, "The task was changed by someone else meanwhile; read it again.")
    errors = getattr(exc, "errors", None)
    return ApiError(status, code, exc.message, errors, **exc.extra)
