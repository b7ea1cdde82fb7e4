"""Helpers of the browser tests: the app served on a free port, and Debian's Chromium launched headless."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 900}
needs_chromium = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium "
                       "(make test installs it: apt-get install chromium)"),
]


@contextmanager
def served(app) -> Iterator[str]:
    """``app`` on a real threaded WSGI server on 127.0.0.1 (no request log: the sign-in link carries ?token=);
    yields its base URL."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):
            pass

    httpd = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(5)


@contextmanager
def chromium() -> Iterator[tuple[object, list[str]]]:
    """A headless Chromium and the list the JavaScript errors of its pages are collected in (see ``watch``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser, []
        finally:
            browser.close()


def watch(page, errors: list[str]):
    """Collect ``page``'s JavaScript errors into ``errors``, and give it the tests' default timeout."""
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(15_000)
    return page
