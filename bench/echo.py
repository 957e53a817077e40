"""The floor for HTTP: a bare Flask app under the same gunicorn settings as the services."""

from flask import Flask, request


def create_app():
    app = Flask("echo")

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.post("/echo")
    def echo():
        return request.get_json(), 201

    return app
