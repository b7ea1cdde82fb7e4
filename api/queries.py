"""Provider queries (clinical documentation integrity): a coder asks the provider to clarify the record ("specify the
type of heart failure"), the provider answers and may amend the chart with a signed addendum, the coder closes the
query. Functions take an open SQLAlchemy session; the caller commits.

A chart in progress goes on hold while a query of it is open, and back in progress when its last open query is
answered or closed. A provider sees the queries addressed to them and the text span each concerns, nothing else.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from api.auth import Principal
from api.db import ChartRow, ProviderQuery, utcnow
from api.errors import ApiError, Conflict, Forbidden, NotFound
from api.schemas import (
    MAX_ID,
    ChartPatch,
    QueryAnswer,
    QueryClose,
    QueryCreate,
    QueryListQuery,
)
from api.store import audit, get_chart, iso, update_chart
from api.worklist import move, open_query_count, user_roles

TEMPLATES_FILE = Path(__file__).resolve().parent / "data" / "query_templates.json"
MAX_EXCERPT = 2000
"""Longest span a query may concern, in characters: a query points at a finding, not at the whole note."""


@functools.cache
def query_templates() -> dict[str, Any]:
    """The query templates (``api/data/query_templates.json``): ``{"version", "about", "templates": [...]}``."""
    data = json.loads(TEMPLATES_FILE.read_text(encoding="utf-8"))
    ids = [t["id"] for t in data["templates"]]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{TEMPLATES_FILE}: duplicate template ids")
    return data


def _template(template_id: str) -> dict[str, Any]:
    for template in query_templates()["templates"]:
        if template["id"] == template_id:
            return template
    known = ", ".join(t["id"] for t in query_templates()["templates"])
    raise ApiError(f"unknown template; known: {known}", field="template")


def query_dict(q: ProviderQuery) -> dict[str, Any]:
    return {"id": q.id, "chart_id": q.chart_id, "template": q.template, "question": q.question,
            "options": list(q.options or []), "start": q.span_start, "end": q.span_end, "excerpt": q.excerpt,
            "provider": q.provider, "status": q.status, "answer": q.answer, "option": q.answer_option,
            "amendment": q.amendment, "version": q.version, "created_by": q.created_by,
            "created_at": iso(q.created_at), "answered_at": iso(q.answered_at), "closed_at": iso(q.closed_at),
            "closed_by": q.closed_by}


def open_query(session: Session, chart_id: int, body: QueryCreate, who: Principal) -> tuple[ProviderQuery, str]:
    """Ask the provider; returns the query and the chart's status after it (a chart in progress goes on hold)."""
    row = get_chart(session, chart_id)
    if row.status == "completed":
        raise Conflict(f"chart {row.id} is completed: reopen it before querying the provider", field="status")
    provider = body.provider.strip()
    if "provider" not in user_roles(session, [provider]).get(provider, []):
        raise ApiError(f"no provider named {provider!r} (a user with an active provider token)", field="provider")
    if (body.start is None) != (body.end is None):
        raise ApiError("give both start and end, or neither", field="end" if body.end is None else "start")
    excerpt = None
    if body.start is not None:
        if not body.start < body.end <= len(row.text):
            raise ApiError(f"the span must lie within the chart's {len(row.text)} characters, start before end",
                           field="end")
        if body.end - body.start > MAX_EXCERPT:
            raise ApiError(f"a query concerns at most {MAX_EXCERPT} characters of the text", field="end")
        excerpt = row.text[body.start:body.end]
    template = _template(body.template) if body.template else None
    if template is None and body.question is None:
        raise ApiError("give a question or a template", field="question")
    question = body.question or template["question"].replace("{finding}", excerpt.strip() if excerpt else
                                                              "the condition")
    options = body.options if body.options is not None else list(template["options"]) if template else []
    now = utcnow()
    query = ProviderQuery(chart_id=row.id, template=body.template, question=question, options=options,
                          span_start=body.start, span_end=body.end, excerpt=excerpt, provider=provider,
                          status="open", version=1, created_by=who.user, created_at=now)
    session.add(query)
    session.flush()
    audit(session, who, "query_open", row.id, None, {"query": query.id, "provider": provider,
                                                     "template": body.template})
    status = row.status
    if status == "in_progress":
        move(session, row, "on_hold", who, version=row.version, assignee=row.assignee, note=f"query {query.id}")
        status = "on_hold"
    return query, status


def visible_query(session: Session, query_id: int, who: Principal) -> ProviderQuery:
    """The query, if ``who`` may see it: coders and admins see all; a provider only theirs (others are a 404)."""
    query = session.get(ProviderQuery, query_id) if 1 <= query_id <= MAX_ID else None
    if query is None or (who.is_provider and query.provider != who.user):
        raise NotFound(f"no query {query_id}")
    get_chart(session, query.chart_id)  # a deleted chart's queries are gone with it
    return query


def list_queries(session: Session, query: QueryListQuery, who: Principal) -> dict[str, Any]:
    stmt = select(ProviderQuery)
    if who.is_provider:
        if query.provider and query.provider != who.user:
            raise Forbidden("a provider sees only the queries addressed to them", field="provider")
        stmt = stmt.where(ProviderQuery.provider == who.user)
    elif query.provider:
        stmt = stmt.where(ProviderQuery.provider == query.provider)
    if query.status:
        stmt = stmt.where(ProviderQuery.status == query.status)
    if query.chart_id:
        stmt = stmt.where(ProviderQuery.chart_id == query.chart_id)
    stmt = stmt.where(ProviderQuery.chart_id.in_(select(ChartRow.id).where(ChartRow.deleted_at.is_(None))))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(ProviderQuery.id.desc()).offset((query.page - 1) * query.per_page)
                           .limit(query.per_page))
    return {"items": [query_dict(q) for q in rows], "total": total, "page": query.page, "per_page": query.per_page}


def _bump(session: Session, query: ProviderQuery, expected: int, values: dict[str, Any], from_status: str) -> None:
    res = session.execute(update(ProviderQuery).where(ProviderQuery.id == query.id, ProviderQuery.version == expected,
                                                      ProviderQuery.status == from_status)
                          .values(version=expected + 1, **values).execution_options(synchronize_session=False))
    if res.rowcount != 1:
        session.rollback()
        raise Conflict(f"query {query.id} was changed meanwhile (version {expected} is stale); reload it",
                       field="version")
    session.expire(query)


def _resume_if_last(session: Session, chart_id: int, who: Principal, note: str) -> str:
    """Put a chart on hold back in progress when no query of it is open any more; its status after."""
    chart = get_chart(session, chart_id)
    if chart.status == "on_hold" and open_query_count(session, chart_id) == 0:
        move(session, chart, "in_progress", who, version=chart.version, assignee=chart.assignee, note=note)
        return "in_progress"
    return chart.status


def answer_query(session: Session, query_id: int, body: QueryAnswer, who: Principal) -> tuple[ProviderQuery, str]:
    """The addressed provider answers; an ``amendment`` is appended to the chart as a signed addendum (the chart's
    history keeps the text before). Returns the query and the chart's status after."""
    query = visible_query(session, query_id, who)
    if query.provider != who.user:
        raise Forbidden(f"query {query.id} is addressed to {query.provider}: only they answer it", field="answer")
    if query.status != "open":
        raise Conflict(f"query {query.id} is {query.status}, no longer open", field="status")
    if query.version != body.version:
        raise Conflict(f"query {query.id} is at version {query.version}, not {body.version}; reload it",
                       field="version")
    if body.option is not None and body.option not in (query.options or []):
        raise ApiError("not one of the query's options", field="option")
    now = utcnow()
    _bump(session, query, body.version, {"status": "answered", "answer": body.answer, "answer_option": body.option,
                                         "amendment": body.amendment, "answered_at": now}, "open")
    if body.amendment:
        chart = get_chart(session, query.chart_id)
        addendum = (f"\n\nADDENDUM (provider query {query.id}), {now.date().isoformat()}, "
                    f"electronically signed by {who.user}:\n{body.amendment.strip()}\n")
        update_chart(session, chart.id, ChartPatch(text=chart.text.rstrip("\n") + addendum), who)
    audit(session, who, "query_answer", query.chart_id, None, {"query": query.id, "amended": bool(body.amendment)})
    return query, _resume_if_last(session, query.chart_id, who, f"query {query.id} answered")


def close_query(session: Session, query_id: int, body: QueryClose, who: Principal) -> tuple[ProviderQuery, str]:
    """A coder closes an answered query (read) or withdraws an open one."""
    query = visible_query(session, query_id, who)
    if query.status == "closed":
        raise Conflict(f"query {query.id} is already closed", field="status")
    if query.version != body.version:
        raise Conflict(f"query {query.id} is at version {query.version}, not {body.version}; reload it",
                       field="version")
    was = query.status
    _bump(session, query, body.version, {"status": "closed", "closed_at": utcnow(), "closed_by": who.user}, was)
    audit(session, who, "query_close", query.chart_id, None, {"query": query.id, "was": was})
    return query, _resume_if_last(session, query.chart_id, who, f"query {query.id} closed")
