"""The Flask application factory of the coder workspace service.

``create_app(config)`` migrates the chart store (Alembic ``upgrade head``), loads the model once (before
gunicorn forks, so workers share its memory), and registers the JSON API, the web page, error handlers,
authentication, rate limiting and metrics.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, TooManyRequests
from werkzeug.routing import IntegerConverter

from api import metrics
from api.auth import authenticate, count_active_tokens, create_token
from api.config import ApiConfig
from api.db import make_engine, make_sessionmaker, migrate
from api.errors import ApiError
from api.fhir import FHIR_MAX_BODY_BYTES, bp_fhir, is_fhir_request, register_fhir_errors
from api.imports import IMPORT_MAX_BODY_BYTES, PrecomputeWorker
from api.lockout import FailedAuthLockout
from api.modelhost import ModelHost, ServedModel, serve_model
from api.responses import Error, dump
from api.routes import bp_service, bp_v1
from api.web import log_safe, read_model_state
from api.work_routes import bp_work

log = logging.getLogger("api")

#: Paths that need no token.
PUBLIC_ENDPOINTS = {"service.healthz", "service.readyz", "service.metrics_endpoint", "service.openapi",
                    "service.docs", "service.index", "static", "fhir.metadata", "fhir.operation_definition"}


def create_app(config: ApiConfig | None = None, *, model: Any = None) -> Flask:
    """Build the application.

    Parameters
    ----------
    config : ApiConfig, optional
        Settings; default ``ApiConfig.from_env()``.
    model : Suggester, optional
        An already loaded model to serve (tests, embedding). Default: resolve ``config.model_ref`` / the MLflow
        champion / ``"default"`` and load it now.
    """
    config = config or ApiConfig.from_env()
    app = Flask(__name__, static_folder="static", static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.json.sort_keys = False
    app.extensions["suggest_config"] = config

    engine = make_engine(config.database_url)
    migrate(engine)
    app.extensions["db_engine"] = engine
    app.extensions["db_sessions"] = make_sessionmaker(engine)

    if model is not None:
        served = ServedModel(model, ref="in-process")
    else:
        log.info("loading model %s", config.model_ref or "(the registry's champion, else the default model)")
        served = serve_model(config.model_ref)
    host = ModelHost(served)
    app.extensions["model_host"] = host
    app.extensions["model_generation"] = read_model_state(app).get("generation", 0)
    app.extensions["model_poll"] = {"next": 0.0, "lock": threading.Lock()}
    metrics.MODEL_INFO.labels(served.name, served.version).set(1)

    if config.trusted_proxies > 0:  # behind the reverse proxy: the client's address, not the proxy's
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxies)  # type: ignore[method-assign]
    app.extensions["auth_lockout"] = FailedAuthLockout(config.auth_failures_per_minute, 60.0)
    app.extensions["precompute_worker"] = PrecomputeWorker(app, config.precompute_seconds)
    _init_limiter(app, config)
    _register_hooks(app)
    _register_errors(app)

    app.url_map.converters["int"] = AsciiIntegerConverter  # before the routes are added: they take it then
    app.register_blueprint(bp_service)
    app.register_blueprint(bp_v1)
    app.register_blueprint(bp_work)
    app.register_blueprint(bp_fhir)
    return app


# ----------------------------------------------------------------------------- internals
class AsciiIntegerConverter(IntegerConverter):
    """``<int:...>`` of ASCII digits only. Werkzeug's is ``\\d+``, which also matches every other script's digits,
    and Python's ``int`` reads those: ``/v1/charts/%E1%B1%98`` (U+1C58, an Ol Chiki 8) was chart 8, a path the
    document's integer ``id`` does not allow. Now it matches no route: a 404, like any other id that is not one."""

    regex = r"[0-9]+"


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


def _init_limiter(app: Flask, config: ApiConfig) -> None:
    from flask_limiter import Limiter

    def key() -> str:
        token = _bearer()
        if token:
            from api.auth import hash_token

            return "t:" + hash_token(token)[:16]
        return "ip:" + (request.remote_addr or "?")

    limits = [x.strip() for x in config.rate_limit.split(";") if x.strip()]
    limiter = Limiter(key, app=app, default_limits=limits, storage_uri="memory://", enabled=bool(limits),
                      headers_enabled=True,
                      default_limits_exempt_when=lambda: request.endpoint in PUBLIC_ENDPOINTS)
    app.extensions["suggest_limiter"] = limiter


def _bound_chunked_body(app: Flask) -> None:
    """A body sent without a length (chunked) is read here, at most the size limit plus one byte: over the limit
    it is a 413, under it the request goes on with the body and its length (werkzeug would cut it at the limit
    and pass the truncated body on)."""
    environ = request.environ
    limit = request.max_content_length
    if not limit or request.content_length is not None or not environ.get("wsgi.input_terminated"):
        return
    if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return
    body = environ["wsgi.input"].read(limit + 1)
    if len(body) > limit:
        _drain(environ["wsgi.input"], _DRAIN_BYTES)  # so that the client can finish sending and read the 413
        raise RequestEntityTooLarge()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ.pop("wsgi.input_terminated", None)


#: How much of an oversized chunked body is read and discarded before the 413: a client still sending when the
#: server closes gets a reset instead of the answer.
_DRAIN_BYTES = 16_000_000


def _drain(stream, most: int) -> None:
    while most > 0:
        block = stream.read(min(65536, most))
        if not block:
            return
        most -= len(block)


def _register_hooks(app: Flask) -> None:
    sessions = app.extensions["db_sessions"]

    @app.before_request
    def _start():
        g.t0 = time.perf_counter()
        if is_fhir_request():  # a note in base64 is a third larger than as JSON text
            request.max_content_length = max(FHIR_MAX_BODY_BYTES, app.config.get("MAX_CONTENT_LENGTH") or 0)
        elif request.path == "/v1/imports" and request.method == "POST":  # a file of charts
            request.max_content_length = max(IMPORT_MAX_BODY_BYTES, app.config.get("MAX_CONTENT_LENGTH") or 0)
        app.extensions["precompute_worker"].ensure_started()
        _bound_chunked_body(app)
        token = _bearer()
        g.principal = None
        if token:
            lockout = app.extensions["auth_lockout"]
            address = request.remote_addr or "?"
            wait = lockout.retry_after(address)
            if wait is not None:
                raise TooManyRequests("too many failed authentications from this address", retry_after=wait)
            with sessions() as session:
                g.principal = authenticate(session, token)
                if session.dirty:
                    session.commit()
            if g.principal is None:
                lockout.record_failure(address)
        _maybe_follow_model_reload(app)

    @app.after_request
    def _finish(response: Response) -> Response:
        _read_unread_body(app)
        if request.method == "OPTIONS" and response.status_code == 200:
            # Flask's automatic answer is an empty text/html 200: say which methods there are, with no body.
            response.status_code = 204
            response.set_data(b"")
            response.headers.pop("Content-Type", None)
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        elapsed = time.perf_counter() - g.get("t0", time.perf_counter())
        metrics.REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
        metrics.LATENCY.labels(endpoint).observe(elapsed)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.path.startswith("/v1/"):
            response.headers.setdefault("Cache-Control", "no-store")
        else:
            response.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
            )
        who = g.get("principal")
        # Path only: query strings (e.g. ?q=) and bodies may hold patient data.
        log.info("%s %s %s %.1fms user=%s", request.method, log_safe(request.path), response.status_code, elapsed * 1000,
                 who.user if who else "-")
        return response

    @app.teardown_request
    def _close(_exc):
        session = g.pop("db", None)
        if session is not None:
            session.close()


def _read_unread_body(app: Flask) -> None:
    """Read what a refused request left of its body (within the size limit) before answering: a keep-alive
    connection whose body the server did not read can be dropped by gunicorn, and the client's next request on it
    is lost."""
    length = request.content_length
    if length and length <= (app.config.get("MAX_CONTENT_LENGTH") or 0):
        try:
            request.get_data(cache=True)
        except Exception:  # the client went away: nothing to answer
            pass


def _maybe_follow_model_reload(app: Flask) -> None:
    """Every few seconds, see whether another worker reloaded the model; if so load it in the background."""
    poll = app.extensions["model_poll"]
    now = time.monotonic()
    if now < poll["next"] or not poll["lock"].acquire(blocking=False):
        return
    try:
        poll["next"] = now + app.extensions["suggest_config"].model_poll_seconds
        state = read_model_state(app)
        generation = state.get("generation", 0)
        if generation <= app.extensions["model_generation"] or not state.get("ref"):
            return
        app.extensions["model_generation"] = generation

        def _load():
            try:
                served = app.extensions["model_host"].reload(state["ref"])
                metrics.MODEL_INFO.labels(served.name, served.version).set(1)
                log.info("worker reloaded model %s", state["ref"])
            except Exception as exc:  # keep serving the old model
                log.error("model reload failed: %s", type(exc).__name__)

        threading.Thread(target=_load, daemon=True, name="model-reload").start()
    finally:
        poll["lock"].release()


def _error_response(status: int, body: dict) -> Response:
    if is_fhir_request():
        from api.fhir import api_error_expression, outcome_response

        return outcome_response(status, body["error"], api_error_expression(body.get("field")))
    response = jsonify(dump(Error.model_validate(body)))
    response.status_code = status
    return response


def _register_errors(app: Flask) -> None:
    register_fhir_errors(app)

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return _error_response(exc.status, exc.to_dict())

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        messages = {
            404: "not found",
            405: f"method {request.method} not allowed here",
            413: f"request body too large (limit {request.max_content_length} bytes)",
            429: f"rate limit exceeded ({exc.description})",
        }
        body = {"error": messages.get(status, exc.name.lower())}
        if status == 413:
            body["field"] = "body"
        response = _error_response(status, body)
        if status == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        if status == 429:
            retry = getattr(exc, "retry_after", None) or 1
            response.headers["Retry-After"] = str(retry)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        # Type only: exception messages can quote request data.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, log_safe(request.path))
        return _error_response(500, {"error": "internal error"})


def has_active_token(app: Flask) -> bool:
    """Whether the store holds any token that is not revoked."""
    with app.extensions["db_sessions"]() as session:
        return count_active_tokens(session) > 0


def ensure_admin_token(app: Flask, user: str = "admin") -> str | None:
    """Create an admin token when the store has no active token; returns it (shown once) or None."""
    with app.extensions["db_sessions"]() as session, session.begin():
        if count_active_tokens(session) > 0:
            return None
        _row, token = create_token(session, "admin", user)
        return token
