"""A corpus of bad input sent to every route the app serves: never a 5xx, a refusal is a JSON error, and a refused
request stores nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from api_support import (
    VALID_REQUESTS,
    bearer,
    make_app,
    new_token,
    path_ids,
    role_headers,
    route_url,
    served_routes,
)
from sqlalchemy import func, select

from api.db import AuditEntry, ChartHistory, ChartRow, ChartStatusChange, Feedback, ProviderQuery, UserProfile

BODY_METHODS = {"POST", "PATCH", "PUT"}
OPTIONAL_BODY = {"v1.model_reload", "work.next_chart"}
"""Endpoints for which no body at all is a valid request."""
HUGE_INTEGERS = [2**31, 2**63, -1]
WRONG_VALUES = [None, True, 1.5, "text", [], {}, *HUGE_INTEGERS]
ODD_TEXT = {"RTL marks": "\u202eJ45.909\u202c \u200f", "combining characters": "a\u0301\u0302\u0303" * 40,
            "emoji": "🩺 👩🏽‍⚕️ asthma 😮‍💨", "zero-width and BOM": "\ufeffasthma\u200b\u200d",
            "controls": "\x07\x1b[31m\r\n\t\x7f\x85"}
QUERY_VALUES = ["", "-1", "0", str(2**31), str(2**63), "1e3", "1.5", "abc", "x" * 5000, "\x00", "a\x00b",
                *ODD_TEXT.values()]
RAW_QUERY_VALUES = ["%FF", "%ED%A0%80", "%C0%AF", "%00"]
PATH_VALUES = ["0", "-1", str(2**31), str(2**63), "abc", "%00", "%FF", "%ED%A0%80", "%F0%9F%A9%BA", "x" * 3000,
               "..%2F..%2Fetc%2Fpasswd", "%E2%80%AE"]


@dataclass(frozen=True)
class Probe:
    """One bad request: what it is, and whether the server must refuse it."""

    label: str
    body: bytes | None = None
    content_type: str | None = "application/json"
    query: dict | str | None = None
    raw_path: dict | None = None
    must_refuse: bool = True


def _json_type(value) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object",
            type(None): "null"}[type(value)]


def _with(valid: dict, name: str, value) -> bytes:
    return json.dumps({**valid, name: value}).encode()


def _spliced(valid: dict, name: str, raw: bytes) -> bytes:
    """The valid body with ``name``'s value spelled as ``raw`` (JSON that json.dumps cannot write)."""
    marker = "@@spliced@@"
    return json.dumps({**valid, name: marker}).encode().replace(f'"{marker}"'.encode(), raw)


def _strings(valid: dict) -> list[str]:
    return [name for name, value in valid.items() if isinstance(value, str)]


def wrong_types(valid: dict, optional: bool) -> Iterator[Probe]:
    for name, value in valid.items():
        for wrong in WRONG_VALUES:
            same_type = _json_type(wrong) == _json_type(value)
            if same_type and not isinstance(value, int):
                continue
            yield Probe(f"{name}={wrong!r}", _with(valid, name, wrong), must_refuse=wrong is not None)


def huge_values(valid: dict, optional: bool) -> Iterator[Probe]:
    for name, value in valid.items():
        if isinstance(value, str):
            yield Probe(f"{name}: 300,000 characters", _with(valid, name, "x" * 300_000))
            yield Probe(f"{name}: 2 MB", _with(valid, name, "x" * 2_000_000))
        if isinstance(value, list):
            yield Probe(f"{name}: 10,000 items", _with(valid, name, value * 10_000))


def deep_nesting(valid: dict, optional: bool) -> Iterator[Probe]:
    for name in valid:
        yield Probe(f"{name}: 40 levels", _with(valid, name, json.loads("[" * 40 + "]" * 40)))
    yield Probe("whole body: 10,000 levels", b'{"x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}")


def control_characters(valid: dict, optional: bool) -> Iterator[Probe]:
    for name in _strings(valid):
        yield Probe(f"{name}: NUL", _with(valid, name, "a\x00b"))
        yield Probe(f"{name}: NUL alone", _with(valid, name, "\x00"))
        yield Probe(f"{name}: other controls", _with(valid, name, ODD_TEXT["controls"]), must_refuse=False)
    yield Probe("NUL in a key", _with(valid, "a\x00b", 1))


def broken_unicode(valid: dict, optional: bool) -> Iterator[Probe]:
    for name in _strings(valid):
        yield Probe(f"{name}: lone high surrogate", _spliced(valid, name, b'"a\\ud800b"'))
        yield Probe(f"{name}: lone low surrogate", _spliced(valid, name, b'"\\udfff"'))
        yield Probe(f"{name}: invalid UTF-8", _spliced(valid, name, b'"a\xff\xfeb"'))
        yield Probe(f"{name}: overlong UTF-8", _spliced(valid, name, b'"\xc0\xaf"'))
        yield Probe(f"{name}: UTF-8 surrogate", _spliced(valid, name, b'"\xed\xa0\x80"'))
    yield Probe("UTF-16 body", json.dumps(valid).encode("utf-16"))


def unicode_edge_cases(valid: dict, optional: bool) -> Iterator[Probe]:
    for name in _strings(valid):
        for kind, text in ODD_TEXT.items():
            yield Probe(f"{name}: {kind}", _with(valid, name, text), must_refuse=False)


def wrong_content_types(valid: dict, optional: bool) -> Iterator[Probe]:
    body = json.dumps(valid).encode()
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                         "application/xml", "application/jsonx", None]:
        yield Probe(f"Content-Type {content_type}", body, content_type)


def empty_and_odd_bodies(valid: dict, optional: bool) -> Iterator[Probe]:
    yield Probe("no body", b"", must_refuse=not optional)
    for body in [b"   ", b"\n", b"null", b"[]", b'"text"', b"0", b"true", b"[{}]", b"NaN", b"{} {}", b"\xef\xbb\xbf{}"]:
        yield Probe(f"body {body!r}", body)


def truncated_json(valid: dict, optional: bool) -> Iterator[Probe]:
    body = json.dumps(valid).encode()
    for cut in sorted({1, len(body) // 3, len(body) // 2, len(body) - 1} - {0}):  # a cut at 0 is no body
        yield Probe(f"cut at {cut} of {len(body)} bytes", body[:cut])


def extra_fields(valid: dict, optional: bool) -> Iterator[Probe]:
    yield Probe("unknown field", _with(valid, "unexpected", 1))
    yield Probe("__proto__", _with(valid, "__proto__", {"admin": True}))
    yield Probe("role", _with(valid, "role", "admin"))


BODY_KINDS: dict[str, Callable[[dict, bool], Iterator[Probe]]] = {
    "wrong types": wrong_types, "huge values": huge_values, "deep nesting": deep_nesting,
    "NUL and control characters": control_characters, "lone surrogates and invalid UTF-8": broken_unicode,
    "unicode edge cases": unicode_edge_cases, "wrong content types": wrong_content_types,
    "empty and odd bodies": empty_and_odd_bodies, "truncated JSON": truncated_json, "extra fields": extra_fields,
}


def bad_queries(query: dict) -> Iterator[Probe]:
    """Bad values for each parameter of a route that validates its query string (it must refuse NUL and unknown
    names); a few for any other route, which ignores its query string."""
    if not query:
        yield Probe("unknown parameters", query={"unexpected": "\x00", "x" * 5000: "y"}, must_refuse=False)
        yield Probe("raw bytes", query="unexpected=%FF%00&%ED%A0%80", must_refuse=False)
        return
    for name in query:
        for value in QUERY_VALUES:
            yield Probe(f"{name}={value[:20]!r}", query={**query, name: value}, must_refuse="\x00" in value)
        for value in RAW_QUERY_VALUES:
            raw = "&".join(f"{k}={value if k == name else v}" for k, v in query.items())
            yield Probe(f"{name}={value} (raw)", query=raw, must_refuse=value == "%00")
    yield Probe("unknown parameter", query={**query, "unexpected": "1"})
    yield Probe("NUL in a parameter name", query={**query, "a\x00b": "1"})
    yield Probe("repeated parameters", query="page=1&page=-1&page=x", must_refuse=False)


def bad_paths(path: dict) -> Iterator[Probe]:
    for name in path:
        for value in PATH_VALUES:
            yield Probe(f"{name}={value[:20]}", content_type=None, raw_path={name: value}, must_refuse=False)


@pytest.fixture(scope="module")
def corpus_app(tmp_path_factory, small_model, models_dir_with_small_model):
    app = make_app(tmp_path_factory.mktemp("corpus"), small_model, model_ref=str(models_dir_with_small_model))
    return app, bearer(new_token(app, "admin", "corpus"))


def store_fingerprint(app) -> tuple:
    """What a request could have stored: counts of charts, history, feedback, audit entries, status changes, queries
    and profiles, and the versions of charts and queries."""
    with app.extensions["db_sessions"]() as session:
        return tuple(session.scalar(query) for query in (
            select(func.count()).select_from(ChartRow), select(func.coalesce(func.sum(ChartRow.version), 0)),
            select(func.count()).select_from(ChartHistory), select(func.count()).select_from(Feedback),
            select(func.count()).select_from(AuditEntry), select(func.count()).select_from(ChartStatusChange),
            select(func.count()).select_from(ProviderQuery),
            select(func.coalesce(func.sum(ProviderQuery.version), 0)),
            select(func.count()).select_from(UserProfile)))


def probes_for(endpoint: str, method: str, kind: str) -> Iterator[Probe]:
    valid = VALID_REQUESTS[endpoint]
    if kind == "bad queries":
        yield from bad_queries(valid.query)
    elif kind == "bad paths":
        yield from bad_paths(valid.path)
    elif method in BODY_METHODS:
        yield from BODY_KINDS[kind](valid.body or {}, endpoint in OPTIONAL_BODY)


KINDS = [*BODY_KINDS, "bad queries", "bad paths"]


def corpus_failures(app, admin: dict[str, str], kind: str) -> tuple[int, list[str]]:
    """Send the corpus of ``kind`` to every route of ``app``: (requests sent, what went wrong)."""
    client = app.test_client()
    callers = role_headers(app, admin)
    wrong = []
    sent = 0
    for endpoint, method, rule in served_routes(app):
        assert endpoint in VALID_REQUESTS, f"add {endpoint} to api_support.VALID_REQUESTS"
        valid = VALID_REQUESTS[endpoint]
        for probe in probes_for(endpoint, method, kind):
            chart, query = path_ids(client, rule, admin, valid.path)
            headers = {**callers[valid.role], **({"Content-Type": probe.content_type} if probe.content_type else {})}
            before = store_fingerprint(app)
            response = client.open(route_url(rule, valid.path, chart, probe.raw_path, query), method=method,
                                   data=probe.body, headers=headers,
                                   query_string=valid.query if probe.query is None else probe.query)
            sent += 1
            where = f"{method} {rule.rule} [{probe.label}]: {response.status_code}"
            if response.status_code >= 500:
                wrong.append(f"{where} is a server error")
            elif response.status_code >= 400:
                body = response.get_json(silent=True)
                if not isinstance(body, dict) or not isinstance(_error_of(body), str):
                    wrong.append(f"{where} without a JSON error")
                if store_fingerprint(app) != before:
                    wrong.append(f"{where} refused, yet stored something")
            elif probe.must_refuse:
                wrong.append(f"{where}: accepted")
    return sent, wrong


@pytest.mark.parametrize("kind", KINDS)
def test_bad_input_gets_a_json_refusal_below_500_and_stores_nothing(corpus_app, kind):
    sent, wrong = corpus_failures(*corpus_app, kind)
    assert sent and not wrong, f"{len(wrong)} of {sent}:\n" + "\n".join(wrong)


def _error_of(body: dict):
    """The message of an error: the JSON API's ``error``, or a FHIR OperationOutcome's first issue (FHIR routes)."""
    if body.get("resourceType") == "OperationOutcome":
        issues = body.get("issue")
        return issues[0].get("diagnostics") if isinstance(issues, list) and issues else None
    return body.get("error")
