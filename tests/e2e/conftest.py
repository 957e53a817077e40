"""Helpers for tests that run Whistle as real processes (see services/common/localstack.py)."""

from services.common.localstack import WHISTLE, free_port, start, stop, wait_http

__all__ = ["WHISTLE", "free_port", "start", "stop", "wait_http"]
