"""The coding department's worklists: a chart's status, assignee, priority and due date, the queue, a coder's
"next chart", and users' specialties. Functions take an open SQLAlchemy session; the caller commits.

Every move of a chart is one conditional UPDATE on its version (optimistic concurrency: of two coders taking one
chart, exactly one succeeds, the other gets a 409), recorded three times: in the chart's history (what changed), in
``chart_status_changes`` (the department's figures) and in the audit log (who did it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session

from api import analytics
from api.auth import Principal
from api.db import (
    ApiToken,
    ChartHistory,
    ChartRow,
    ChartStatusChange,
    ProviderQuery,
    UserProfile,
    utcnow,
)
from api.errors import ApiError, Conflict, Forbidden, NotFound
from api.schemas import WorklistQuery
from api.store import PRIORITIES, audit, chart_to_dict, get_chart

STATUSES = ("new", "in_progress", "on_hold", "coded", "completed")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("in_progress",),
    "in_progress": ("on_hold", "coded", "new"),
    "on_hold": ("in_progress",),
    "coded": ("in_progress", "completed"),
    "completed": ("in_progress",),
}
"""The moves the workflow allows, from each status (README "Worklists")."""
ADMIN_ONLY_MOVES = {("completed", "in_progress")}
"""Reopening a filed chart is an admin's decision."""


def _as_utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


# ----------------------------------------------------------------------------- moving a chart
def move(session: Session, row: ChartRow, to: str, who: Principal, *, version: int, assignee: str | None = None,
         note: str | None = None, only_if: Any = None) -> ChartRow:
    """Move ``row`` to status ``to`` with ``assignee`` (the caller's checks done), if it is still at ``version``;
    a 409 naming ``version`` otherwise. ``only_if`` adds a condition to the UPDATE (e.g. "still unassigned")."""
    now = utcnow()
    before = (row.status, row.assignee)
    stmt = (update(ChartRow).where(ChartRow.id == row.id, ChartRow.version == version, ChartRow.deleted_at.is_(None))
            .values(status=to, assignee=assignee, status_changed_at=now, version=version + 1)
            .execution_options(synchronize_session=False))
    if only_if is not None:
        stmt = stmt.where(only_if)
    if session.execute(stmt).rowcount != 1:
        session.rollback()
        raise Conflict(f"chart {row.id} was changed by someone else (version {version} is stale); reload it",
                       field="version")
    _record_move(session, row.id, before, to, assignee, version + 1, who, note, now)
    session.expire(row)
    return row


def _record_move(session: Session, chart_id: int, before: tuple[str, str | None], to: str, assignee: str | None,
                 version: int, who: Principal, note: str | None, now: dt.datetime) -> None:
    """Keep a move in the chart's history, ``chart_status_changes`` and the audit log; refresh the figures."""
    changes: dict[str, list] = {"status": [before[0], to]}
    if before[1] != assignee:
        changes["assignee"] = [before[1], assignee]
    if note:
        changes["note"] = [None, note]
    session.add(ChartHistory(chart_id=chart_id, version=version, action="status", changed_at=now,
                             changed_by=who.user, changes=changes))
    session.add(ChartStatusChange(chart_id=chart_id, from_status=before[0], to_status=to, assignee=assignee,
                                  changed_by=who.user, changed_at=now, note=note))
    audit(session, who, "status", chart_id, None, {"from": before[0], "to": to, "assignee": assignee})
    session.flush()
    analytics.record_move(session, who.user, to, now)
    analytics.refresh(session, chart_id)


def open_query_count(session: Session, chart_id: int) -> int:
    return session.scalar(select(func.count()).select_from(ProviderQuery).where(
        ProviderQuery.chart_id == chart_id, ProviderQuery.status == "open")) or 0


def change_status(session: Session, chart_id: int, to: str, version: int, who: Principal,
                  assignee: str | None = None, note: str | None = None) -> ChartRow:
    """A coder's or an admin's move of a chart (POST /v1/charts/{id}/status), with the workflow's rules."""
    row = get_chart(session, chart_id)
    if row.version != version:
        raise Conflict(f"chart {row.id} is at version {row.version}, not {version}; reload it", field="version")
    if assignee is not None and not who.is_admin:
        raise Forbidden("only an admin assigns a chart to someone else", field="assignee")
    if assignee is not None:
        assignee = assignee.strip()
        _check_assignable(session, assignee)
    current = row.status
    if to == current:
        if assignee is None or current in ("new", "completed"):
            raise Conflict(f"chart {row.id} is already {current}", field="status")
        return move(session, row, current, who, version=version, assignee=assignee, note=note)  # reassignment
    if to not in TRANSITIONS[current]:
        raise Conflict(f"a chart {current} moves to {' or '.join(TRANSITIONS[current])}, not to {to}", field="status")
    if (current, to) in ADMIN_ONLY_MOVES and not who.is_admin:
        raise Forbidden(f"only an admin reopens a {current} chart", field="status")
    if current == "new":  # taking it
        taker = assignee or who.user
        if row.assignee is not None and row.assignee != taker and not who.is_admin:
            raise Conflict(f"chart {row.id} is assigned to {row.assignee}", field="status")
        return move(session, row, to, who, version=version, assignee=taker, note=note)
    if row.assignee not in (None, who.user) and not who.is_admin:
        raise Forbidden(f"chart {row.id} is assigned to {row.assignee}: only they or an admin move it", field="status")
    if to in ("coded", "completed"):
        if not row.code_list():
            raise Conflict(f"chart {row.id} has no codes: it cannot be {to}", field="status")
        if open_query_count(session, row.id):
            raise Conflict(f"chart {row.id} has open provider queries: answer or close them first", field="status")
    new_assignee = None if to == "new" else (assignee or row.assignee or who.user)
    return move(session, row, to, who, version=version, assignee=new_assignee, note=note)


def _check_assignable(session: Session, user: str) -> None:
    roles = user_roles(session, [user]).get(user, [])
    if not set(roles) & {"coder", "admin"}:
        raise ApiError(f"no coder named {user!r} (a user with an active coder or admin token)", field="assignee")


def next_chart(session: Session, who: Principal) -> ChartRow | None:
    """Take the next chart for ``who``: the unassigned new chart in their specialties (any, when they have none)
    with the highest priority, then the earliest due date (a due date before none), then the oldest. None when the
    queue holds none. Concurrent callers each get a different chart, without losing races: the chart is chosen and
    taken by one UPDATE (on PostgreSQL its subquery skips the rows other takers hold locked; SQLite runs one writer
    at a time)."""
    specialties = profile_specialties(session, who.user)
    postgres = session.get_bind().dialect.name == "postgresql"
    for rank in sorted(PRIORITIES.values(), reverse=True):
        for has_due in (True, False):
            head = (select(ChartRow.id).where(*_free(rank, has_due, specialties))
                    .order_by(ChartRow.due_date, ChartRow.created_at, ChartRow.id).limit(1))
            if postgres:
                head = head.with_for_update(skip_locked=True)
            now = utcnow()
            taken = session.execute(
                update(ChartRow).where(ChartRow.id == head.scalar_subquery(), ChartRow.status == "new",
                                       ChartRow.assignee.is_(None))
                .values(status="in_progress", assignee=who.user, status_changed_at=now, version=ChartRow.version + 1)
                .returning(ChartRow.id, ChartRow.version).execution_options(synchronize_session=False)).first()
            if taken is not None:
                _record_move(session, taken.id, ("new", None), "in_progress", who.user, taken.version, who,
                             "next chart", now)
                return session.get(ChartRow, taken.id)
    return None


def _free(rank: int, has_due: bool, specialties: list[str]) -> list[Any]:
    """The conditions of one stretch of the queue (``ix_charts_queue``): free charts of one priority, with or
    without a due date, in the given specialties (or none)."""
    conds = [ChartRow.status == "new", ChartRow.assignee.is_(None), ChartRow.deleted_at.is_(None),
             ChartRow.priority == rank, ChartRow.due_date.is_not(None) if has_due else ChartRow.due_date.is_(None)]
    if specialties:
        conds.append(or_(ChartRow.specialty.in_(specialties), ChartRow.specialty.is_(None)))
    return conds


# ----------------------------------------------------------------------------- the queue
def _filtered(query: WorklistQuery, who: Principal, today: dt.datetime, with_status: bool = True):
    conds = [ChartRow.deleted_at.is_(None)]
    if with_status and query.status:
        conds.append(ChartRow.status == query.status)
    if query.specialty:
        conds.append(ChartRow.specialty == query.specialty)
    if query.document_type:
        conds.append(ChartRow.document_type == query.document_type)
    if query.assignee == "none":
        conds.append(ChartRow.assignee.is_(None))
    elif query.assignee:
        conds.append(ChartRow.assignee == (who.user if query.assignee == "me" else query.assignee))
    if query.priority:
        conds.append(ChartRow.priority == PRIORITIES[query.priority])
    if query.min_age_days is not None:
        conds.append(ChartRow.created_at <= today - dt.timedelta(days=query.min_age_days))
    if query.max_age_days is not None:
        conds.append(ChartRow.created_at > today - dt.timedelta(days=query.max_age_days + 1))
    if query.due_before:
        conds.append(ChartRow.due_date <= query.due_before)
    return conds


_ORDER = {
    "queue": (ChartRow.priority.desc(), case((ChartRow.due_date.is_(None), 1), else_=0), ChartRow.due_date,
              ChartRow.created_at, ChartRow.id),
    "oldest": (ChartRow.created_at, ChartRow.id),
    "newest": (ChartRow.created_at.desc(), ChartRow.id.desc()),
    "due": (case((ChartRow.due_date.is_(None), 1), else_=0), ChartRow.due_date, ChartRow.priority.desc(),
            ChartRow.id),
}


def worklist(session: Session, query: WorklistQuery, who: Principal) -> dict[str, Any]:
    """One page of the queue under the filters, with each chart's age and open queries, and the counts by status."""
    now = utcnow()
    conds = _filtered(query, who, now)
    total = session.scalar(select(func.count()).select_from(ChartRow).where(*conds)) or 0
    rows = list(session.scalars(select(ChartRow).where(*conds).order_by(*_ORDER[query.sort])
                                .offset((query.page - 1) * query.per_page).limit(query.per_page)))
    open_queries = dict(session.execute(
        select(ProviderQuery.chart_id, func.count()).where(ProviderQuery.chart_id.in_([r.id for r in rows]),
                                                           ProviderQuery.status == "open")
        .group_by(ProviderQuery.chart_id)).all()) if rows else {}
    counts = {status: 0 for status in STATUSES}
    counts.update(dict(session.execute(select(ChartRow.status, func.count())
                                       .where(*_filtered(query, who, now, with_status=False))
                                       .group_by(ChartRow.status)).all()))
    items = [{**chart_to_dict(r, with_text=False), "age_days": (now - _as_utc(r.created_at)).days,
              "open_queries": open_queries.get(r.id, 0)} for r in rows]
    return {"items": items, "total": total, "page": query.page, "per_page": query.per_page, "counts": counts}


# ----------------------------------------------------------------------------- users
def user_roles(session: Session, users: list[str] | None = None) -> dict[str, list[str]]:
    """The roles of each user's active tokens."""
    stmt = select(ApiToken.user, ApiToken.role).where(ApiToken.revoked_at.is_(None)).distinct()
    if users is not None:
        stmt = stmt.where(ApiToken.user.in_(users))
    out: dict[str, list[str]] = {}
    for user, role in session.execute(stmt.order_by(ApiToken.user, ApiToken.role)):
        out.setdefault(user, []).append(role)
    return out


def profile_specialties(session: Session, user: str) -> list[str]:
    profile = session.get(UserProfile, user)
    return list(profile.specialties) if profile else []


def profile_dict(session: Session, user: str, roles: list[str] | None = None) -> dict[str, Any]:
    profile = session.get(UserProfile, user)
    if roles is None:
        roles = user_roles(session, [user]).get(user, [])
    return {"user": user, "roles": roles, "display_name": profile.display_name if profile else None,
            "specialties": list(profile.specialties) if profile else []}


def list_users(session: Session) -> list[dict[str, Any]]:
    """Every user with an active token or a profile, with roles and specialties."""
    roles = user_roles(session)
    names = sorted(set(roles) | set(session.scalars(select(UserProfile.user))))
    return [profile_dict(session, name, roles.get(name, [])) for name in names]


def set_profile(session: Session, user: str, specialties: list[str], display_name: str | None,
                who: Principal) -> dict[str, Any]:
    """An admin sets a user's specialties (and display name); 404 for a user with no token."""
    if not user_roles(session, [user]):
        raise NotFound(f"no user {user!r} (a user has at least one active token)", field="user")
    specialties = list(dict.fromkeys(s.strip() for s in specialties))
    profile = session.get(UserProfile, user)
    if profile is None:
        profile = UserProfile(user=user, specialties=specialties)
        session.add(profile)
    profile.specialties = specialties
    profile.display_name = display_name
    profile.updated_at = utcnow()
    profile.updated_by = who.user
    audit(session, who, "profile", None, None, {"user": user, "specialties": specialties})
    session.flush()
    return profile_dict(session, user)
