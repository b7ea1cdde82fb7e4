"""HTTP routes of the coding department under ``/v1``: the worklist and next chart, status changes, bulk imports,
users' specialties, provider queries and analytics. Thin shells over ``api.worklist``, ``api.imports``,
``api.queries`` and ``api.analytics``."""

from __future__ import annotations

import csv
import datetime as dt
import io

from flask import Blueprint, Response, current_app

from api import analytics, chart_checks, imports, queries, store, worklist
from api.errors import Forbidden, NotFound
from api.openapi import operation
from api.responses import (
    AnalyticsCsv,
    AnalyticsTable,
    Chart,
    ImportJobOut,
    ImportJobs,
    ImportStarted,
    NextChart,
    ProviderQueryOut,
    QueryPage,
    QueryResult,
    QueryTemplates,
    StoredSuggestions,
    UserList,
    UserProfileOut,
    WorklistPage,
)
from api.schemas import (
    AnalyticsQuery,
    ImportRequest,
    ProfileUpdate,
    QueryAnswer,
    QueryClose,
    QueryCreate,
    QueryListQuery,
    StatusChange,
    WorklistQuery,
)
from api.web import (
    db,
    no_body,
    parse_body,
    parse_query,
    principal,
    requires,
    served_model,
)

bp_work = Blueprint("work", __name__, url_prefix="/v1")

_STATUS_409 = ("The chart is no longer at `version` (someone else changed or took it), the move is not one the "
               "workflow allows (`status`), or the chart cannot be coded or completed yet (no codes, open queries)")
_QUERY_404 = {404: "No such query (or, to a provider, not addressed to them)"}


def _chart(row) -> Chart:
    return Chart.model_validate(store.chart_to_dict(row))


# ----------------------------------------------------------------------------- worklist
@bp_work.get("/worklist")
@operation(WorklistPage, tag="worklist", query=WorklistQuery)
@requires()
def worklist_page():
    """The queue: charts by status, specialty, document type, assignee, priority and age

    Sorted as the next chart takes them (priority, then due date, then age) unless `sort` says otherwise. `counts` holds
    the number of charts in each status under the other filters."""
    query = parse_query(WorklistQuery)
    return WorklistPage.model_validate(worklist.worklist(db(), query, principal()))


@bp_work.post("/worklist/next")
@operation(NextChart, tag="worklist", errors={400: "A body was sent (this request takes none)",
                                              404: "No unassigned new chart waits in the caller's specialties"})
@requires()
def next_chart():
    """Take the next chart

    The unassigned new chart in the caller's specialties (any chart when their profile names none, and charts without
    a specialty) with the highest priority, then the earliest due date, then the oldest; it becomes the caller's, in
    progress. Concurrent callers each get a different chart."""
    no_body()
    session = db()
    who = principal()
    row = worklist.next_chart(session, who)
    specialties = worklist.profile_specialties(session, who.user)
    if row is None:
        session.rollback()
        where = f"in your specialties ({', '.join(specialties)})" if specialties else "in the queue"
        raise NotFound(f"no unassigned new chart waits {where}")
    session.commit()
    return NextChart(chart=_chart(store.get_chart(session, row.id)), specialties=specialties)


@bp_work.post("/charts/<int:chart_id>/status")
@operation(Chart, tag="worklist", body=StatusChange, errors={
    403: "A provider token; a chart taken by someone else (only they or an admin move it); `assignee` given by a "
         "coder; reopening a completed chart (admins only)",
    409: _STATUS_409})
@requires()
def change_status(chart_id: int):
    """Move a chart through the workflow (take, hold, code, complete, release, reopen)

    Optimistic: the move applies only to the given `version`, so two coders cannot take the same chart. Kept in the
    chart's history and the audit log."""
    body = parse_body(StatusChange)
    session = db()
    row = worklist.change_status(session, chart_id, body.status, body.version, principal(), body.assignee, body.note)
    session.commit()
    return _chart(store.get_chart(session, row.id))


# ----------------------------------------------------------------------------- bulk import
@bp_work.post("/imports")
@operation(ImportStarted, status=202, tag="worklist", body=ImportRequest, errors={
    400: "Malformed JSON, a missing or unknown field, or a bad record of the file: `field` is `content` and the "
         "message names the first bad records by line and field (nothing is imported), or `charts[i].codes` / "
         "`charts[i].specialty` for a code or specialty the service does not take",
    413: "Body over 25 MB"})
@requires()
def start_import():
    """Import charts into the queue from a JSONL, CSV or FHIR file

    The charts are saved as new charts of the worklist at once; their suggestions are computed in the background
    (GET /v1/imports/{job_id} shows the progress), so that the coder who opens one finds them ready."""
    body = parse_body(ImportRequest)
    charts = imports.read_import(body)
    served = served_model()
    from suggest.codeset import load_codeset

    codeset = load_codeset()
    non_billable = current_app.extensions["suggest_config"].non_billable

    def check(chart, i: int) -> None:
        chart_checks.checked_codes(chart.codes, codeset, non_billable, field=f"charts[{i}].codes")
        chart.specialty = chart_checks.checked_specialty(chart.specialty, served.model,
                                                         field=f"charts[{i}].specialty")

    session = db()
    job, ids = imports.start_import(session, body, charts, principal(), check)
    session.commit()
    current_app.extensions["precompute_worker"].wake()
    return ImportStarted(job=imports.job_dict(job), chart_ids=ids), 202


@bp_work.get("/imports")
@operation(ImportJobs, tag="worklist")
@requires()
def list_imports():
    """Imports and their progress (a coder's own; an admin's all)"""
    return ImportJobs(jobs=[imports.job_dict(j) for j in imports.list_jobs(db(), principal())])


@bp_work.get("/imports/<int:job_id>")
@operation(ImportJobOut, tag="worklist", errors={404: "No such import (or another coder's)"})
@requires()
def get_import(job_id: int):
    """One import's progress"""
    return ImportJobOut.model_validate(imports.job_dict(imports.get_job(db(), job_id, principal())))


@bp_work.get("/charts/<int:chart_id>/suggestions")
@operation(StoredSuggestions, tag="worklist",
           errors={404: "No such chart, or no suggestions computed for its current text (field `suggestions`)"})
@requires()
def chart_suggestions(chart_id: int):
    """The suggestions computed in the background for the chart's current text"""
    session = db()
    row = store.get_chart(session, chart_id)
    found = imports.stored_suggestions(session, row)
    if found is None:
        raise NotFound(f"no suggestions computed for chart {chart_id}'s current text", field="suggestions")
    store.audit(session, principal(), "view_suggestions", row.id)
    session.commit()
    served = served_model()
    result = found.result
    return StoredSuggestions(model={"name": served.name, "version": found.model_version or served.version},
                             codeset_release=result.get("codeset_release") or served.codeset_release,
                             setting=result["setting"], suggestions=result["suggestions"],
                             warnings=result["warnings"], computed_at=store.iso(found.computed_at))


# ----------------------------------------------------------------------------- users
@bp_work.get("/users")
@operation(UserList, tag="worklist")
@requires()
def users():
    """Users: their roles and specialties (to assign charts and address queries)"""
    return UserList(users=worklist.list_users(db()))


@bp_work.put("/users/<user>/profile")
@operation(UserProfileOut, tag="admin", body=ProfileUpdate, errors={404: "No user of that name (no active token)"})
@requires("admin")
def set_profile(user: str):
    """Set a user's specialties and display name"""
    body = parse_body(ProfileUpdate)
    session = db()
    out = worklist.set_profile(session, user, body.specialties, body.display_name, principal())
    session.commit()
    return UserProfileOut.model_validate(out)


# ----------------------------------------------------------------------------- provider queries
@bp_work.get("/query-templates")
@operation(QueryTemplates, tag="provider queries")
@requires()
def query_templates():
    """Templates of the common provider queries (non-leading, multiple choice)"""
    return QueryTemplates.model_validate(queries.query_templates())


@bp_work.post("/charts/<int:chart_id>/queries")
@operation(QueryResult, status=201, tag="provider queries", body=QueryCreate,
           errors={409: "The chart is completed (reopen it first), or changed meanwhile"})
@requires()
def open_query(chart_id: int):
    """Ask the provider to clarify the chart

    A chart in progress goes on hold until its last open query is answered or closed."""
    body = parse_body(QueryCreate)
    session = db()
    query, status = queries.open_query(session, chart_id, body, principal())
    session.commit()
    return QueryResult(query=queries.query_dict(query), chart_status=status), 201


@bp_work.get("/queries")
@operation(QueryPage, tag="provider queries", query=QueryListQuery,
           errors={403: "A provider asking for another provider's queries"})
@requires("any")
def list_queries():
    """Provider queries, newest first (a provider sees those addressed to them)"""
    query = parse_query(QueryListQuery)
    return QueryPage.model_validate(queries.list_queries(db(), query, principal()))


@bp_work.get("/queries/<int:query_id>")
@operation(ProviderQueryOut, tag="provider queries", errors=_QUERY_404)
@requires("any")
def get_query(query_id: int):
    """One provider query, with the text it concerns"""
    session = db()
    query = queries.visible_query(session, query_id, principal())
    store.audit(session, principal(), "query_view", query.chart_id, None, {"query": query.id})
    session.commit()
    return ProviderQueryOut.model_validate(queries.query_dict(query))


@bp_work.post("/queries/<int:query_id>/answer")
@operation(QueryResult, tag="provider queries", body=QueryAnswer, errors={
    **_QUERY_404, 409: "The query is no longer open, or not at `version`"})
@requires("provider")
def answer_query(query_id: int):
    """Answer a query addressed to you, optionally amending the chart with a signed addendum"""
    body = parse_body(QueryAnswer)
    session = db()
    query, status = queries.answer_query(session, query_id, body, principal())
    if body.amendment:
        from api.routes import record_findings

        record_findings(session, query.chart_id)
    session.commit()
    return QueryResult(query=queries.query_dict(query), chart_status=status)


@bp_work.post("/queries/<int:query_id>/close")
@operation(QueryResult, tag="provider queries", body=QueryClose, errors={
    **_QUERY_404, 409: "The query is already closed, or not at `version`"})
@requires()
def close_query(query_id: int):
    """Close an answered query, or withdraw an open one"""
    body = parse_body(QueryClose)
    session = db()
    query, status = queries.close_query(session, query_id, body, principal())
    session.commit()
    return QueryResult(query=queries.query_dict(query), chart_status=status)


# ----------------------------------------------------------------------------- analytics
FIGURE_TITLES = {
    "status": "Charts by status and age",
    "throughput": "Charts coded and completed per coder and day",
    "completeness": "Completeness findings by type (live charts)",
    "codes": "Top codes and code families (live charts)",
    "quality": "Suggestion quality against the coders' final codes (completed charts)",
    "calibration": "Confidence against acceptance (completed charts)",
    "misses": "Codes the model most often missed or wrongly selected (completed charts)",
}


_FIGURE_ERRORS = {403: "A coder asking for another coder's figures (`coder`), or a provider token",
                  404: "No such figure"}


def _csv_cell(value):
    """A cell as a spreadsheet reads it safely: text that would start a formula is quoted with '."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _figure(figure: str) -> AnalyticsTable:
    if figure not in analytics.FIGURES:
        raise NotFound(f"no figure {figure[:40]!r}; figures: {', '.join(analytics.FIGURES)}", field="figure")
    query = parse_query(AnalyticsQuery)
    who = principal()
    if query.coder and query.coder != who.user and not who.is_admin:
        raise Forbidden("only admins see other coders' figures", field="coder")
    end = query.to or dt.datetime.now(dt.timezone.utc).date()
    start = query.from_ or end - dt.timedelta(days=min(89, (end - dt.date.min).days))
    user = query.coder or (None if who.is_admin else who.user)
    window = analytics.Window(start=start, end=end, specialty=query.specialty, model_version=query.model_version,
                              user=user, limit=query.limit, by=query.by)
    columns, rows = analytics.figure(db(), figure, window)
    return AnalyticsTable(figure=figure, title=FIGURE_TITLES[figure], start=start.isoformat(), end=end.isoformat(),
                          columns=columns, rows=rows)


@bp_work.get("/analytics/<figure>")
@operation(AnalyticsTable, tag="analytics", query=AnalyticsQuery,
           errors=_FIGURE_ERRORS)
@requires()
def analytics_figure(figure: str):
    """One figure of the department, as a table

    `status` (charts by status and age), `throughput` (coded and completed per coder and day; a coder sees their
    own), `completeness` (findings by type), `codes` (top codes and families), `quality` (precision and recall of
    the selected suggestions against the final codes, acceptance rate; by family, specialty, day or model version),
    `calibration` (confidence deciles against the share accepted), `misses` (codes most often missed or wrongly
    selected). Computed in the database from indexed tables and summary counters."""
    return _figure(figure)


@bp_work.get("/analytics/<figure>/csv")
@operation(AnalyticsCsv, tag="analytics", query=AnalyticsQuery, media_type="text/csv",
           errors=_FIGURE_ERRORS)
@requires()
def analytics_csv(figure: str):
    """One figure of the department as CSV"""
    table = _figure(figure)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows([[_csv_cell(v) for v in row] for row in table.rows])
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={figure}-{table.start}-{table.end}.csv"})
