"""HTTP routes: the JSON API under ``/v1``, health, metrics, OpenAPI and the web page."""

from __future__ import annotations

import json
import time
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    request,
    send_from_directory,
    stream_with_context,
)

from api import analytics, chart_checks, metrics, store
from api.errors import ApiError, Forbidden, NotFound, Unavailable
from api.fhir import chart_create_from_fhir
from api.openapi import operation
from api.responses import (
    AuditPage,
    BatchSuggestResponse,
    Chart,
    ChartPage,
    CheckResponse,
    CodeDetail,
    CodeHits,
    CodeNotFound,
    CorpusLine,
    Deleted,
    FeedbackRecorded,
    FindingsConflict,
    Health,
    History,
    Me,
    Metrics,
    ModelHeader,
    ModelInfo,
    Readiness,
    Reloaded,
    Specialties,
    SuggestResponse,
    dump,
)
from api.schemas import (
    MAX_CODES,
    AuditQuery,
    BatchSuggestRequest,
    ChartCreate,
    ChartPatch,
    ChartQuery,
    CheckRequest,
    CodeSearchQuery,
    ExportQuery,
    FeedbackRequest,
    PatientInfo,
    ReloadRequest,
    SaveHeaders,
    SuggestRequest,
)
from api.web import (
    body_sha256,
    check_database,
    db,
    idempotency_key,
    parse_body,
    parse_query,
    principal,
    requires,
    served_model,
    write_model_state,
)
from suggest.completeness import SEVERITY_ORDER, ChartForm
from suggest.encoder.patient import Patient
from suggest.errors import ModelIntegrityError, ModelNotFoundError
from suggest.fhir import FHIR_JSON

STATIC = Path(__file__).resolve().parent / "static"

bp_service = Blueprint("service", __name__)
bp_v1 = Blueprint("v1", __name__, url_prefix="/v1")


def _codeset():
    from suggest.codeset import load_codeset

    return load_codeset()


def _model_header(served) -> ModelHeader:
    return ModelHeader(name=served.name, version=served.version)


def _chart(row) -> Chart:
    return Chart.model_validate(store.chart_to_dict(row))


# ----------------------------------------------------------------------------- service
@bp_service.get("/")
def index():
    return send_from_directory(STATIC, "index.html")


@bp_service.get("/docs")
def docs():
    return send_from_directory(STATIC, "docs.html")


@bp_service.get("/openapi.json")
def openapi():
    from api.openapi import build_spec

    return jsonify(build_spec())


@bp_service.get("/healthz")
@operation(Health, tag="service")
def healthz():
    """Liveness"""
    return Health(status="ok")


@bp_service.get("/readyz")
@operation(Readiness, tag="service", errors={503: (Readiness, "Not ready")})
def readyz():
    """Readiness: model loaded and database reachable"""
    served = current_app.extensions["model_host"].served
    db_ok = check_database(current_app)
    ready = served is not None and db_ok
    body = Readiness(status="ready" if ready else "not ready", model_loaded=served is not None, database=db_ok)
    return body, (200 if ready else 503)


@bp_service.get("/metrics")
@operation(Metrics, tag="service", media_type="text/plain")
def metrics_endpoint():
    """Prometheus metrics"""
    payload, content_type = metrics.render()
    return Response(payload, content_type=content_type)


# ----------------------------------------------------------------------------- suggestions
@bp_v1.post("/suggest")
@operation(SuggestResponse, tag="coding", body=SuggestRequest)
@requires()
def suggest():
    """Suggest codes for one chart"""
    body = parse_body(SuggestRequest)
    served = served_model()
    specialty = chart_checks.checked_specialty(body.specialty, served.model)
    t0 = time.perf_counter()
    result = served.coalescer.suggest(body.text, top_k=body.top_k, specialty=specialty,
                                      min_confidence=body.min_confidence, setting=body.setting,
                                      patient=_patient(body.patient))
    metrics.MODEL_LATENCY.labels("suggest").observe(time.perf_counter() - t0)
    out = result.to_dict()
    return SuggestResponse(model=_model_header(served),
                           codeset_release=out["codeset_release"] or served.codeset_release, setting=out["setting"],
                           suggestions=out["suggestions"], warnings=out["warnings"])


def _patient(info: PatientInfo | None) -> Patient | None:
    return None if info is None or (info.sex is None and info.age_years is None) else Patient(info.sex, info.age_years)


@bp_v1.post("/suggest/batch")
@operation(BatchSuggestResponse, tag="coding", body=BatchSuggestRequest)
@requires()
def suggest_batch():
    """Suggest codes for up to 100 charts"""
    body = parse_body(BatchSuggestRequest)
    served = served_model()
    specialties = [chart_checks.checked_specialty(c.specialty, served.model, field=f"charts[{i}].specialty")
                   for i, c in enumerate(body.charts)]
    t0 = time.perf_counter()
    results = served.model.suggest_batch([c.text for c in body.charts], top_k=body.top_k,
                                         specialties=specialties, setting=body.setting,
                                         patients=[_patient(c.patient) for c in body.charts])
    metrics.MODEL_LATENCY.labels("suggest_batch").observe(time.perf_counter() - t0)
    items = []
    release = served.codeset_release
    setting = results[0].setting if results else ""
    for i, (chart, result) in enumerate(zip(body.charts, results, strict=True)):
        out = result.to_dict()
        release = out["codeset_release"] or release
        suggestions = [s for s in out["suggestions"] if s["confidence"] >= body.min_confidence]
        items.append({"id": chart.id if chart.id is not None else str(i), "suggestions": suggestions,
                      "warnings": out["warnings"]})
    return BatchSuggestResponse(model=_model_header(served), codeset_release=release, setting=setting, results=items)


# ----------------------------------------------------------------------------- code set
@bp_v1.get("/codes/search")
@operation(CodeHits, tag="code set", query=CodeSearchQuery)
@requires()
def code_search():
    """Search codes by words or code prefix"""
    query = parse_query(CodeSearchQuery)
    cs = _codeset()
    hits = cs.search(query.q, limit=query.limit)
    return CodeHits(release=cs.release, results=[{**h.to_dict(), "billable": cs.is_billable(h.code)} for h in hits])


@bp_v1.get("/codes/<code>")
@operation(CodeDetail, tag="code set", errors={404: (CodeNotFound, "Not a code; near_matches")})
@requires()
def code_detail(code: str):
    """One code: validation, hierarchy, notes"""
    cs = _codeset()
    validation = cs.validate(code)
    if validation.status == "invalid":
        return CodeNotFound(error=f"{validation.code} is not an ICD-10-CM code in release {cs.release}",
                            field="code", near_matches=validation.near_matches), 404
    info = cs.get(code)
    excludes1_above = []
    for ancestor in cs.ancestors(info.code):
        a = cs.get(ancestor)
        if a is not None and a.excludes1:
            excludes1_above.append({"code": ancestor, "notes": list(a.excludes1)})
    return CodeDetail(
        release=cs.release,
        **{**info.to_dict(), "children": [{"code": c, "description": cs.description(c), "billable": cs.is_billable(c)}
                                          for c in cs.children(info.code)]},
        validation=validation.to_dict(),
        ancestors=[{"code": a, "description": cs.description(a)} for a in cs.ancestors(info.code)],
        excludes1_inherited=excludes1_above,
    )


# ----------------------------------------------------------------------------- completeness
@bp_v1.post("/charts/check")
@operation(CheckResponse, tag="charts", body=CheckRequest, errors={404: "No such chart (chart_id)"})
@requires()
def check_chart():
    """Completeness and consistency findings

    Document checks (signature, date, identifiers, sections by document type) and code edits (validity,
    billability, Excludes1, combination codes, unspecified beside specific, integral symptoms, companions, age and
    sex, codes whose only evidence is negated, a relative's, hypothetical or past), each with its severity and, where
    one applies, the `code` it concerns and the span (`start`, `end`) of the text it points at. The form's fields
    stand in for what the text lacks: a `document_date` satisfies the date check, a `patient_id` the record number
    check, `patient` gives the sex and age for the age and sex edits. With `chart_id`, the saved chart's text, codes,
    document type and fields stand in for those not given."""
    from suggest.completeness import check_document, default_rules

    body = parse_body(CheckRequest)
    text, codes, doc_type = body.text, body.codes, body.document_type
    fields = {name: getattr(body, name) for name in ("patient_id", "encounter_id", "provider", "signed_by",
                                                     "document_date")}
    if body.chart_id is not None:
        session = db()
        row = store.get_chart(session, body.chart_id)
        text = row.text if text is None else text
        codes = codes or row.code_list()
        doc_type = doc_type or row.document_type
        fields = {name: value if value is not None else getattr(row, name) for name, value in fields.items()}
        store.audit(session, principal(), "check", row.id, codes)
        session.commit()
    if text is None:
        raise ApiError("give text (and codes) or chart_id", field="text")
    rules = default_rules()
    if doc_type and doc_type not in rules.document_types:  # a saved chart's type the rules no longer know
        raise ApiError(f"unknown document_type; known: {', '.join(sorted(rules.document_types))}",
                       field="document_type")
    codes = store.normalize_codes(codes)
    patient = body.patient or PatientInfo()
    form = ChartForm(**fields, sex=patient.sex, age_years=patient.age_years)
    served = current_app.extensions["model_host"].served
    findings = check_document(text, doc_type, rules, form) + chart_checks.code_findings(
        text, codes, _codeset(), served.model if served else None, form)
    findings = [f.to_dict() for f in sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity])]
    counts = {s: sum(1 for f in findings if f["severity"] == s) for s in ("error", "warning", "info")}
    return CheckResponse(document_type=doc_type or rules.default_document_type, findings=findings, counts=counts,
                         document_types=sorted(rules.document_types))


# ----------------------------------------------------------------------------- chart store
_CONFIRM_409 = ("The chart's codes hold code edits of severity error and `confirm_findings` is not true: `field` is "
                "`codes` and `findings` lists them (nothing saved)")


@bp_v1.post("/charts")
@operation((Chart, "Saved; or, with `Idempotent-Replayed: true`, saved earlier with this Idempotency-Key (the chart "
            "as it is now)"), status=201, tag="charts", body=ChartCreate, headers=SaveHeaders,
           errors={400: "Malformed JSON, wrong type, missing or unknown field, a malformed Idempotency-Key (field "
                        "`Idempotency-Key`), or a value the store does not take, named by `field`: a code not in the "
                        "code set or not billable (`codes[i]`), an unknown `document_type` or `specialty` (the message "
                        "lists the allowed values), a blank `patient_id`, a `document_date` in the future or before "
                        "1900",
                   409: (FindingsConflict, _CONFIRM_409 + "; or (without `findings`) the chart saved earlier with "
                                                          "this Idempotency-Key has since been deleted"),
                   422: "This Idempotency-Key was already used with another request body (field `Idempotency-Key`)"})
@requires()
def create_chart():
    """Save a coded chart

    The codes are checked as POST /v1/charts/check checks them: a code edit of severity error makes the save a 409
    with the findings, unless `confirm_findings` is true (the override is then recorded in the audit log). With an
    `Idempotency-Key`, a save is done at most once per user and key, even when retries race each other."""
    key = idempotency_key()
    body = chart_create_from_fhir() if request.mimetype == FHIR_JSON else parse_body(ChartCreate)
    session = db()
    who = principal()
    served = served_model()
    cs = _codeset()
    codes = chart_checks.checked_codes(body.codes, cs, current_app.extensions["suggest_config"].non_billable)
    body = body.model_copy(update={"specialty": chart_checks.checked_specialty(body.specialty, served.model)})
    errors: list = []

    def confirmed() -> None:  # before a new chart is written (a replay answers as the first save did)
        findings = chart_checks.code_findings(body.text, codes, cs, served.model)
        errors.extend(chart_checks.blocking(findings))
        if errors and not body.confirm_findings:
            raise chart_checks.UnconfirmedFindings(findings)

    try:
        if key is None:
            confirmed()
            row, replayed = store.create_chart(session, body, who), False
        else:
            row, replayed = store.create_chart_once(session, body, who, key, body_sha256(), confirmed)
    except chart_checks.UnconfirmedFindings as exc:
        return _unconfirmed(exc.findings)
    if errors and not replayed:
        store.audit(session, who, "override", row.id, codes, chart_checks.override_record(errors))
    if not replayed:
        record_findings(session, row.id)
    session.commit()
    # a replay answers as the first save did, and says so
    return jsonify(store.chart_to_dict(row)), 201, {"Idempotent-Replayed": "true"} if replayed else {}


def record_findings(session, chart_id: int) -> None:
    """Keep the saved chart's completeness findings for the analytics (POST /v1/charts/check's, by its id)."""
    row = store.get_chart(session, chart_id)
    analytics.record_findings(session, row.id, chart_checks.stored_chart_findings(row, _codeset(), served_model().model))


def _unconfirmed(findings) -> tuple[FindingsConflict, int]:
    errors = chart_checks.blocking(findings)
    rules = ", ".join(dict.fromkeys(f"{f.rule} ({f.code})" for f in errors))
    return FindingsConflict(error=f"the codes hold {len(errors)} error finding(s): {rules}; fix them, or save again "
                                  "with confirm_findings: true to override", field="codes",
                            findings=[f.to_dict() for f in findings if f.code is not None]), 409


@bp_v1.get("/charts")
@operation(ChartPage, tag="charts", query=ChartQuery)
@requires()
def list_charts():
    """Find charts"""
    query = parse_query(ChartQuery)
    session = db()
    rows, total = store.search_charts(session, query)
    filters = sorted(k for k, v in query.model_dump(by_alias=True, exclude={"page", "per_page"}).items() if v)
    store.audit(session, principal(), "search", None, None, {"filters": filters, "results": total})
    session.commit()
    return ChartPage(items=[store.chart_to_dict(r, with_text=False) for r in rows], total=total, page=query.page,
                     per_page=query.per_page)


@bp_v1.get("/charts/<int:chart_id>")
@operation(Chart, tag="charts")
@requires()
def get_chart(chart_id: int):
    """Read a chart"""
    session = db()
    row = store.get_chart(session, chart_id)
    store.audit(session, principal(), "view", row.id, row.code_list())
    session.commit()
    return _chart(row)


@bp_v1.patch("/charts/<int:chart_id>")
@operation(Chart, tag="charts", body=ChartPatch, errors={
    400: "Malformed JSON, wrong type, missing or unknown field, or a value the store does not take, named by `field` "
         "(as POST /v1/charts)",
    409: (FindingsConflict, _CONFIRM_409 + "; or (without `findings`) the chart is no longer at the given version")})
@requires()
def patch_chart(chart_id: int):
    """Change codes or metadata (kept in history); optional version for optimistic locking

    A change of the codes or the text is checked as a new chart is (409 with the findings unless
    `confirm_findings`)."""
    body = parse_body(ChartPatch)
    session = db()
    who = principal()
    row = store.get_chart(session, chart_id)
    store.check_version(row, body.version)
    served = served_model()
    cs = _codeset()
    given = body.model_fields_set
    if "specialty" in given:
        body = body.model_copy(update={"specialty": chart_checks.checked_specialty(body.specialty, served.model)})
    errors = []
    if "codes" in given or "text" in given:
        codes = row.code_list()
        if "codes" in given:
            codes = chart_checks.checked_codes(body.codes, cs, current_app.extensions["suggest_config"].non_billable)
        findings = chart_checks.code_findings(body.text if "text" in given else row.text, codes, cs, served.model)
        errors = chart_checks.blocking(findings)
        if errors and not body.confirm_findings:
            return _unconfirmed(findings)
    version = row.version
    row = store.update_chart(session, chart_id, body, who)
    if errors and row.version != version:
        store.audit(session, who, "override", row.id, row.code_list(), chart_checks.override_record(errors))
    if row.version != version:
        record_findings(session, row.id)
    session.commit()
    return _chart(store.get_chart(session, row.id))


@bp_v1.delete("/charts/<int:chart_id>")
@operation(Deleted, tag="charts")
@requires("admin")
def delete_chart(chart_id: int):
    """Soft-delete a chart"""
    session = db()
    row = store.delete_chart(session, chart_id, principal())
    session.commit()
    return Deleted(id=row.id, deleted=True)


@bp_v1.get("/charts/<int:chart_id>/history")
@operation(History, tag="charts")
@requires()
def chart_history(chart_id: int):
    """Every change of a chart"""
    session = db()
    items = store.history(session, chart_id)
    store.audit(session, principal(), "history", chart_id)
    session.commit()
    return History(chart_id=chart_id, history=items)


@bp_v1.post("/charts/<int:chart_id>/feedback")
@operation(FeedbackRecorded, status=201, tag="charts", body=FeedbackRequest,
           errors={409: f"The chart would hold more than {MAX_CODES} codes"})
@requires()
def chart_feedback(chart_id: int):
    """Record accepted / rejected / added codes (applied to the chart's codes)"""
    body = parse_body(FeedbackRequest)
    cs = _codeset()
    for i, item in enumerate(body.items):
        if item.action != "rejected":
            chart_checks.checked_code(item.code, cs, "confirm", field=f"items[{i}].code")
    session = db()
    version = store.get_chart(session, chart_id).version
    row = store.add_feedback(session, chart_id, body, principal())
    if row.version != version:
        record_findings(session, row.id)
    session.commit()
    return FeedbackRecorded(recorded=len(body.items), chart=_chart(store.get_chart(session, row.id))), 201


@bp_v1.get("/feedback/export")
@operation((CorpusLine, "One CorpusLine per line"), tag="charts", query=ExportQuery, media_type="application/x-ndjson")
@requires("admin")
def feedback_export():
    """Coded charts as JSONL for `suggest train`"""
    only = parse_query(ExportQuery).only_feedback
    sessions = current_app.extensions["db_sessions"]
    who = principal()
    with sessions() as session, session.begin():
        store.audit(session, who, "export", None, None, {"only_feedback": only})

    def lines():
        with sessions() as session:
            for line in store.export_charts(session, only_with_feedback=only):
                yield json.dumps(dump(CorpusLine.model_validate(line)), ensure_ascii=False) + "\n"

    return Response(stream_with_context(lines()), mimetype="application/x-ndjson",
                    headers={"Content-Disposition": "attachment; filename=charts.jsonl"})


@bp_v1.get("/audit")
@operation(AuditPage, tag="admin", query=AuditQuery)
@requires("admin")
def audit_log():
    """Audit log: who viewed, saved, changed, deleted what"""
    query = parse_query(AuditQuery)
    items = store.list_audit(db(), query.chart_id, query.user, query.page, query.per_page)
    return AuditPage(items=items, page=query.page, per_page=query.per_page)


# ----------------------------------------------------------------------------- model
@bp_v1.get("/specialties")
@operation(Specialties, tag="model")
@requires()
def specialties():
    """The specialties a `specialty` field takes (those the served model knows)"""
    return Specialties(specialties=chart_checks.known_specialties(served_model().model))


@bp_v1.get("/me")
@operation(Me, tag="service")
@requires("any")
def me():
    """Who am I (user, role, specialties) and the document types the checks know"""
    from api.worklist import profile_dict
    from suggest.completeness import default_rules

    rules = default_rules()
    who = principal()
    profile = profile_dict(db(), who.user, [who.role])
    return Me(user=who.user, role=who.role, display_name=profile["display_name"],
              specialties=profile["specialties"], default_document_type=rules.default_document_type,
              document_types=[{"id": k, "label": v.get("label", k)} for k, v in rules.document_types.items()])


@bp_v1.get("/model")
@operation(ModelInfo, tag="model")
@requires()
def model_info():
    """The served model: name, version, release, threshold, card"""
    return ModelInfo.model_validate(served_model().describe())


def _servable_model_ref(ref: str) -> str:
    """A reload may name ``default``, a registry URI, or a model folder inside the models folder (by name or path):
    a model file is a pickle, and loading one runs code, so no other place on the disk is read."""
    from suggest.model.suggester import MODEL_FILE
    from suggest.paths import models_dir

    if ref == "default" or ref.startswith("models:/"):
        return ref
    root = models_dir().resolve()
    given = Path(ref)
    folder = (given if given.is_absolute() else root / given).resolve()
    if folder.name == MODEL_FILE:
        folder = folder.parent
    if not folder.is_relative_to(root):
        raise Forbidden(f"only 'default', a models:/ URI or a model folder inside the models folder ({root}) can be "
                        "loaded", field="model")
    try:
        found = (folder / MODEL_FILE).is_file()
    except OSError:  # a name the file system cannot hold (too long)
        found = False
    if not found:
        raise NotFound(f"no model in {folder.relative_to(root)} of the models folder", field="model")
    return str(folder)


@bp_v1.post("/model/reload")
@operation(Reloaded, tag="model", body=ReloadRequest, body_required=False, errors={
    403: "Needs an admin token, or names a folder outside the models folder",
    404: "No such model",
    422: "The model file is unsigned or does not match its signature (or the registry's sha256): it is not loaded",
    503: "The model could not be loaded; the previous one is still served"})
@requires("admin")
def model_reload():
    """Load the current champion (or {"model": ref}) and swap it in without downtime

    `model` is `default`, a `models:/` URI, or a model folder inside the models folder; nothing else on the disk is
    read.
    """
    from api.modelhost import UNKNOWN, find_champion, resolve_model_ref

    config = current_app.extensions["suggest_config"]
    ref = parse_body(ReloadRequest).model if request.get_data(cache=True) else None
    champion = UNKNOWN if ref or config.model_ref else find_champion()
    ref = _servable_model_ref(ref) if ref else resolve_model_ref(config.model_ref, champion)
    host = current_app.extensions["model_host"]
    old = host.served
    try:
        served = host.reload(ref, champion)
    except ModelNotFoundError as exc:
        raise NotFound(f"{exc}; still serving the previous model", field="model") from None
    except ModelIntegrityError as exc:
        raise ApiError(f"{exc}; still serving the previous model", field="model", status=422) from None
    except Exception as exc:
        raise Unavailable(f"could not load model {ref!r} ({type(exc).__name__}); still serving the previous one",
                          field="model") from None
    generation = write_model_state(current_app, ref)
    metrics.MODEL_INFO.labels(served.name, served.version).set(1)
    session = db()
    store.audit(session, principal(), "model_reload", None, None,
                {"ref": ref, "version": served.version, "previous": old.version if old else None})
    session.commit()
    return Reloaded(reloaded=True, generation=generation, model=served.describe(),
                    previous=old.describe() if old else None)
