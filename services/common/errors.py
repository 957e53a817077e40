"""One error shape for every service: ``{code, status, message, errors}`` with a stable string code."""

from __future__ import annotations

from typing import Any

from werkzeug.exceptions import HTTPException

# HTTP status → code when nothing more specific was said.
DEFAULT_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    412: "PRECONDITION_FAILED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    428: "PRECONDITION_REQUIRED",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_ERROR",
    503: "UNAVAILABLE",
}


class ApiError(Exception):
    """Raised anywhere below a view; rendered in the one shape."""

    def __init__(self, status: int, code: str, message: str, errors: dict | None = None, **extra: Any):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.extra = extra

    def body(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"code": self.code, "status": self.status, "message": self.message}
        if self.errors is not None:
            payload["errors"] = self.errors
        payload.update(self.extra)
        return payload


def from_http_exception(error: HTTPException) -> ApiError:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    message = data.get("message") or error.description or error.name
    if status in (400, 422) and isinstance(errors, dict):
        message = "The request is not valid: " + describe(errors)
    return ApiError(status, DEFAULT_CODES.get(status, "ERROR"), message, errors)


def describe(errors: dict, prefix: str = "") -> str:
    """'title: Missing data for required field.; location.lat: ...' — names every bad field."""
    parts = []
    for key, value in errors.items():
        if key in ("json", "query", "form", "headers", "files") and not prefix:
            parts.append(describe(value) if isinstance(value, dict) else str(value))
            continue
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            parts.append(describe(value, name))
        else:
            text = " ".join(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else str(value)
            parts.append(f"{name}: {text}")
    return "; ".join(parts)
