"""The OpenAPI 3.1 description of the JSON API, written by hand; request schemas and query parameters come from
the pydantic models that validate the requests, so the two cannot drift apart."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel

from api import schemas
from api.auth import ROLES

_REF = "#/components/schemas/{model}"


def _schemas() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for model in (schemas.SuggestRequest, schemas.BatchSuggestRequest, schemas.ChartCreate, schemas.ChartPatch,
                  schemas.FeedbackRequest, schemas.CheckRequest, schemas.ReloadRequest):
        schema = model.model_json_schema(ref_template=_REF)
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    obj, s = {"type": "object"}, {"type": "string"}
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
        "History": {"type": "object", "required": ["chart_id", "history"], "properties": {
            "chart_id": {"type": "integer"}, "history": {"type": "array", "items": {
                "type": "object", "required": ["version", "action", "changed_at", "changed_by", "changes"],
                "properties": {"version": {"type": "integer"}, "action": {"enum": ["created", "updated", "deleted"]},
                               "changed_at": {"type": "string", "format": "date-time"}, "changed_by": s,
                               "changes": {"type": "object", "description": "field: [old, new]"}}}}}},
        "Deleted": {"type": "object", "required": ["id", "deleted"], "properties": {
            "id": {"type": "integer"}, "deleted": {"const": True}}},
        "FeedbackRecorded": {"type": "object", "required": ["recorded", "chart"], "properties": {
            "recorded": {"type": "integer", "minimum": 1}, "chart": _ref("Chart")}},
        "AuditPage": {"type": "object", "required": ["items", "page", "per_page"], "properties": {
            "items": {"type": "array", "items": {
                "type": "object", "required": ["id", "at", "user", "action"], "properties": {
                    "id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"}, "user": s,
                    "action": s, "chart_id": {"type": ["integer", "null"]},
                    "codes": {"type": ["array", "null"], "items": s}, "detail": {"type": ["object", "null"]}}}},
            "page": {"type": "integer"}, "per_page": {"type": "integer"}}},
        "Me": {"type": "object", "required": ["user", "role", "default_document_type", "document_types"],
               "properties": {"user": s, "role": {"enum": list(ROLES)}, "default_document_type": s,
                              "document_types": {"type": "array", "items": {
                                  "type": "object", "required": ["id", "label"],
                                  "properties": {"id": s, "label": s}}}}},
        "ModelInfo": {"type": "object", "required": ["name", "version", "codeset_release", "threshold"],
                      "properties": {"name": s, "version": s, "ref": {"type": ["string", "null"]},
                                     "codeset_release": {"type": ["string", "null"]},
                                     "threshold": {"type": "number"}, "card": obj}},
        "Reloaded": {"type": "object", "required": ["reloaded", "generation", "model", "previous"], "properties": {
            "reloaded": {"const": True}, "generation": {"type": "integer"}, "model": _ref("ModelInfo"),
            "previous": {"anyOf": [_ref("ModelInfo"), {"type": "null"}]}}},
        "CodeHits": {"type": "object", "required": ["release", "results"], "properties": {
            "release": s, "results": {"type": "array", "items": {
                "type": "object", "required": ["code", "description", "billable"], "properties": {
                    "code": s, "description": s, "score": {"type": "number"}, "matched_term": s,
                    "billable": {"type": "boolean"}}}}}},
        "CodeDetail": {"type": "object", "required": ["release", "code", "description", "billable", "validation",
                                                      "ancestors", "children"], "properties": {
            "release": s, "code": s, "description": s, "billable": {"type": "boolean"},
            "parent": {"type": ["string", "null"]},
            "validation": {"type": "object", "required": ["code", "status"], "properties": {
                "code": s, "status": {"enum": ["billable", "not_billable", "invalid"]}}},
            "ancestors": {"type": "array", "items": {"type": "object", "required": ["code"], "properties": {
                "code": s, "description": s}}},
            "children": {"type": "array", "items": {"type": "object", "required": ["code"], "properties": {
                "code": s, "description": s, "billable": {"type": "boolean"}}}}}},
        "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
        "Readiness": {"type": "object", "required": ["status", "model_loaded", "database"], "properties": {
            "status": {"enum": ["ready", "not ready"]}, "model_loaded": {"type": "boolean"},
            "database": {"type": "boolean"}}},
    })
    return out


def _ref(model: str) -> dict:
    return {"$ref": _REF.format(model=model)}


def _json(ref: str) -> dict:
    return {"application/json": {"schema": _ref(ref)}}


def _error(description: str) -> dict:
    return {"description": description, "content": _json("Error")}


def _op(summary: str, *, body: str | None = None, ok: str | None = None, status: str = "200", tag: str = "coding",
        role: str | None = "coder", query: type[BaseModel] | None = None, chart: bool = False,
        params: list[dict] | None = None, extra: dict | None = None) -> dict:
    """One operation. ``query`` is the pydantic model that validates its query string, ``chart`` says that the path
    names a chart (``{id}``), and the answers the server can give follow from them."""
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": {
        status: {"description": "OK", **({"content": _json(ok)} if ok else {})}}}
    responses = op["responses"]
    if body:
        op["requestBody"] = {"required": True, "content": _json(body)}
        responses["400"] = _error("Malformed JSON, wrong type, missing or unknown field")
        responses["413"] = _error("Body over 1 MB")
        responses["415"] = _error("The body is not sent as application/json")
    if query:
        params = [*(params or []), *_query_params(query)]
        responses["400"] = _error("A query parameter out of range, malformed or unknown")
    if chart:
        params = [_ID, *(params or [])]
        responses["404"] = _error("No such chart (or it was deleted)")
    if role:
        op["x-role"] = role
        responses["401"] = _error("Missing, unknown or revoked token")
        responses["429"] = _error("Rate limit exceeded")
        if role == "admin":
            responses["403"] = _error("Needs an admin token")
            op["description"] = "Admin only."
    else:
        op["security"] = []
    if params:
        op["parameters"] = params
    if extra:
        extra = dict(extra)
        responses.update(extra.pop("responses", {}))
        op.update(extra)
    return op


def _q(name: str, schema: dict, description: str = "", required: bool = False, where: str = "query") -> dict:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema,
            "description": description}


def _query_params(model: type[BaseModel]) -> list[dict]:
    """The query parameters that ``model`` validates, with its constraints: an optional one is left out, never
    sent as null."""
    schema = model.model_json_schema(by_alias=True)
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema["properties"].items():
        prop = {k: v for k, v in prop.items() if k not in ("title", "description")}
        for variant in prop.pop("anyOf", ()):
            if variant.get("type") != "null":
                prop.update(variant)
        if prop.get("default", 0) is None:
            del prop["default"]
        params.append(_q(name, prop, schema["properties"][name].get("description", ""), required=name in required))
    return params


_ID = _q("id", {"type": "integer", "minimum": 1, "maximum": schemas.MAX_ID}, "Chart id", where="path")


_IDEMPOTENCY_KEY = _q(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 200, "pattern": schemas.IDEMPOTENCY_KEY_PATTERN},
    "Makes the save safe to retry: a new, unique value per chart (a UUID, say), sent again unchanged with every "
    "retry of that save. The first request with a key saves the chart and records the key for the caller's user; "
    "a repeat with the same JSON body (key order and spacing aside) saves nothing and answers 201 with the chart "
    "saved first, in its current state, and `Idempotent-Replayed: true`. Keys are per user and do not expire.",
    where="header")

_IDEMPOTENT_SAVE = {
    "description": "With an `Idempotency-Key`, a save is done at most once per user and key, even when retries "
                   "race each other.",
    "responses": {
        "201": {"description": "Saved; or, with `Idempotent-Replayed: true`, saved earlier with this "
                               "Idempotency-Key (the chart as it is now)",
                "content": _json("Chart"),
                "headers": {"Idempotent-Replayed": {
                    "description": "`true` when the answer replays an earlier save with the same Idempotency-Key "
                                   "(nothing was saved by this request); absent otherwise",
                    "schema": {"type": "string", "enum": ["true"]}}}},
        "400": _error("Malformed JSON, wrong type, missing or unknown field, or a malformed Idempotency-Key "
                      "(field `Idempotency-Key`)"),
        "409": _error("The chart saved earlier with this Idempotency-Key has since been deleted"),
        "422": _error("This Idempotency-Key was already used with another request body (field `Idempotency-Key`)"),
    },
}


@functools.lru_cache(maxsize=1)
def build_spec() -> dict[str, Any]:
    """The OpenAPI document served at ``/openapi.json``."""
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
            "/v1/codes/search": {"get": _op("Search codes by words or code prefix", ok="CodeHits", tag="code set",
                                            query=schemas.CodeSearchQuery)},
            "/v1/codes/{code}": {"get": _op("One code: validation, hierarchy, notes", ok="CodeDetail", tag="code set",
                                            params=[_q("code", {"type": "string"},
                                                       "ICD-10-CM code, with or without dot", where="path")],
                                            extra={"responses": {"404": _error("Not a code; near_matches")}})},
            "/v1/charts/check": {"post": _op("Completeness and consistency findings", body="CheckRequest",
                                             ok="CheckResponse", tag="charts",
                                             extra={"responses": {"404": _error("No such chart (chart_id)")}})},
            "/v1/charts": {
                "post": _op("Save a coded chart", body="ChartCreate", ok="Chart", status="201", tag="charts",
                            params=[_IDEMPOTENCY_KEY], extra=_IDEMPOTENT_SAVE),
                "get": _op("Find charts", ok="ChartPage", tag="charts", query=schemas.ChartQuery),
            },
            "/v1/charts/{id}": {
                "get": _op("Read a chart", ok="Chart", tag="charts", chart=True),
                "patch": _op("Change codes or metadata (kept in history); optional version for optimistic locking",
                             body="ChartPatch", ok="Chart", tag="charts", chart=True,
                             extra={"responses": {"409": _error("The chart is no longer at the given version")}}),
                "delete": _op("Soft-delete a chart", ok="Deleted", tag="charts", role="admin", chart=True),
            },
            "/v1/charts/{id}/history": {"get": _op("Every change of a chart", ok="History", tag="charts", chart=True)},
            "/v1/charts/{id}/feedback": {"post": _op(
                "Record accepted / rejected / added codes (applied to the chart's codes)", body="FeedbackRequest",
                ok="FeedbackRecorded", status="201", tag="charts", chart=True,
                extra={"responses": {"409": _error(f"The chart would hold more than {schemas.MAX_CODES} codes")}})},
            "/v1/feedback/export": {"get": _op(
                "Coded charts as JSONL for `suggest train`", tag="charts", role="admin", query=schemas.ExportQuery,
                extra={"responses": {"200": {"description": "One CorpusLine per line", "content": {
                    "application/x-ndjson": {"schema": _ref("CorpusLine")}}}}})},
            "/v1/audit": {"get": _op("Audit log: who viewed, saved, changed, deleted what", ok="AuditPage", tag="admin",
                                     role="admin", query=schemas.AuditQuery)},
            "/v1/me": {"get": _op("Who am I (user, role) and the document types the checks know", ok="Me",
                                  tag="service")},
            "/v1/model": {"get": _op("The served model: name, version, release, threshold, card", ok="ModelInfo",
                                     tag="model")},
            "/v1/model/reload": {"post": _op(
                "Load the current champion (or {\"model\": ref}) and swap it in without downtime", ok="Reloaded",
                tag="model", role="admin", body="ReloadRequest",
                extra={"requestBody": {"required": False, "content": _json("ReloadRequest")},
                       "description": "Admin only. `model` is `default`, a `models:/` URI, or a model folder inside "
                                      "the models folder; nothing else on the disk is read.",
                       "responses": {
                           "403": _error("Needs an admin token, or names a folder outside the models folder"),
                           "404": _error("No such model"),
                           "422": _error("The model file is unsigned or does not match its signature (or the "
                                         "registry's sha256): it is not loaded"),
                           "503": _error("The model could not be loaded; the previous one is still served")}})},
            "/healthz": {"get": _op("Liveness", ok="Health", tag="service", role=None)},
            "/readyz": {"get": _op("Readiness: model loaded and database reachable", ok="Readiness", tag="service",
                                   role=None, extra={"responses": {"503": {
                                       "description": "Not ready", "content": _json("Readiness")}}})},
            "/metrics": {"get": _op("Prometheus metrics", tag="service", role=None, extra={"responses": {"200": {
                "description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}}})},
        },
    }
