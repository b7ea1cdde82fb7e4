"""Helpers of the service tests (imported by the test modules; fixtures live in conftest.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote

from api.app import create_app
from api.auth import create_token
from api.config import ApiConfig


def make_app(tmp_path, model, **overrides):
    """A fresh app with its own chart store under ``tmp_path`` (rate limiting off unless given)."""
    settings = {"database_url": f"sqlite:///{tmp_path / 'charts.db'}", "rate_limit": "", "precompute_seconds": 0}
    settings.update(overrides)
    return create_app(ApiConfig(**settings), model=model)


def new_token(app, role: str = "coder", user: str = "casey") -> str:
    with app.extensions["db_sessions"]() as session, session.begin():
        _row, token = create_token(session, role, user)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


CHART_TEXT = (
    "Date of service: 03/14/2026\n"
    "Patient: Jane Roe   DOB: 01/02/1960   MRN: 00123456\n\n"
    "CHIEF COMPLAINT\nFollow-up of diabetes.\n\n"
    "HISTORY OF PRESENT ILLNESS\nThe patient has type 2 diabetes mellitus and essential hypertension. "
    "She denies pneumonia. Her mother had asthma.\n\n"
    "ASSESSMENT AND PLAN\nType 2 diabetes mellitus. Continue metformin. Hypertension, continue lisinopril.\n\n"
    "Electronically signed by John Smith, MD on 03/14/2026\n"
)


CHART = object()
"""Stands for the id of a chart made for the request (a chart route's path parameter)."""
QUERY = object()
"""Stands for the id of an open provider query made for the request, addressed to ``PROVIDER``."""
JOB = object()
"""Stands for the id of an import made for the request (by ``new_import``)."""
IMPORTED = object()
"""Stands for the id of a chart imported for the request, its suggestions computed (a chart route's parameter)."""
PROVIDER = "dr-quinn"
"""The provider the test apps' queries are addressed to (``role_headers`` gives them a token)."""
PROFILE_USER = "casey"
"""A user whose profile the valid request sets (``role_headers`` gives them a coder token)."""


@dataclass(frozen=True)
class RouteRequest:
    """A valid request to one route: its path parameters, JSON body (None: none), query string, and the least role
    that may send it ("admin" sends every other)."""

    path: dict = field(default_factory=dict)
    body: dict | None = None
    query: dict = field(default_factory=dict)
    role: str = "admin"


#: A valid request for every endpoint the app serves (the bad-input and auth-matrix tests start from these and fail
#: on a route that has none).
#: A FHIR DocumentReference (a base64 note with its subject) and the references a Claim needs.
FHIR_DOCUMENT = {"resourceType": "DocumentReference", "status": "current", "subject": {"reference": "Patient/p1"},
                 "content": [{"attachment": {"contentType": "text/plain", "data": "QXNzZXNzbWVudDogYXN0aG1hLg=="}}]}
CLAIM_REFERENCES = {"patient": "Patient/p1", "provider": "Practitioner/1", "insurance": "Coverage/1",
                    "priority": "normal"}

VALID_REQUESTS = {
    "service.index": RouteRequest(),
    "service.docs": RouteRequest(),
    "service.openapi": RouteRequest(),
    "service.healthz": RouteRequest(),
    "service.readyz": RouteRequest(),
    "service.metrics_endpoint": RouteRequest(),
    "static": RouteRequest(path={"filename": "app.js"}),
    "v1.suggest": RouteRequest(body={"text": "Assessment: asthma.", "top_k": 5, "specialty": "pulmonology"}),
    "v1.suggest_batch": RouteRequest(body={"charts": [{"id": "a", "text": "Asthma."}], "top_k": 3}),
    "v1.code_search": RouteRequest(query={"q": "asthma", "limit": "5"}),
    "v1.code_detail": RouteRequest(path={"code": "J45.909"}),
    "v1.check_chart": RouteRequest(body={"text": CHART_TEXT, "codes": ["E11.9"], "document_type": "progress_note"}),
    "v1.create_chart": RouteRequest(body={"patient_id": "P-9", "text": "Asthma.", "codes": ["J45.909"],
                                          "document_date": "2026-03-14"}),
    "v1.list_charts": RouteRequest(query={"q": "asthma", "code": "J45", "from": "2026-01-01", "page": "1"}),
    "v1.get_chart": RouteRequest(path={"chart_id": CHART}),
    "v1.patch_chart": RouteRequest(path={"chart_id": CHART}, body={"codes": ["J45.909", "I10"], "version": 1}),
    "v1.delete_chart": RouteRequest(path={"chart_id": CHART}),
    "v1.chart_history": RouteRequest(path={"chart_id": CHART}),
    "v1.chart_feedback": RouteRequest(path={"chart_id": CHART},
                                      body={"items": [{"code": "I10", "action": "added", "confidence": 0.5}]}),
    "v1.feedback_export": RouteRequest(query={"only_feedback": "false"}),
    "v1.audit_log": RouteRequest(query={"user": "casey", "page": "1", "per_page": "5"}),
    "v1.me": RouteRequest(),
    "v1.specialties": RouteRequest(),
    "v1.model_info": RouteRequest(),
    "v1.model_reload": RouteRequest(body={"model": "small"}),  # the small model's folder (models_dir_with_small_model)
    "work.worklist_page": RouteRequest(query={"status": "new", "assignee": "none", "min_age_days": "0",
                                              "sort": "queue", "page": "1"}),
    "work.next_chart": RouteRequest(),
    "work.change_status": RouteRequest(path={"chart_id": CHART}, body={"status": "in_progress", "version": 1}),
    "work.users": RouteRequest(),
    "work.set_profile": RouteRequest(path={"user": PROFILE_USER}, body={"specialties": ["cardiology"],
                                                                        "display_name": "Casey"}),
    "work.query_templates": RouteRequest(),
    "work.open_query": RouteRequest(path={"chart_id": CHART}, body={
        "provider": PROVIDER, "template": "laterality", "start": 0, "end": 7}),
    "work.list_queries": RouteRequest(query={"status": "open", "page": "1"}),
    "work.get_query": RouteRequest(path={"query_id": QUERY}),
    "work.answer_query": RouteRequest(path={"query_id": QUERY}, role="provider", body={
        "answer": "Left.", "option": "Left", "amendment": "Asthma of the left lung.", "version": 1}),
    "work.close_query": RouteRequest(path={"query_id": QUERY}, body={"version": 1}),
    "work.start_import": RouteRequest(body={"format": "jsonl", "filename": "queue.jsonl", "content": (
        '{"patient_id": "P-1", "text": "Assessment: asthma."}\n{"patient_id": "P-2", "text": "Hypertension.", '
        '"priority": "high"}\n'), "defaults": {"priority": "normal"}}),
    "work.list_imports": RouteRequest(),
    "work.get_import": RouteRequest(path={"job_id": JOB}),
    "work.chart_suggestions": RouteRequest(path={"chart_id": IMPORTED}),
    "work.analytics_figure": RouteRequest(path={"figure": "quality"}, query={
        "from": "2026-01-01", "by": "specialty", "limit": "10"}),
    "work.analytics_csv": RouteRequest(path={"figure": "misses"}, query={"to": "2026-12-01"}),
    "fhir.metadata": RouteRequest(),
    "fhir.operation_definition": RouteRequest(path={"name": "DocumentReference-suggest"}),
    "fhir.suggest_documents": RouteRequest(body=FHIR_DOCUMENT, query={"top_k": "3"}),
    "fhir.extract_fields": RouteRequest(body=FHIR_DOCUMENT),
    "fhir.export_chart": RouteRequest(path={"chart_id": CHART}),
    "fhir.claim_chart": RouteRequest(path={"chart_id": CHART}, query=CLAIM_REFERENCES, body={
        "resourceType": "Parameters", "parameter": [{"name": "priority", "valueCode": "normal"}]}),
}


def error_message(body: dict) -> str:
    """The message of an error answer: ``{"error"}`` of the JSON API, the first issue of a FHIR OperationOutcome."""
    if body.get("resourceType") == "OperationOutcome":
        return body["issue"][0]["diagnostics"]
    return body["error"]


def served_routes(app) -> list[tuple[str, str, object]]:
    """(endpoint, method, rule) of every route the app serves, HEAD and OPTIONS left out."""
    return sorted(((rule.endpoint, method, rule) for rule in app.url_map.iter_rules()
                   for method in rule.methods - {"HEAD", "OPTIONS"}), key=lambda item: item[:2])


def new_chart(client, headers: dict[str, str]) -> int:
    """A fresh chart, saved through the API."""
    response = client.post("/v1/charts", json=VALID_REQUESTS["v1.create_chart"].body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def new_query(client, headers: dict[str, str], provider: str = PROVIDER) -> int:
    """A fresh open provider query on a fresh chart, addressed to ``provider`` (who needs a provider token)."""
    chart_id = new_chart(client, headers)
    response = client.post(f"/v1/charts/{chart_id}/queries", json={"provider": provider, "template": "laterality",
                                                                   "start": 0, "end": 7}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["query"]["id"]


def role_headers(app, admin: dict[str, str]) -> dict[str, dict[str, str]]:
    """Headers by role for requests to ``app``: ``admin``'s, and tokens made once per app for ``PROVIDER`` and
    ``PROFILE_USER``."""
    if "test_role_headers" not in app.extensions:
        app.extensions["test_role_headers"] = {"admin": admin, "provider": bearer(new_token(app, "provider", PROVIDER)),
                                               "coder": bearer(new_token(app, "coder", PROFILE_USER))}
    return app.extensions["test_role_headers"]


def new_import(client, headers: dict[str, str]) -> dict:
    """A fresh import of one chart, its suggestions computed: the job."""
    from api.imports import precompute_once

    response = client.post("/v1/imports", json={"format": "jsonl", "content": '{"patient_id": "P", "text": "Asthma."}'},
                           headers=headers)
    assert response.status_code == 202, response.get_json()
    app = client.application
    while precompute_once(app.extensions["db_sessions"], app.extensions["model_host"].served, "tests"):
        pass
    return response.get_json()


def path_ids(client, rule, admin: dict[str, str], path: dict | None = None,
             importer: dict[str, str] | None = None) -> tuple[int | None, int | None]:
    """(chart id, query id) made for a request to ``rule``: what its CHART (or IMPORTED) and QUERY (or JOB)
    placeholders stand for. An import is made by ``importer`` (default ``admin``): a coder sees only their own."""
    path = path or {}
    if path.get("chart_id") is IMPORTED:
        chart = new_import(client, admin)["chart_ids"][0]
    else:
        chart = new_chart(client, admin) if "chart_id" in rule.arguments else None
    query = new_query(client, admin) if "query_id" in rule.arguments else None
    if "job_id" in rule.arguments:
        query = new_import(client, importer or admin)["job"]["id"]
    return chart, query


def route_url(rule, path: dict, chart_id: int | None = None, raw: dict | None = None,
              query_id: int | None = None) -> str:
    """The URL of ``rule`` with its path parameters: ``path``'s values (CHART: ``chart_id``, QUERY: ``query_id``)
    quoted, ``raw``'s values as they are (already percent-encoded, or deliberately malformed)."""
    ids = {id(CHART): chart_id, id(IMPORTED): chart_id, id(QUERY): query_id, id(JOB): query_id}
    values = {name: quote(str(ids.get(id(value), value)), safe="") for name, value in path.items()}
    values.update(raw or {})
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], rule.rule)
