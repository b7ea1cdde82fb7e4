"""The real server: ``suggest serve`` under gunicorn, as a user starts it."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bench.bench_api import create_token, stop_server

SECRET = "Quirinus Vandersloot reports zyxomatosis"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(method: str, url: str, token: str | None = None, body: dict | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def served(tmp_path_factory, small_model):
    tmp_path = tmp_path_factory.mktemp("served")
    folder = small_model.save(tmp_path / "model")
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'charts.db'}", "SUGGEST_RATE_LIMIT": "",
           "PYTHONUNBUFFERED": "1"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "suggest", "serve", "--model", str(folder), "--port", str(port),
                                 "--workers", "2", "--threads", "2"], stdout=log, stderr=subprocess.STDOUT, env=env,
                                cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"server exited: {log_path.read_text()[-2000:]}")
            try:
                if _call("GET", f"{base}/readyz")[0] == 200:
                    break
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.3)
        else:
            pytest.fail("server did not become ready in 90 s")
        yield base, log_path, env, tmp_path
    finally:
        stop_server(proc)


def test_serve_keeps_credentials_and_chart_text_out_of_logs(served):
    base, log_path, env, cwd = served
    # Not on a terminal: no credential in the log, but how to create one.
    assert "?token=" not in log_path.read_text() and "suggest tokens create" in log_path.read_text()
    created = subprocess.run([sys.executable, "-m", "suggest", "tokens", "create", "--role", "admin"], env=env,
                             cwd=cwd, capture_output=True, text=True, check=True)
    token = created.stdout.strip().splitlines()[-1]

    status, body = _call("POST", f"{base}/v1/suggest", token, {"text": f"HPI: {SECRET}. Type 2 diabetes."})
    assert status == 200 and json.loads(body)["suggestions"] is not None
    status, body = _call("POST", f"{base}/v1/charts", token,
                         {"patient_id": "P-1", "text": f"HPI: {SECRET}.", "codes": ["E11.9"]})
    assert status == 201
    status, _ = _call("GET", f"{base}/v1/charts?q=Vandersloot", token)
    assert status == 200
    assert _call("POST", f"{base}/v1/suggest", token, {"text": 5})[0] == 400
    assert _call("GET", f"{base}/v1/model")[0] == 401

    # several workers, one view of the metrics
    for _ in range(6):
        _call("GET", f"{base}/healthz")
    status, metrics = _call("GET", f"{base}/metrics")
    text = metrics.decode()
    healthz = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                  if line.startswith("suggest_http_requests_total{") and 'endpoint="/healthz"' in line)
    assert healthz >= 6
    assert "suggest_model_seconds_bucket" in text

    # a chunked body over the limit is refused, not cut at the limit and accepted
    host, port = base.rsplit("/", 1)[-1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    chunks = [b'{"patient_id": "P-2", "codes": [], "text": "'] + [b"a" * 500_000] * 6 + [b'"}']
    connection.request("POST", "/v1/charts", body=iter(chunks), encode_chunked=True,
                       headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 413, response.status
    connection.close()

    # a path with an encoded line break cannot forge a log line
    assert _call("GET", f"{base}/v1/charts/1%0A127.0.0.1%20FORGED%20200", token)[0] == 404

    time.sleep(0.5)
    logged = log_path.read_text()
    assert not any(line.startswith("127.0.0.1 FORGED") for line in logged.splitlines())
    assert "\\n127.0.0.1 FORGED" in logged
    assert '"POST /v1/charts" 201' in logged  # the access log has the path ...
    assert "Vandersloot" not in logged and "zyxomatosis" not in logged  # ... never the text or the query
    assert token not in logged


def test_requests_the_server_cannot_parse_get_a_json_answer(served):
    base, _log, _env, _cwd = served
    host, port = base.rsplit("/", 1)[-1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request("GET", "/v1/charts?q=" + "x" * 9000)  # a request line over gunicorn's limit
    response = connection.getresponse()
    assert response.status == 400 and response.getheader("Content-Type") == "application/json"
    assert json.loads(response.read())["field"] == "request"
    connection.close()


def test_a_refused_request_with_an_unread_body_does_not_cost_the_connection(served):
    """A request refused before its body is read (403 here) leaves the keep-alive connection usable: headers and
    body sent apart, as most clients send them, used to lose about one following request in 200."""
    base, _log, env, _cwd = served
    token = create_token(env, "coder", "keepalive")
    host, port = base.rsplit("/", 1)[-1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.connect()
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    body = b'{"model": null}'
    for _ in range(1000):
        connection.putrequest("POST", "/v1/model/reload")
        for name, value in [("Authorization", f"Bearer {token}"), ("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))]:
            connection.putheader(name, value)
        connection.endheaders()
        connection.send(body)
        response = connection.getresponse()
        response.read()
        assert response.status == 403
    connection.close()


#: The parts of the README's sample output that differ from run to run, and what stands for them.
_SAMPLE_VARIABLES = {"(MLflow champion, else default)": r".+", "icd10cm-suggester local (default)": r".+",
                     "sqlite:////path/to/project/var/charts.db": r"sqlite:///\S+", "8080": r"\d+",
                     "[2026-12-01 00:38:32 +0000]": r"\[[^]]+\]", "26.2.0": r"\S+"}


def test_the_readme_shows_what_the_server_prints(served):
    """The README's sample of ``make serve`` against what the server printed, line by line and in order (the
    sign-in lines apart: they are printed on a terminal only, and this server's output goes to a file)."""
    _base, log_path, _env, _cwd = served
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    sample = next(block for block in readme.split("```")[1::2] if "suggest serve: listening on" in block)
    shown = [line for line in sample.splitlines() if line.startswith(("suggest serve:", "[")) and "token" not in line]
    assert len(shown) >= 6
    patterns = []
    for line in shown:
        pattern = re.escape(line)
        for literal, wildcard in _SAMPLE_VARIABLES.items():
            pattern = pattern.replace(re.escape(literal), wildcard)
        patterns.append(re.sub(r"\d{4,}", r"\\d+", pattern))  # process ids
    deadline = time.monotonic() + 30  # the last worker may still be booting
    while (missing := _first_missing(patterns, log_path.read_text().splitlines())) is not None:
        assert time.monotonic() < deadline, f"the README shows {shown[missing]!r}; the server printed:\n" + \
            "\n".join(log_path.read_text().splitlines()[:20])
        time.sleep(0.5)


def _first_missing(patterns: list[str], lines: list[str]) -> int | None:
    """The index of the first pattern no line matches after the lines that matched the patterns before it."""
    at = 0
    for k, pattern in enumerate(patterns):
        found = next((i for i in range(at, len(lines)) if re.fullmatch(pattern, lines[i])), None)
        if found is None:
            return k
        at = found + 1
    return None
