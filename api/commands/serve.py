"""``suggest serve``: run the coder workspace (JSON API + web page) under gunicorn.

The model is loaded once in the gunicorn master before it forks (preload), so workers share its memory.
TLS is left to a reverse proxy (nginx, Caddy, a load balancer) in front of it; by default it binds to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import gc
import json
import os
import shutil
import sys
import tempfile

ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
"""Access log lines carry the path only: no query string (``?q=``, ``?token=``), no referrer, never a body."""


def _safe_access_logger():
    """gunicorn's logger with the request path's control characters escaped (``%0A`` cannot forge a line)."""
    from gunicorn.glogging import Logger

    from api.web import log_safe

    class SafeAccessLogger(Logger):
        def atoms(self, resp, req, environ, request_time):
            atoms = super().atoms(resp, req, environ, request_time)
            atoms["U"] = log_safe(str(atoms.get("U") or ""))
            return atoms

    return SafeAccessLogger


def _write_json_error(sock, status_int: int, reason: str, _message: str) -> None:
    """gunicorn's answer to a request it cannot parse (line or headers malformed or too large), as the API's JSON
    error instead of an HTML page; its message, which can quote the request line, is left out."""
    from gunicorn import util

    body = json.dumps({"error": f"{reason.lower()}: the request line or headers are malformed or too large",
                       "field": "request"}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin-1") + body)


#: Requests a worker answers before gunicorn replaces it with a fresh fork of the master. Every object a request
#: reads has its reference count written, so the pages holding the model's objects are copied into the worker one
#: by one (Python 3.11 has no immortal objects): about 25 MB on the first request, 100 MB after 1,000. A new
#: worker shares them again; forking one costs milliseconds. See bench/README.md (serving memory).
DEFAULT_MAX_REQUESTS = 500


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="run the coder workspace web service (API + web page)",
        description="Serve the JSON API and the coder web page with gunicorn. Configuration from the environment: "
        "DATABASE_URL (default sqlite:///var/charts.db), SUGGEST_MODEL, SUGGEST_MODELS_DIR, MLFLOW_TRACKING_URI, "
        "SUGGEST_RATE_LIMIT (e.g. 600/minute). TLS belongs to a reverse proxy in front.",
    )
    p.add_argument("--model", help="model folder, 'default' or models:/name@alias (default: MLflow champion, "
                                   "else the default model)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--threads", type=int, default=8,
                   help="threads per worker (default 8): requests that arrive together are suggested in one batch, "
                        "so more threads make larger batches")
    p.add_argument("--max-requests", type=int, default=DEFAULT_MAX_REQUESTS,
                   help="replace a worker after this many requests, give or take a tenth, so that its memory stays "
                        f"close to what it shares with the master (default {DEFAULT_MAX_REQUESTS}; 0: never)")
    p.set_defaults(func=_serve_then_forget_lookup)


def _sign_in_url(host: str, port: int, token: str) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{shown}:{port}/?token={token}"


def _serve_then_forget_lookup(args: argparse.Namespace) -> int:
    """``_serve``; a champion lookup it started and did not use (it stopped early) is dropped, not left for a later
    caller in this process to take as current."""
    from api.modelhost import forget_champion_lookup

    try:
        return _serve(args)
    finally:
        forget_champion_lookup()


def _serve(args: argparse.Namespace) -> int:
    from suggest.errors import SuggestError

    if args.workers < 1 or args.threads < 1:
        raise SuggestError("--workers and --threads must be at least 1")
    if args.max_requests < 0:
        raise SuggestError("--max-requests must be 0 (never) or more")
    if not 0 < args.port < 65536:
        raise SuggestError(f"--port must be between 1 and 65535, not {args.port}")
    # Before anything imports prometheus_client: one metrics folder shared by all workers of this server.
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="suggest-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        master = os.getpid()
        atexit.register(lambda: os.getpid() == master and shutil.rmtree(metrics_dir, ignore_errors=True))

    from api.modelhost import start_champion_lookup

    if not args.model:  # the registry's answer (a child process) comes while the rest is imported and loaded
        start_champion_lookup()
    from gunicorn.app.base import BaseApplication

    from api.app import create_app, ensure_admin_token, has_active_token
    from api.config import ApiConfig

    config = ApiConfig.from_env(model_ref=args.model, public_url=f"http://{args.host}:{args.port}")
    _ensure_default_model(config.model_ref)
    print(f"suggest serve: loading model {config.model_ref or '(MLflow champion, else default)'} ...",
          file=sys.stderr, flush=True)
    try:
        app = create_app(config)
    except SuggestError:
        raise
    except Exception as exc:
        raise SuggestError(f"cannot start: {type(exc).__name__}: {exc}") from None
    served = app.extensions["model_host"].served
    from api.modelhost import warm_up

    try:
        warm_up(served.model)
    except Exception as exc:
        raise SuggestError(f"cannot start: model {served.ref} fails on a test chart "
                           f"({type(exc).__name__}: {exc}); was it saved by another version?") from None
    database = _safe_url(config.database_url)
    print(f"suggest serve: model {served.name} {served.version} ({served.ref}); database {database}",
          file=sys.stderr, flush=True)
    # The first admin token is shown once, on a terminal only: a log file must never hold a credential.
    if sys.stderr.isatty():
        token = ensure_admin_token(app)
        if token:
            print("suggest serve: created the first admin token. Sign in with:", file=sys.stderr)
            print(f"    {_sign_in_url(args.host, args.port, token)}", file=sys.stderr, flush=True)
    elif not has_active_token(app):
        print("suggest serve: no access token yet; create the first one with "
              "'suggest tokens create --role admin' (same DATABASE_URL)", file=sys.stderr, flush=True)

    def post_fork(_server, _worker):
        app.extensions["db_engine"].dispose(close=False)  # never share the master's connections

    def post_request(worker, _req, _environ, _resp):
        if worker.nr % TRIM_EVERY_REQUESTS == 0:
            release_free_heap()

    def child_exit(_server, worker):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)

    options = {
        "bind": f"{args.host}:{args.port}",
        "workers": args.workers,
        "threads": args.threads,
        "worker_class": "gthread",
        "preload_app": True,
        "max_requests": args.max_requests,
        "max_requests_jitter": args.max_requests // 10,
        "timeout": 120,
        "graceful_timeout": 30,
        "keepalive": 5,
        "limit_request_line": 8190,  # gunicorn's largest: a query at its documented limits spells to about 4 KB
        "accesslog": "-",
        "access_log_format": ACCESS_LOG_FORMAT,
        "logger_class": _safe_access_logger(),
        "errorlog": "-",
        "loglevel": "info",
        "post_fork": post_fork,
        "child_exit": child_exit,
        "post_request": post_request,
        "proc_name": "suggest-serve",
        # gunicorn >= 25 opens a control socket in the home folder by default; several servers would share it.
        "control_socket_disable": True,
    }

    from gunicorn import util

    util.write_error = _write_json_error  # the workers answer unparsable requests through this function

    class _Server(BaseApplication):
        def load_config(self):
            for key, value in options.items():
                if key in self.cfg.settings:  # settings newer than the installed gunicorn are skipped
                    self.cfg.set(key, value)

        def load(self):
            return app

    print(f"suggest serve: listening on http://{args.host}:{args.port}/ (API docs at /docs)", file=sys.stderr,
          flush=True)
    limit_malloc_arenas()
    release_free_heap()
    # The loaded model is long-lived: frozen, the workers' garbage collector leaves its objects (and so the
    # memory pages they share with the master) alone.
    gc.freeze()
    _Server().run()
    return 0


#: glibc malloc arenas a process may have (``mallopt(M_ARENA_MAX)``): its default, 8 per core, gives each of a
#: worker's threads a heap of its own, which each keep freed memory.
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8


#: A worker hands its freed C heap back to the system every this many requests.
TRIM_EVERY_REQUESTS = 100


@functools.lru_cache(maxsize=1)
def _glibc():
    """The C library when it is glibc (with ``mallopt`` and ``malloc_trim``), else None; looked up once."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def limit_malloc_arenas() -> bool:
    """Cap glibc's malloc arenas at ``MALLOC_ARENAS`` for this process and the workers it forks, unless the
    ``MALLOC_ARENA_MAX`` environment variable sets it; whether the cap was set (False off glibc)."""
    libc = _glibc()
    if "MALLOC_ARENA_MAX" in os.environ or libc is None:
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, MALLOC_ARENAS))


def release_free_heap() -> bool:
    """Hand the C heap's free memory back to the system (glibc's ``malloc_trim``): loading a model leaves about
    40 MB of freed buffers in the heap, which would otherwise stay resident in the master; whether it ran."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


def _ensure_default_model(explicit_ref: str | None) -> None:
    """Build the default model when it is what will be served and none exists, or it cannot be loaded: saved in an
    older format, or without a signature (never unpickled: rebuilt rather than trusted). Loading never trains."""
    from api.modelhost import resolve_model_ref
    from suggest.model.loading import DEFAULT_MODEL, build_default_model, default_model_dir, default_model_state

    state = default_model_state()
    if state == "ready" or resolve_model_ref(explicit_ref) != DEFAULT_MODEL:
        return
    why = {"missing": "no default model", "stale": "the default model was saved by an older release",
           "unsigned": "the default model has no signature (it was saved before models were signed)"}[state]
    print(f"suggest serve: {why} in {default_model_dir()}: building it from the project's own material "
          "(the code set and synthetic charts; a few minutes, once) ...", file=sys.stderr, flush=True)
    folder = build_default_model()
    print(f"suggest serve: default model saved to {folder}", file=sys.stderr, flush=True)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
