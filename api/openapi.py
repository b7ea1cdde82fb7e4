"""The OpenAPI 3.1 description of the JSON API, written by hand; request schemas come from the pydantic
models that validate the requests, so the two cannot drift apart."""

from __future__ import annotations

import functools
from typing import Any

from api import schemas

_REF = "#/components/schemas/{model}"


def _schemas() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for model in (schemas.SuggestRequest, schemas.BatchSuggestRequest, schemas.ChartCreate, schemas.ChartPatch,
                  schemas.FeedbackRequest, schemas.CheckRequest, schemas.ReloadRequest):
        schema = model.model_json_schema(ref_template=_REF)
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    obj = {"type": "object"}
    out.update({
        "Error": {"type": "object", "required": ["error"], "properties": {
            "error": {"type": "string"}, "field": {"type": "string", "description": "The offending field."}}},
        "Evidence": {"type": "object", "properties": {
            "start": {"type": "integer"}, "end": {"type": "integer"}, "text": {"type": "string"},
            "section": {"type": "string"},
            "assertion": {"type": "object", "properties": {k: {"type": "boolean"} for k in
                                                           ("negated", "historical", "family", "hypothetical", "uncertain")}}}},
        "Suggestion": {"type": "object", "properties": {
            "code": {"type": "string"}, "description": {"type": "string"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "selected": {"type": "boolean", "description": "confidence >= the model threshold"},
            "billable": {"type": "boolean"}, "sources": {"type": "array", "items": {"type": "string"}},
            "evidence": {"type": "array", "items": {"$ref": _REF.format(model="Evidence")}},
            "billable_children": {"type": "array", "items": {"type": "string"}},
            "rules": {"type": "array", "description": "What the coding rules did to this suggestion, and why",
                      "items": {"type": "object", "required": ["rule", "action", "why"], "properties": {
                          "rule": {"type": "string"}, "why": {"type": "string"},
                          "action": {"type": "string", "enum": ["added", "selected", "dropped", "note"]}}}}}},
        "ModelHeader": {"type": "object", "properties": {"name": {"type": "string"}, "version": {"type": "string"}}},
        "SuggestResponse": {"type": "object", "properties": {
            "model": {"$ref": _REF.format(model="ModelHeader")}, "codeset_release": {"type": "string"},
            "setting": {"type": "string", "enum": ["outpatient", "inpatient", "mentions"]},
            "suggestions": {"type": "array", "items": {"$ref": _REF.format(model="Suggestion")}},
            "warnings": {"type": "array", "items": {"type": "string"}}}},
        "BatchSuggestResponse": {"type": "object", "properties": {
            "model": {"$ref": _REF.format(model="ModelHeader")}, "codeset_release": {"type": "string"},
            "setting": {"type": "string", "enum": ["outpatient", "inpatient", "mentions"]},
            "results": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "string"},
                "suggestions": {"type": "array", "items": {"$ref": _REF.format(model="Suggestion")}},
                "warnings": {"type": "array", "items": {"type": "string"}}}}}}},
        "Chart": {"type": "object", "properties": {
            "id": {"type": "integer"}, "patient_id": {"type": "string"}, "encounter_id": {"type": ["string", "null"]},
            "text": {"type": "string"}, "codes": {"type": "array", "items": {"type": "string"}},
            "provider": {"type": ["string", "null"]}, "document_date": {"type": ["string", "null"], "format": "date"},
            "specialty": {"type": ["string", "null"]}, "document_type": {"type": ["string", "null"]},
            "version": {"type": "integer"}, "created_at": {"type": "string", "format": "date-time"},
            "created_by": {"type": "string"}, "updated_at": {"type": "string", "format": "date-time"},
            "updated_by": {"type": "string"}, "deleted": {"type": "boolean"}}},
        "ChartPage": {"type": "object", "properties": {
            "items": {"type": "array", "items": {"$ref": _REF.format(model="Chart")},
                      "description": "Charts without text, with a short snippet."},
            "total": {"type": "integer"}, "page": {"type": "integer"}, "per_page": {"type": "integer"}}},
        "Finding": {"type": "object", "required": ["rule", "severity", "message"], "properties": {
            "rule": {"type": "string"}, "severity": {"enum": ["error", "warning", "info"]},
            "message": {"type": "string"}, "code": {"type": "string"}, "start": {"type": "integer"},
            "end": {"type": "integer"}}},
        "CheckResponse": {"type": "object", "properties": {
            "document_type": {"type": "string"},
            "findings": {"type": "array", "items": {"$ref": _REF.format(model="Finding")}},
            "counts": obj, "document_types": {"type": "array", "items": {"type": "string"}}}},
        "CorpusLine": {"type": "object", "required": ["id", "text", "codes"], "properties": {
            "id": {"type": "string"}, "text": {"type": "string"},
            "codes": {"type": "array", "items": {"type": "string"}}, "specialty": {"type": "string"}, "meta": obj}},
    })
    return out


def _json(ref: str) -> dict:
    return {"application/json": {"schema": {"$ref": _REF.format(model=ref)}}}


def _op(summary: str, *, body: str | None = None, ok: str | None = None, status: str = "200", tag: str = "coding",
        role: str | None = "coder", params: list[dict] | None = None, extra: dict | None = None) -> dict:
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": {
        status: {"description": "OK", **({"content": _json(ok)} if ok else {})}}}
    if body:
        op["requestBody"] = {"required": True, "content": _json(body)}
        op["responses"]["400"] = {"description": "Malformed JSON, wrong type or missing field",
                                  "content": _json("Error")}
        op["responses"]["413"] = {"description": "Body over 1 MB", "content": _json("Error")}
        op["responses"]["415"] = {"description": "The body is not sent as application/json", "content": _json("Error")}
    if role:
        op["responses"]["401"] = {"description": "Missing, unknown or revoked token", "content": _json("Error")}
        op["responses"]["429"] = {"description": "Rate limit exceeded", "content": _json("Error")}
        if role == "admin":
            op["responses"]["403"] = {"description": "Needs an admin token", "content": _json("Error")}
            op["description"] = "Admin only."
    else:
        op["security"] = []
    if params:
        op["parameters"] = params
    if extra:
        extra = dict(extra)
        op["responses"].update(extra.pop("responses", {}))
        op.update(extra)
    return op


def _q(name: str, schema: dict, description: str = "", required: bool = False, where: str = "query") -> dict:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema,
            "description": description}


_ID = _q("id", {"type": "integer"}, "Chart id", where="path")


@functools.lru_cache(maxsize=1)
def build_spec() -> dict[str, Any]:
    """The OpenAPI document served at ``/openapi.json``."""
    s, i = {"type": "string"}, {"type": "integer"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "ICD-10-CM coder workspace API", "version": "1.0.0",
                 "description": "Ranked ICD-10-CM code suggestions with evidence, a chart store with history and "
                                "audit, completeness checks. Authenticate with `Authorization: Bearer <token>` "
                                "(`suggest tokens create`). Errors are JSON `{error, field}`."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}, "schemas": _schemas()},
        "paths": {
            "/v1/suggest": {"post": _op("Suggest codes for one chart", body="SuggestRequest", ok="SuggestResponse")},
            "/v1/suggest/batch": {"post": _op("Suggest codes for up to 100 charts", body="BatchSuggestRequest",
                                              ok="BatchSuggestResponse")},
            "/v1/codes/search": {"get": _op("Search codes by words or code prefix", tag="code set", params=[
                _q("q", s, "Words or a code", required=True), _q("limit", i, "1-100, default 20")])},
            "/v1/codes/{code}": {"get": _op("One code: validation, hierarchy, notes", tag="code set", params=[
                _q("code", s, "ICD-10-CM code, with or without dot", where="path")],
                extra={"responses": {"200": {"description": "OK"},
                                     "404": {"description": "Not a code; near_matches", "content": _json("Error")}}})},
            "/v1/charts/check": {"post": _op("Completeness and consistency findings", body="CheckRequest",
                                             ok="CheckResponse", tag="charts")},
            "/v1/charts": {
                "post": _op("Save a coded chart", body="ChartCreate", ok="Chart", status="201", tag="charts"),
                "get": _op("Find charts", ok="ChartPage", tag="charts", params=[
                    _q("code", s, "Code or code prefix (E11 finds E11.9)"), _q("patient_id", s),
                    _q("from", {"type": "string", "format": "date"}, "document_date >="),
                    _q("to", {"type": "string", "format": "date"}, "document_date <="),
                    _q("q", s, "Words that must all occur in the text"), _q("page", i), _q("per_page", i, "1-200")]),
            },
            "/v1/charts/{id}": {
                "get": _op("Read a chart", ok="Chart", tag="charts", params=[_ID]),
                "patch": _op("Change codes or metadata (kept in history); optional version for optimistic locking",
                             body="ChartPatch", ok="Chart", tag="charts", params=[_ID]),
                "delete": _op("Soft-delete a chart", tag="charts", role="admin", params=[_ID]),
            },
            "/v1/charts/{id}/history": {"get": _op("Every change of a chart", tag="charts", params=[_ID])},
            "/v1/charts/{id}/feedback": {"post": _op(
                "Record accepted / rejected / added codes (applied to the chart's codes)", body="FeedbackRequest",
                status="201", tag="charts", params=[_ID])},
            "/v1/feedback/export": {"get": _op(
                "Coded charts as JSONL for `suggest train`", tag="charts", role="admin",
                params=[_q("only_feedback", {"type": "boolean"}, "Only charts with feedback")],
                extra={"responses": {"200": {"description": "One Chart per line", "content": {
                    "application/x-ndjson": {"schema": {"$ref": _REF.format(model="CorpusLine")}}}}}})},
            "/v1/audit": {"get": _op("Audit log: who viewed, saved, changed, deleted what", tag="admin", role="admin",
                                     params=[_q("chart_id", i), _q("user", s), _q("page", i), _q("per_page", i)])},
            "/v1/me": {"get": _op("Who am I (user, role) and the document types the checks know", tag="service")},
            "/v1/model": {"get": _op("The served model: name, version, release, threshold, card", tag="model")},
            "/v1/model/reload": {"post": _op(
                "Load the current champion (or {\"model\": ref}) and swap it in without downtime", tag="model",
                role="admin", extra={"requestBody": {"required": False, "content": _json("ReloadRequest")},
                                     "description": "Admin only. `model` is `default`, a `models:/` URI, or a model "
                                                    "folder inside the models folder; nothing else on the disk is read.",
                                     "responses": {
                                         "400": {"description": "A folder outside the models folder",
                                                 "content": _json("Error")},
                                         "404": {"description": "No such model", "content": _json("Error")},
                                         "422": {"description": "The model file is unsigned or does not match its "
                                                                "signature (or the registry's sha256): it is not "
                                                                "loaded", "content": _json("Error")},
                                         "503": {"description": "The model could not be loaded; the previous one "
                                                                "is still served", "content": _json("Error")}}})},
            "/healthz": {"get": _op("Liveness", tag="service", role=None)},
            "/readyz": {"get": _op("Readiness: model loaded and database reachable", tag="service", role=None)},
            "/metrics": {"get": _op("Prometheus metrics", tag="service", role=None)},
        },
    }
