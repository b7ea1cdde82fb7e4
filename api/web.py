"""Request-level helpers of the routes: the database session, the caller, body and query validation, the
served model and the shared model state."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, current_app, g, request
from pydantic import BaseModel, ValidationError
from sqlalchemy import text

from api.auth import Principal
from api.db import ServiceState, utcnow
from api.errors import ApiError, Forbidden, Unauthorized, Unavailable
from api.modelhost import ServedModel
from api.openapi import documented_model
from api.schemas import IDEMPOTENCY_KEY_PATTERN


def db():
    """The request's database session (opened on first use, closed at teardown)."""
    if "db" not in g:
        g.db = current_app.extensions["db_sessions"]()
    return g.db


def principal() -> Principal:
    """The authenticated caller (set by the app's before-request hook)."""
    return g.principal


def parse_body(model: type[BaseModel]) -> Any:
    """Validate the JSON body against ``model``; 400 naming the field otherwise."""
    _check_documented("json", model)
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise ApiError("request body must be a JSON object", field="body")
    if request.mimetype not in JSON_TYPES:
        raise ApiError(f"Content-Type must be application/json, not {request.mimetype or 'missing'}",
                       field="Content-Type", status=415)
    if _nesting_depth(raw) > MAX_JSON_DEPTH:
        raise ApiError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", field="body")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(f"malformed JSON: {type(exc).__name__}", field="body") from None
    if not isinstance(data, dict):
        raise ApiError("request body must be a JSON object", field="body")
    _refuse_unstorable_characters(data)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise _named_error(exc) from None


def no_body() -> None:
    """A request that takes no body: 400 naming ``body`` when one is sent (nothing in it would be read)."""
    if request.get_data(cache=True):
        raise ApiError("this request takes no body", field="body")


_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


def idempotency_key() -> str | None:
    """The request's ``Idempotency-Key`` header, None when absent; 400 naming it when malformed."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _IDEMPOTENCY_KEY.fullmatch(key):
        raise ApiError("Idempotency-Key must be 1 to 200 printable ASCII characters", field="Idempotency-Key")
    return key


def body_sha256() -> str:
    """sha256 of the request's JSON body in canonical form (keys sorted, no insignificant whitespace), so that a
    retry that spells the same JSON differently is the same request. Call after ``parse_body``."""
    canonical = json.dumps(json.loads(request.get_data(cache=True)), sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


#: Media types of the JSON bodies the API reads.
JSON_TYPES = frozenset({"application/json", "application/fhir+json"})
#: Deepest JSON nesting a body may have (the API's own bodies need 4); deeper ones are refused before parsing.
MAX_JSON_DEPTH = 32
_BRACKETS = re.compile(rb'[\[\]{}"\\]')


def _nesting_depth(raw: bytes) -> int:
    """The deepest bracket nesting of a JSON text, brackets inside strings left out (a scan, no recursion)."""
    depth = deepest = 0
    in_string = False
    escaped_at = -1  # the position of the character a backslash escapes
    for m in _BRACKETS.finditer(raw):
        ch = m.group()
        if in_string:
            if m.start() == escaped_at:
                continue
            if ch == b"\\":
                escaped_at = m.end()
            elif ch == b'"':
                in_string = False
            continue
        if ch == b'"':
            in_string = True
        elif ch in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif ch in (b"]", b"}"):
            depth -= 1
    return deepest


_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
"""NUL (PostgreSQL refuses it, SQLite would store it) and lone surrogates (no UTF-8 spelling): no database is
given either."""


def _unstorable_in(value: Any, loc: tuple = ()) -> tuple | None:
    """The location (as pydantic's ``loc``) of the first string or key holding an unstorable character, else None."""
    if isinstance(value, str):
        return loc if _UNSTORABLE.search(value) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and _UNSTORABLE.search(key):
            return (*loc, key)
        found = _unstorable_in(item, (*loc, key))
        if found is not None:
            return found
    return None


def _refuse_unstorable_characters(data: dict) -> None:
    where = _unstorable_in(data)
    if where is not None:
        field = _loc(where) or "body"
        raise ApiError(f"{field}: NUL characters and lone surrogates are not accepted", field=field)


def parse_query(model: type[BaseModel]) -> Any:
    """Validate the query string against ``model``; 400 naming the parameter otherwise."""
    _check_documented("query", model)
    data = {k: v for k, v in request.args.items()}
    _refuse_unstorable_characters(data)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _named_error(exc) from None


def _check_documented(kind: str, model: type[BaseModel]) -> None:
    """The route reads the model its operation documents (a mismatch is a bug, a 500 in the tests)."""
    if documented_model(kind) != model.__name__:
        raise RuntimeError(f"{request.endpoint} reads {model.__name__}, documents {documented_model(kind)}")


def _named_error(exc: ValidationError) -> ApiError:
    err = exc.errors(include_input=False, include_url=False)[0]
    field = _loc(err.get("loc", ()))
    message = err.get("msg", "invalid value")
    if err.get("type") == "missing":
        message = "field required"
    elif err.get("type") == "extra_forbidden":
        message = "unknown field"
    return ApiError(f"{field}: {message}" if field else message, field=field or "body")


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


ACCESS_LEVELS = ("any", "coder", "admin", "provider")


def requires(role: str = "coder") -> Callable:
    """Decorator: the endpoint needs a valid token of a role allowed at ``role``: ``"any"`` every role (the view
    limits a provider to what is addressed to them), ``"coder"`` coders and admins, ``"admin"`` admins,
    ``"provider"`` providers."""
    if role not in ACCESS_LEVELS:
        raise ValueError(f"unknown access level {role!r}")

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            who = g.get("principal")
            if who is None:
                raise Unauthorized("missing or invalid bearer token (Authorization: Bearer <token>)")
            if role == "admin" and not who.is_admin:
                raise Forbidden("this action needs an admin token")
            if role == "provider" and not who.is_provider:
                raise Forbidden("this action needs a provider token (a provider answers the queries addressed to "
                                "them)")
            if role == "coder" and who.is_provider:
                raise Forbidden("a provider token answers provider queries only; this action needs a coder token")
            return view(*args, **kwargs)

        wrapper.required_role = role  # type: ignore[attr-defined]
        return wrapper

    return decorate


def served_model() -> ServedModel:
    served = current_app.extensions["model_host"].served
    if served is None:
        raise Unavailable("no model loaded")
    return served


def read_model_state(app: Flask) -> dict:
    """The shared model state row (``{"ref", "generation"}``), empty before any reload."""
    with app.extensions["db_sessions"]() as session:
        row = session.get(ServiceState, "model")
        return dict(row.value) if row else {}


def write_model_state(app: Flask, ref: str) -> int:
    """Record that the served model changed, so that the other workers reload it too."""
    with app.extensions["db_sessions"]() as session, session.begin():
        row = session.get(ServiceState, "model")
        generation = (row.value.get("generation", 0) if row else 0) + 1
        value = {"ref": ref, "generation": generation}
        if row is None:
            session.add(ServiceState(key="model", value=value, updated_at=utcnow()))
        else:
            row.value = value
            row.updated_at = utcnow()
    app.extensions["model_generation"] = generation
    return generation


def check_database(app: Flask) -> bool:
    try:
        with app.extensions["db_engine"].connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def log_safe(text: str) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\x1b``), so that a request path holding ``%0A`` cannot
    forge a log line."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)

