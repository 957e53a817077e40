"""The HTTP edge every service shares: the Flask app and its OpenAPI, the one error shape,
correlation ids, health, readiness and metrics."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable

from flask import Flask, Response, g, jsonify, request
from flask_smorest import Api, Blueprint
from sqlalchemy import MetaData
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from . import context
from .config import Settings
from .db import ping
from .errors import ApiError, from_http_exception
from .idempotency import HEADER, StoredResponse
from .logs import configure_logging
from .metrics import HttpMetrics, new_registry, render
from .runtime import Runtime

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # 1 MiB: a case with a long description is a few kB
WRITE_METHODS = {"POST", "PUT", "PATCH"}
SECURITY = [{"bearerAuth": []}]
IDEMPOTENCY_DOC = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "schema": {"type": "string", "maxLength": 255},
    "description": "Send the same key again to get the first response back instead of a second creation.",
}


def stored_reply(response: StoredResponse, replayed: bool) -> Response:
    """A response made once under an Idempotency-Key (IdempotencyStore.once); a replay says so."""
    reply = jsonify(response.body)
    reply.status_code = response.status
    reply.headers.update(response.headers)
    return marked_if_replayed(reply, replayed)


def marked_if_replayed(reply: Response, replayed: bool) -> Response:
    """A replayed answer says so: ``Idempotent-Replayed: true``."""
    if replayed:
        reply.headers["Idempotent-Replayed"] = "true"
    return reply


class WhistleApi(Api):
    def handle_http_exception(self, error: HTTPException):
        if (error.code or 500) >= 500:
            log.error("request failed: %s", error, exc_info=getattr(error, "original_exception", None))
        api_error = from_http_exception(error)
        headers = (getattr(error, "data", None) or {}).get("headers", {})
        return api_error.body(), api_error.status, headers


def create_service_app(
    service: str,
    config: dict | None,
    metadata: MetaData,
    blueprints: Iterable[Blueprint],
    *,
    form_blueprints: Iterable[str] = (),
    description: str = "",
) -> Flask:
    """Build a service's Flask app. ``config`` overrides ``WHISTLE_*`` settings (tests use it)."""
    settings = Settings.load(service, config)
    configure_logging(service)
    app = Flask(f"whistle.{service}")
    # Behind the gateway each app sits under /<service>: honour X-Forwarded-Prefix (and the
    # scheme and host) so Location headers and /docs links carry the public path.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_prefix=1)
    app.json.ensure_ascii = False  # Chinese text stays readable in responses
    app.json.sort_keys = False
    app.config.update(
        WHISTLE_SETTINGS=settings,
        MAX_CONTENT_LENGTH=MAX_BODY,
        API_TITLE=f"Whistle {service}",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
        API_SPEC_OPTIONS={
            "info": {"description": description},
            "components": {
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
            },
        },
    )
    app.extensions["whistle"] = Runtime.build(settings, metadata)
    registry = new_registry()
    app.extensions["whistle_registry"] = registry
    http_metrics = HttpMetrics(service, registry)

    api = WhistleApi(app)
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    app.register_error_handler(ApiError, lambda e: (jsonify(e.body()), e.status))

    @app.errorhandler(OperationalError)
    def database_unavailable(error: OperationalError):
        # The database is away, or a connection broke under the request (a restart, say): the
        # pool has dropped it, and the request may be sent again.
        log.warning("request failed, the database is unavailable: %s", error)
        unavailable = ApiError(503, "UNAVAILABLE", "The database is unavailable; try again shortly.")
        return jsonify(unavailable.body()), unavailable.status, {"Retry-After": "1"}

    form_ok = set(form_blueprints)

    @app.before_request
    def start_request():
        g.started = time.perf_counter()
        g.context_tokens = context.bind(request.headers.get("X-Correlation-Id") or str(uuid.uuid4()))
        if (
            request.method in WRITE_METHODS
            and request.blueprint not in form_ok
            and (request.content_length or request.headers.get("Transfer-Encoding"))
            and not request.is_json
        ):
            raise ApiError(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                f"Send the body as application/json, not {request.mimetype or 'nothing'}.",
            )

    @app.after_request
    def finish_request(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        http_metrics.requests.labels(service, request.method, endpoint, response.status_code).inc()
        http_metrics.latency.labels(service, request.method, endpoint).observe(elapsed)
        correlation_id = context.current_correlation_id()
        if correlation_id:
            response.headers["X-Correlation-Id"] = correlation_id
        return response

    @app.teardown_request
    def end_context(_exc):
        tokens = g.pop("context_tokens", None)
        if tokens:
            context.unbind(tokens)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok", "service": service}

    @app.get("/readyz")
    def readyz():
        # A web process depends on its database only: with the broker down it keeps accepting,
        # and the outbox holds the events.
        try:
            ping(app.extensions["whistle"].engine)
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            return {"status": "unavailable", "checks": {"database": str(exc)[:200]}}, 503
        return {"status": "ready", "checks": {"database": "ok"}}

    @app.get("/metrics")
    def metrics():
        return Response(render(registry), mimetype="text/plain; version=0.0.4")

    return app
