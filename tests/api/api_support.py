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
    settings = {"database_url": f"sqlite:///{tmp_path / 'charts.db'}", "rate_limit": ""}
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


@dataclass(frozen=True)
class RouteRequest:
    """A valid request to one route: its path parameters, JSON body (None: none) and query string."""

    path: dict = field(default_factory=dict)
    body: dict | None = None
    query: dict = field(default_factory=dict)


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


def route_url(rule, path: dict, chart_id: int | None = None, raw: dict | None = None) -> str:
    """The URL of ``rule`` with its path parameters: ``path``'s values (CHART: ``chart_id``) quoted, ``raw``'s
    values as they are (already percent-encoded, or deliberately malformed)."""
    values = {name: quote(str(chart_id if value is CHART else value), safe="") for name, value in path.items()}
    values.update(raw or {})
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], rule.rule)
