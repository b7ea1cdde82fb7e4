"""The FHIR R4 endpoints, under ``/fhir/r4`` (thin: the mapping is :mod:`suggest.fhir`).

- ``GET /fhir/r4/metadata``: the CapabilityStatement, and ``GET /fhir/r4/OperationDefinition/{id}`` the service's
  operations (no token needed).
- ``POST /fhir/r4/DocumentReference/$suggest``: a DocumentReference, a Bundle of them or a document Bundle in; a
  Bundle of provisional Conditions, a Provenance and the completeness findings per document out.
- ``POST /fhir/r4/DocumentReference/$extract``: the chart fields read from a document, as Parameters (the web page
  opens FHIR files with it).
- ``GET /fhir/r4/charts/{id}/$export``: a stored chart's codes as confirmed Conditions.
- ``GET|POST /fhir/r4/charts/{id}/$claim``: the same and a Claim, given patient, provider, insurance and priority (as
  query parameters or a Parameters body); otherwise an OperationOutcome naming what is missing.
- ``POST /v1/charts`` with ``Content-Type: application/fhir+json`` saves a DocumentReference as a chart
  (:func:`chart_create_from_fhir`).

Requests take ``application/fhir+json`` or ``application/json`` (else 415) up to :data:`FHIR_MAX_BODY_BYTES` (else
413); every error on these endpoints is an OperationOutcome (``application/fhir+json``) naming the element's path.
Nothing is stored by ``$suggest``, ``$extract``, ``$export`` or ``$claim``.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, request

from api import store
from api.web import _nesting_depth, _unstorable_in, db, principal, requires, served_model
from suggest.completeness import check_document, default_rules
from suggest.encoder.rules import SETTINGS
from suggest.fhir import FHIR_JSON
from suggest.fhir.reading import FhirDocument, FhirInputError, read_documents, validated

#: The body limit of the FHIR endpoints: base64 makes a note of 1 MB about 1.33 MB.
FHIR_MAX_BODY_BYTES = 1_500_000
FHIR_TYPES = (FHIR_JSON, "application/json")
#: Documents one $suggest request may hold.
MAX_DOCUMENTS = 50
#: Nesting of a FHIR body the parser accepts (a Composition's sections nest; ours go 20 deep at most).
MAX_FHIR_DEPTH = 64
#: The longest list a FHIR body may hold (Bundle entries, attachments, parameters): more is refused, not read.
MAX_FHIR_LIST = 1000
#: The query parameters each FHIR operation reads; any other is refused (a misspelt one would be silently ignored).
QUERY_PARAMETERS = {"fhir.suggest_documents": {"top_k", "setting"}, "fhir.claim_chart": {"patient", "provider",
                                                                                         "insurance", "priority"},
                    "v1.create_chart": {"confirm_findings"}}

bp_fhir = Blueprint("fhir", __name__, url_prefix="/fhir/r4")

#: Chart fields -> the FHIR element they come from, for errors about them.
FIELD_PATHS = {"patient_id": "DocumentReference.subject", "encounter_id": "DocumentReference.context.encounter",
               "provider": "DocumentReference.author", "signed_by": "DocumentReference.authenticator",
               "document_date": "DocumentReference.date",
               "document_type": "DocumentReference.type", "text": "DocumentReference.content[0].attachment.data",
               "specialty": "DocumentReference.context.practiceSetting"}
ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
               409: "conflict", 413: "too-costly", 415: "not-supported", 422: "processing", 429: "throttled",
               503: "transient"}


def is_fhir_request() -> bool:
    """Whether the request is a FHIR one (its errors are OperationOutcomes): a ``/fhir/`` path, or a FHIR body."""
    return request.path.startswith("/fhir/") or request.mimetype == FHIR_JSON


def fhir_response(resource: dict[str, Any], status: int = 200) -> Response:
    """A FHIR resource as ``application/fhir+json``."""
    try:
        body = json.dumps(resource, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate echoed from the request: escaped, the JSON stays valid
        body = json.dumps(resource).encode("ascii")
    return Response(body, status=status, mimetype=FHIR_JSON)


def outcome_response(status: int, message: str, expression: str | None = None, code: str | None = None) -> Response:
    """An error as an OperationOutcome with its status."""
    from suggest.fhir.writing import error_outcome

    return fhir_response(error_outcome(message, code=code or ISSUE_CODES.get(status, "processing"),
                                       expression=expression), status)


def api_error_expression(field: str | None) -> str | None:
    """The FHIR path of an API error's field (chart fields map to their DocumentReference elements)."""
    if not field:
        return None
    if request.mimetype == FHIR_JSON and request.path.startswith("/v1/"):
        return FIELD_PATHS.get(field.split(".", 1)[0].split("[", 1)[0], field)
    return field


def read_fhir_body() -> Any:
    """The request's FHIR resource as parsed JSON (415 for another content type, 400 for malformed JSON)."""
    if request.mimetype not in FHIR_TYPES:
        raise FhirInputError("", f"Content-Type must be {FHIR_JSON} or application/json, not "
                             f"{request.mimetype or 'missing'}", status=415, code="not-supported")
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise FhirInputError("", "the body is empty: send a FHIR resource")
    if _nesting_depth(raw) > MAX_FHIR_DEPTH:
        raise FhirInputError("", f"JSON nested deeper than {MAX_FHIR_DEPTH} levels")
    try:
        data = json.loads(raw.decode("utf-8"))  # FHIR's JSON is UTF-8 (json.loads would guess UTF-16 too)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FhirInputError("", f"malformed JSON ({type(exc).__name__}): FHIR JSON is UTF-8",
                             code="structure") from None
    where = _unstorable_in(data)
    if where is not None:
        raise FhirInputError(_fhir_path(data, where), "NUL characters and lone surrogates are not accepted")
    where = _long_list_in(data)
    if where is not None:
        raise FhirInputError(_fhir_path(data, where), f"more than {MAX_FHIR_LIST} items", status=413,
                             code="too-costly")
    return data


def check_query() -> None:
    """Refuse query parameters the operation does not read, and NUL characters in those it does."""
    allowed = QUERY_PARAMETERS.get(request.endpoint or "", set())
    for name, value in request.args.items(multi=True):
        if name not in allowed:
            raise FhirInputError(name, f"unknown parameter {name[:40]!r}" + (f" (known: {', '.join(sorted(allowed))})"
                                                                             if allowed else ""))
        if _unstorable_in(value) is not None:
            raise FhirInputError(name, "NUL characters and lone surrogates are not accepted")


def _long_list_in(value: Any, loc: tuple = ()) -> tuple | None:
    if isinstance(value, list) and len(value) > MAX_FHIR_LIST:
        return loc
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(item, dict | list):
            found = _long_list_in(item, (*loc, key))
            if found is not None:
                return found
    return None


def _fhir_path(data: Any, loc: tuple) -> str:
    """A location in a parsed FHIR body as a FHIR path (``DocumentReference.content[0]``)."""
    kind = data.get("resourceType") if isinstance(data, dict) else None
    root = kind if isinstance(kind, str) and kind.isascii() and kind.isalpha() else ""
    return root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)


def _documents() -> list[FhirDocument]:
    check_query()
    documents = read_documents(read_fhir_body())
    if len(documents) > MAX_DOCUMENTS:
        raise FhirInputError("Bundle.entry", f"{len(documents)} documents: at most {MAX_DOCUMENTS} per request",
                             status=413, code="too-costly")
    return documents


@bp_fhir.get("/metadata")
def metadata():
    from suggest.fhir.writing import capability_statement

    served = current_app.extensions["model_host"].served
    release = served.codeset_release if served else ""
    return fhir_response(capability_statement(request.url_root.rstrip("/") + "/fhir/r4", release))


@bp_fhir.get("/OperationDefinition/<name>")
def operation_definition(name: str):
    from suggest.fhir.writing import operation_definitions

    found = operation_definitions().get(name)
    if found is None:
        raise FhirInputError("OperationDefinition", f"no operation {name[:60]!r} (known: "
                             f"{', '.join(sorted(operation_definitions()))})", status=404, code="not-found")
    return fhir_response(found)


@bp_fhir.post("/DocumentReference/$suggest")
@requires()
def suggest_documents():
    """Suggestions for each document, with the document checks of its fields (see the module docstring)."""
    from suggest.encoder.patient import Patient
    from suggest.fhir.writing import ModelDescription, suggestion_bundle

    documents = _documents()
    for document in documents:
        if not document.subject:
            raise FhirInputError(f"{document.path}.subject", "no subject: the Conditions need the patient "
                                 "(Condition.subject is required)")
    try:
        top_k = int(request.args.get("top_k", "10"))
    except ValueError:
        top_k = 0
    if not 1 <= top_k <= 100:
        raise FhirInputError("top_k", "top_k: a whole number from 1 to 100")
    setting = request.args.get("setting") or None
    if setting is not None and setting not in SETTINGS:
        raise FhirInputError("setting", f"setting: {', '.join(SETTINGS)}")
    served = served_model()
    patients = [Patient(d.sex, d.age_years) if d.sex or d.age_years is not None else None for d in documents]
    results = served.model.suggest_batch([d.text for d in documents], top_k=top_k, setting=setting,
                                         patients=patients)
    rules = default_rules()
    items = []
    for document, result in zip(documents, results, strict=True):
        findings = check_document(document.text, document.document_type, rules, document.chart_form())
        items.append((document, result, findings))
    model = ModelDescription(served.name, served.version, served.codeset_release)
    return fhir_response(suggestion_bundle(items, model))


@bp_fhir.post("/DocumentReference/$extract")
@requires()
def extract_fields():
    """The chart fields of one document, as Parameters."""
    documents = _documents()
    if len(documents) != 1:
        raise FhirInputError("Bundle.entry", f"{len(documents)} documents: $extract reads one")
    document = documents[0]
    values: list[tuple[str, str, Any]] = [("text", "valueString", document.text)]
    for name in ("patient_id", "encounter_id", "provider", "signed_by", "document_type", "sex"):
        if getattr(document, name):
            values.append((name, "valueString", getattr(document, name)))
    if document.document_date:
        values.append(("document_date", "valueDate", document.document_date.isoformat()))
    if document.age_years is not None:
        values.append(("age_years", "valueDecimal", document.age_years))
    return fhir_response({"resourceType": "Parameters",
                          "parameter": [{"name": name, kind: value} for name, kind, value in values]})


def _chart_codes(chart_id: int) -> tuple[Any, list[tuple[str, str | None]]]:
    from suggest.codeset import load_codeset

    row = store.get_chart(db(), chart_id)
    codeset = load_codeset()
    return row, [(code, getattr(codeset.get(code), "description", None) or None) for code in row.code_list()]


@bp_fhir.get("/charts/<int:chart_id>/$export")
@requires()
def export_chart(chart_id: int):
    """A stored chart's codes as confirmed Conditions."""
    from suggest.fhir.writing import coded_bundle

    check_query()
    row, codes = _chart_codes(chart_id)
    store.audit(db(), principal(), "export_fhir", row.id, [c for c, _ in codes])
    db().commit()
    return fhir_response(coded_bundle(codes, row.patient_id, row.encounter_id))


@bp_fhir.route("/charts/<int:chart_id>/$claim", methods=["GET", "POST"])
@requires()
def claim_chart(chart_id: int):
    """The chart's Conditions and a Claim, given its references."""
    from suggest.fhir.writing import CLAIM_PARAMETERS, claim, coded_bundle

    check_query()
    references = {name: request.args.get(name, "").strip() for name in CLAIM_PARAMETERS}
    if request.method == "POST":
        body = read_fhir_body()
        if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
            raise FhirInputError("resourceType", "send a Parameters resource (patient, provider, insurance: "
                                 "valueReference; priority: valueCode)")
        validated(body, "Parameters", "Parameters")
        for i, parameter in enumerate(body.get("parameter") or []):
            if not isinstance(parameter, dict) or parameter.get("name") not in CLAIM_PARAMETERS:
                raise FhirInputError(f"Parameters.parameter[{i}].name", f"expected one of {', '.join(CLAIM_PARAMETERS)}")
            value = parameter.get("valueReference", {}).get("reference") if isinstance(
                parameter.get("valueReference"), dict) else parameter.get("valueCode") or parameter.get("valueString")
            if not isinstance(value, str) or not value.strip():
                raise FhirInputError(f"Parameters.parameter[{i}]", "a reference (valueReference.reference) or a code "
                                     "(valueCode) is needed")
            references[parameter["name"]] = value.strip()
    row, codes = _chart_codes(chart_id)
    try:
        resource = claim(codes, references)
    except ValueError as exc:
        missing = [name for name in CLAIM_PARAMETERS if not references.get(name)]
        raise FhirInputError(f"Claim.{missing[0]}" if missing else "Claim", str(exc), code="required" if missing
                             else "value") from None
    store.audit(db(), principal(), "export_fhir_claim", row.id, [c for c, _ in codes])
    db().commit()
    return fhir_response(coded_bundle(codes, row.patient_id, row.encounter_id, resource))


def chart_fields(document) -> dict:
    """The chart fields (POST /v1/charts') a FHIR document maps to, codes from its Bundle's ICD-10-CM Conditions."""
    return {"patient_id": document.patient_id, "encounter_id": document.encounter_id, "text": document.text,
            "codes": document.codes, "provider": document.provider, "signed_by": document.signed_by,
            "document_date": document.document_date, "document_type": document.document_type}


def chart_create_from_fhir():
    """``POST /v1/charts`` with a FHIR body: the ChartCreate its one document maps to (codes from the Bundle's
    ICD-10-CM Conditions, if any)."""
    from pydantic import ValidationError

    from api.schemas import ChartCreate
    from api.web import _named_error

    documents = _documents()
    if len(documents) != 1:
        raise FhirInputError("Bundle.entry", f"{len(documents)} documents: a chart is saved from one document")
    document = documents[0]
    if not document.patient_id:
        raise FhirInputError(f"{document.path}.subject", "no subject: the chart needs the patient")
    fields = {**chart_fields(document), "confirm_findings": request.args.get("confirm_findings") == "true"}
    try:
        return ChartCreate.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        raise _named_error(exc) from None


def register_fhir_errors(app) -> None:
    """FHIR input errors as OperationOutcomes, whatever the endpoint."""

    @app.errorhandler(FhirInputError)
    def _fhir_input_error(exc: FhirInputError):
        return outcome_response(exc.status, exc.message, exc.expression or None, exc.code)
