"""Errors the API turns into JSON responses ``{"error": ..., "field": ...}``."""

from __future__ import annotations


class ApiError(Exception):
    """An error with an HTTP status and a message safe to show (never chart text)."""

    status = 400

    def __init__(self, message: str, field: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if status is not None:
            self.status = status

    def to_dict(self) -> dict:
        out = {"error": self.message}
        if self.field:
            out["field"] = self.field
        return out


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class Forbidden(ApiError):
    status = 403


class Unauthorized(ApiError):
    status = 401


class Unavailable(ApiError):
    status = 503
