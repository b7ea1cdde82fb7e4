"""The coding department's worklists: a chart's status, assignee, priority and due date, the queue, a coder's
"next chart", and users' specialties. Functions take an open SQLAlchemy session; the caller commits.

Every move of a chart is one conditional UPDATE on its version (optimistic concurrency: of two coders taking one
chart, exactly one succeeds, the other gets a 409), recorded three times: in the chart's history (what changed), in
``chart_status_changes`` (the department's figures) and in the audit log (who did it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
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
from api.store import PRIORITIES, audit, get_chart

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
NEXT_CHART_TRIES = 8
"""How many free charts "next chart" tries to take before it reads the queue again (others take them meanwhile)."""


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
    changes: dict[str, list] = {"status": [before[0], to]}
    if before[1] != assignee:
        changes["assignee"] = [before[1], assignee]
    if note:
        changes["note"] = [None, note]
    session.add(ChartHistory(chart_id=row.id, version=version + 1, action="status", changed_at=now,
                             changed_by=who.user, changes=changes))
    session.add(ChartStatusChange(chart_id=row.id, from_status=before[0], to_status=to, assignee=assignee,
                                  changed_by=who.user, changed_at=now, note=note))
    audit(session, who, "status", row.id, None, {"from": before[0], "to": to, "assignee": assignee})
    session.flush()
    session.expire(row)
    analytics.refresh(session, row.id)
    return row


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
    queue holds none. Concurrent callers each get a different chart."""
    specialties = profile_specialties(session, who.user)
    for _round in range(3):
        candidates = _queue_head(session, specialties, NEXT_CHART_TRIES)
        if not candidates:
            return None
        for chart_id, version in candidates:
            row = session.get(ChartRow, chart_id)
            try:
                return move(session, row, "in_progress", who, version=version, assignee=who.user,
                            note="next chart", only_if=and_(ChartRow.status == "new", ChartRow.assignee.is_(None)))
            except Conflict:
                continue  # someone took it meanwhile (the rollback ended the transaction: nothing was written)
    return None


def _queue_head(session: Session, specialties: list[str], limit: int) -> list[tuple[int, int]]:
    """The first ``limit`` free charts in queue order, as (id, version). One index range scan per priority and due
    date presence (``ix_charts_queue``), so the cost does not grow with the queue's length."""
    found: list[tuple[int, int]] = []
    for rank in sorted(PRIORITIES.values(), reverse=True):
        for has_due in (True, False):
            stmt = (select(ChartRow.id, ChartRow.version)
                    .where(ChartRow.status == "new", ChartRow.assignee.is_(None), ChartRow.deleted_at.is_(None),
                           ChartRow.priority == rank,
                           ChartRow.due_date.is_not(None) if has_due else ChartRow.due_date.is_(None))
                    .order_by(ChartRow.due_date, ChartRow.created_at, ChartRow.id)
                    .limit(limit - len(found)))
            if specialties:
                stmt = stmt.where(or_(ChartRow.specialty.in_(specialties), ChartRow.specialty.is_(None)))
            found.extend((r.id, r.version) for r in session.execute(stmt))
            if len(found) >= limit:
                return found
    return found


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
    from api.store import chart_to_dict

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
