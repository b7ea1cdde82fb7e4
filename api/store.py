"""Chart store operations: transactional create / read / update / soft delete, history, search, feedback,
export and the audit log. Functions take an open SQLAlchemy session; the caller commits."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import analytics
from api.auth import Principal
from api.db import (
    AuditEntry,
    ChartCode,
    ChartHistory,
    ChartRow,
    Feedback,
    IdempotencyKey,
    utcnow,
)
from api.errors import ApiError, Conflict, NotFound
from api.schemas import (
    MAX_CODES,
    MAX_ID,
    ChartCreate,
    ChartPatch,
    ChartQuery,
    FeedbackRequest,
)

CODE_RE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")
META_FIELDS = ("patient_id", "encounter_id", "text", "provider", "signed_by", "document_date", "specialty",
               "document_type")
PRIORITIES = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
"""A chart's priority as the API names it and as the store ranks it (the queue takes the highest first)."""
PRIORITY_NAMES = {rank: name for name, rank in PRIORITIES.items()}


def normalize_code(raw: str) -> str | None:
    """Upper-case, dotted form of a code (``e1122`` -> ``E11.22``); None when it is not shaped like a code."""
    code = re.sub(r"\s+", "", str(raw)).upper().rstrip(".")
    if "." not in code and len(code) > 3:
        code = code[:3] + "." + code[3:]
    return code if CODE_RE.match(code) else None


def normalize_codes(codes: list[str], field: str = "codes") -> list[str]:
    """Normalise and de-duplicate codes, keeping their order; 400 naming the first malformed entry."""
    out: list[str] = []
    for i, raw in enumerate(codes):
        code = normalize_code(raw)
        if code is None:
            raise ApiError(f"not an ICD-10-CM code: {str(raw)[:12]!r}", field=f"{field}[{i}]")
        if code not in out:
            out.append(code)
    return out


def iso(value: Any) -> Any:
    """A date or time as ISO 8601 text (a time without zone read as UTC); other values as they are."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def chart_to_dict(row: ChartRow, with_text: bool = True) -> dict[str, Any]:
    out = {
        "id": row.id,
        "patient_id": row.patient_id,
        "encounter_id": row.encounter_id,
        "codes": row.code_list(),
        "provider": row.provider,
        "signed_by": row.signed_by,
        "document_date": iso(row.document_date),
        "specialty": row.specialty,
        "document_type": row.document_type,
        "version": row.version,
        "created_at": iso(row.created_at),
        "created_by": row.created_by,
        "updated_at": iso(row.updated_at),
        "updated_by": row.updated_by,
        "deleted": row.deleted_at is not None,
        "status": row.status,
        "assignee": row.assignee,
        "priority": PRIORITY_NAMES.get(row.priority, "normal"),
        "due_date": iso(row.due_date),
        "status_changed_at": iso(row.status_changed_at),
    }
    if with_text:
        out["text"] = row.text
    else:
        out["snippet"] = " ".join(row.text[:160].split())
    return out


def audit(session: Session, who: Principal, action: str, chart_id: int | None = None,
          codes: list[str] | None = None, detail: dict | None = None) -> None:
    """Record who did what to which chart (never the chart text)."""
    session.add(AuditEntry(at=utcnow(), user=who.user, token_id=who.token_id, action=action, chart_id=chart_id,
                           codes=codes, detail=detail))


def create_chart(session: Session, body: ChartCreate, who: Principal,
                 idempotency: tuple[str, str] | None = None) -> ChartRow:
    """A new chart at version 1, with its history and audit rows. ``idempotency`` is ``(key, request sha256)``: the
    key row is written in the same transaction, right after the chart, and raises ``IntegrityError`` when the user
    already has that key (``create_chart_once`` handles it)."""
    codes = normalize_codes(body.codes)
    now = utcnow()
    row = ChartRow(
        patient_id=body.patient_id, encounter_id=body.encounter_id, text=body.text, provider=body.provider,
        signed_by=body.signed_by, document_date=body.document_date, specialty=body.specialty,
        document_type=body.document_type, priority=PRIORITIES[body.priority], due_date=body.due_date, status="new",
        version=1, created_at=now, created_by=who.user, updated_at=now, updated_by=who.user,
    )
    row.codes = [ChartCode(code=c, position=i) for i, c in enumerate(codes)]
    session.add(row)
    session.flush()
    if idempotency is not None:
        key, digest = idempotency
        session.add(IdempotencyKey(user=who.user, key=key, request_sha256=digest, chart_id=row.id, created_at=now))
        session.flush()  # a taken key fails here, before the rest is written
    session.add(ChartHistory(chart_id=row.id, version=1, action="created", changed_at=now, changed_by=who.user,
                             changes={"codes": [None, codes]}))
    audit(session, who, "create", row.id, codes)
    analytics.refresh(session, row.id)
    return row


def create_chart_once(session: Session, body: ChartCreate, who: Principal, key: str,
                      digest: str, before_create: Callable[[], None] | None = None) -> tuple[ChartRow, bool]:
    """``(chart, replayed)``: the chart this user saved earlier with ``key`` (its current state; replayed True), or a
    new one recorded under the key (``before_create`` is called first, and may raise to save nothing). Two requests
    racing with one key: the unique (user, key) constraint lets one commit; the other rolls back its chart and
    replays the winner's. The caller commits."""
    replay = _idempotent_chart(session, who, key, digest)
    if replay is not None:
        return replay, True
    if before_create is not None:
        before_create()
    try:
        return create_chart(session, body, who, (key, digest)), False
    except IntegrityError:
        session.rollback()
        replay = _idempotent_chart(session, who, key, digest)
        if replay is None:  # not the key's constraint
            raise
        return replay, True


def _idempotent_chart(session: Session, who: Principal, key: str, digest: str) -> ChartRow | None:
    """The chart saved by this user with ``key`` (the replay is audited as a view), None when the key is new; 422 when
    the key came with another request body, 409 when its chart has since been deleted."""
    found = session.scalar(select(IdempotencyKey).where(IdempotencyKey.user == who.user, IdempotencyKey.key == key))
    if found is None:
        return None
    if found.request_sha256 != digest:
        raise ApiError("this Idempotency-Key was used with another request body; send a new key for a new chart",
                       field="Idempotency-Key", status=422)
    try:
        row = get_chart(session, found.chart_id)
    except NotFound:
        raise Conflict(f"the chart saved with this Idempotency-Key (id {found.chart_id}) has been deleted",
                       field="Idempotency-Key") from None
    audit(session, who, "view", row.id, row.code_list(), {"idempotent_replay": True})
    return row


def get_chart(session: Session, chart_id: int) -> ChartRow:
    """The chart, for every route that returns or changes its content: a soft-deleted chart is a 404 to every role
    (only the audit log keeps a trace of it). An id no id column can hold names no chart: 404 before any query."""
    if not 1 <= chart_id <= MAX_ID:
        raise NotFound(f"no chart {chart_id}")
    row = session.get(ChartRow, chart_id)
    if row is None or row.deleted_at is not None:
        raise NotFound(f"no chart {chart_id}")
    return row


def _bump_version(session: Session, row: ChartRow, expected: int, who: Principal, now: dt.datetime) -> int:
    """Optimistic lock: move the chart from ``expected`` to ``expected + 1`` or raise Conflict."""
    res = session.execute(
        update(ChartRow).where(ChartRow.id == row.id, ChartRow.version == expected)
        .values(version=expected + 1, updated_at=now, updated_by=who.user)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        session.rollback()
        raise Conflict(f"chart {row.id} was changed by someone else (version {expected} is stale); reload it",
                       field="version")
    return expected + 1


def _set_codes(row: ChartRow, codes: list[str]) -> None:
    existing = {c.code: c for c in row.codes}
    new: list[ChartCode] = []
    for i, code in enumerate(codes):
        item = existing.get(code) or ChartCode(code=code)
        item.position = i
        new.append(item)
    row.codes = new


def check_version(row: ChartRow, version: int | None) -> None:
    """A 409 naming ``version`` when one is given and the chart is no longer at it."""
    if version is not None and version != row.version:
        raise Conflict(f"chart {row.id} is at version {row.version}, not {version}; reload it", field="version")


def update_chart(session: Session, chart_id: int, body: ChartPatch, who: Principal) -> ChartRow:
    """Apply a partial update; every changed field is kept in the history as ``[old, new]`` (in the database
    only: the audit log records the names of the changed fields, never the text)."""
    row = get_chart(session, chart_id)
    expected = body.version if body.version is not None else row.version
    check_version(row, body.version)
    given = body.model_dump(exclude_unset=True, exclude={"version", "confirm_findings"})
    changes: dict[str, list] = {}
    new_codes = None
    if "codes" in given:
        if given["codes"] is None:
            raise ApiError("codes must be a list", field="codes")
        new_codes = normalize_codes(given.pop("codes"))
        if new_codes != row.code_list():
            changes["codes"] = [row.code_list(), new_codes]
    if "priority" in given:
        given["priority"] = PRIORITIES[given["priority"]]
    for name, value in given.items():
        if name in ("patient_id", "text") and value is None:
            raise ApiError(f"{name} cannot be null", field=name)
        old = getattr(row, name)
        if old != value:
            changes[name] = [PRIORITY_NAMES[old], PRIORITY_NAMES[value]] if name == "priority" else \
                [iso(old), iso(value)]
    if not changes:
        return row
    now = utcnow()
    version = _bump_version(session, row, expected, who, now)
    for name, value in given.items():
        setattr(row, name, value)
    if "codes" in changes:
        _set_codes(row, new_codes)
    session.add(ChartHistory(chart_id=row.id, version=version, action="updated", changed_at=now,
                             changed_by=who.user, changes=changes))
    audit(session, who, "update", row.id, new_codes, {"fields": sorted(changes)})
    session.flush()
    session.expire(row)
    analytics.refresh(session, row.id)
    return row


def delete_chart(session: Session, chart_id: int, who: Principal) -> ChartRow:
    row = get_chart(session, chart_id)
    now = utcnow()
    version = _bump_version(session, row, row.version, who, now)
    row.deleted_at = now
    row.deleted_by = who.user
    session.add(ChartHistory(chart_id=row.id, version=version, action="deleted", changed_at=now,
                             changed_by=who.user, changes={"deleted": [False, True]}))
    audit(session, who, "delete", row.id, row.code_list())
    analytics.refresh(session, row.id)
    return row


def history(session: Session, chart_id: int) -> list[dict[str, Any]]:
    """Every version of a chart; a deleted chart has none to show (the one access rule: ``get_chart``)."""
    get_chart(session, chart_id)
    rows = session.scalars(select(ChartHistory).where(ChartHistory.chart_id == chart_id).order_by(ChartHistory.id))
    return [{"version": h.version, "action": h.action, "changed_at": iso(h.changed_at), "changed_by": h.changed_by,
             "changes": h.changes} for h in rows]


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_charts(session: Session, query: ChartQuery) -> tuple[list[ChartRow], int]:
    """Charts matching every given filter, newest first, one page at a time."""
    stmt = select(ChartRow).where(ChartRow.deleted_at.is_(None))
    if query.code:
        code = normalize_code(query.code)
        if code is None:
            raise ApiError("not an ICD-10-CM code", field="code")
        sub = select(ChartCode.chart_id).where(
            (ChartCode.code == code) | ChartCode.code.like(_like_escape(code) + "%", escape="\\"))
        stmt = stmt.where(ChartRow.id.in_(sub))
    if query.patient_id:
        stmt = stmt.where(ChartRow.patient_id == query.patient_id)
    if query.from_:
        stmt = stmt.where(ChartRow.document_date >= query.from_)
    if query.to:
        stmt = stmt.where(ChartRow.document_date <= query.to)
    if query.q:
        for term in query.q.split():
            stmt = stmt.where(ChartRow.text.ilike("%" + _like_escape(term) + "%", escape="\\"))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(ChartRow.updated_at.desc(), ChartRow.id.desc())
                           .offset((query.page - 1) * query.per_page).limit(query.per_page))
    return list(rows), total


def add_feedback(session: Session, chart_id: int, body: FeedbackRequest, who: Principal) -> ChartRow:
    """Record feedback on suggestions and apply it to the chart's codes (accepted/added in, rejected out); a conflict
    (409) when that would give the chart more than ``MAX_CODES`` codes."""
    row = get_chart(session, chart_id)
    codes = row.code_list()
    given = []
    for i, item in enumerate(body.items):
        code = normalize_code(item.code)
        if code is None:
            raise ApiError("not an ICD-10-CM code", field=f"items[{i}].code")
        given.append((code, item))
        if item.action in ("accepted", "added") and code not in codes:
            codes.append(code)
        elif item.action == "rejected" and code in codes:
            codes.remove(code)
    if len(codes) > MAX_CODES:
        raise Conflict(f"this feedback would give the chart {len(codes)} codes; a chart holds at most {MAX_CODES}",
                       field="items")
    now = utcnow()
    for code, item in given:
        session.add(Feedback(chart_id=row.id, code=code, action=item.action, confidence=item.confidence,
                             model_version=body.model_version, user=who.user, created_at=now))
    if body.shown:
        shown = [item.model_copy(update={"code": normalize_code(item.code) or item.code.upper()}) for item in body.shown]
        analytics.record_shown(session, row.id, shown, body.model_version, who.user, now)
    audit(session, who, "feedback", row.id, codes, {"items": len(body.items), "shown": len(body.shown or [])})
    if codes != row.code_list():
        update_chart(session, chart_id, ChartPatch(codes=codes), who)
    else:
        analytics.refresh(session, row.id)
    return row


def export_charts(session: Session, only_with_feedback: bool = False) -> Iterator[dict[str, Any]]:
    """Coded, non-deleted charts as corpus lines ``{"id","text","codes","specialty","meta"}``."""
    stmt = select(ChartRow).where(ChartRow.deleted_at.is_(None)).order_by(ChartRow.id)
    if only_with_feedback:
        stmt = stmt.where(ChartRow.id.in_(select(Feedback.chart_id)))
    counts: dict[int, dict[str, int]] = {}
    for chart_id, action, n in session.execute(
            select(Feedback.chart_id, Feedback.action, func.count()).group_by(Feedback.chart_id, Feedback.action)):
        counts.setdefault(chart_id, {})[action] = n
    for row in session.scalars(stmt.execution_options(yield_per=200)):
        codes = row.code_list()
        if not codes:
            continue
        meta: dict[str, Any] = {"source": "chart-store", "chart_id": row.id, "version": row.version}
        if row.document_type:
            meta["document_type"] = row.document_type
        if row.id in counts:
            meta["feedback"] = counts[row.id]
        line: dict[str, Any] = {"id": f"chart-{row.id}", "text": row.text, "codes": codes, "meta": meta}
        if row.specialty:
            line["specialty"] = row.specialty
        yield line


def list_audit(session: Session, chart_id: int | None, user: str | None, page: int, per_page: int) -> list[dict]:
    stmt = select(AuditEntry)
    if chart_id:
        stmt = stmt.where(AuditEntry.chart_id == chart_id)
    if user:
        stmt = stmt.where(AuditEntry.user == user)
    rows = session.scalars(stmt.order_by(AuditEntry.id.desc()).offset((page - 1) * per_page).limit(per_page))
    return [{"id": a.id, "at": iso(a.at), "user": a.user, "action": a.action, "chart_id": a.chart_id,
             "codes": a.codes, "detail": a.detail} for a in rows]
