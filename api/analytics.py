"""The department's figures: charts by status and age, throughput, completeness findings, top codes, suggestion
quality from coder feedback, calibration, and the codes the model misses or wrongly selects.

Figures that would scan every chart are read from summary counters (``analytics_counts``) kept up to date as charts
change: each chart stores its own ``contribution`` (counter key -> amount), and every change of a chart applies the
difference between its new and its stored contribution (``refresh``). ``rebuild`` recomputes every counter from the
charts. The figures that read live tables (status by age, throughput) use covering indexes.

Suggestion quality judges what the coder was shown (``shown_suggestions``, recorded with their feedback) against the
chart's final codes, once the chart is completed, on the day it was completed:

- precision of the selected suggestions: selected and final / selected;
- recall: final codes the model selected / final codes;
- acceptance rate: suggestions the coder accepted / accepted or rejected (their explicit feedback);
- calibration: by confidence decile, the share of shown suggestions that are final codes.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session

from api.db import (
    AnalyticsCount,
    ChartRow,
    ChartStatusChange,
    Feedback,
    ShownSuggestion,
)

FIGURES = ("status", "throughput", "completeness", "codes", "quality", "calibration", "misses")
AGE_BUCKETS = ((0, 1, "0-1 days"), (2, 3, "2-3 days"), (4, 7, "4-7 days"), (8, 14, "8-14 days"),
               (15, 30, "15-30 days"), (31, None, "over 30 days"))
CALIBRATION_BINS = 10
SEP = "|"
THROUGHPUT_MOVES = ("coded", "completed")
"""The moves the throughput figure counts."""
STATUS_SHARDS = 16
"""The status counters are spread over this many rows per day and status (by chart id), so that coders taking
the queue's head charts at once, which were often created the same day, do not wait on one counter's row lock."""


def family(code: str) -> str:
    """A code's family: its three-character category (``E11.9`` -> ``E11``)."""
    return code[:3]


# ----------------------------------------------------------------------------- a chart's contribution
@dataclass
class ChartFacts:
    """What a chart contributes to the counters, read from the store (``facts``) or built in bulk (``bench``)."""

    status: str
    deleted: bool
    codes: list[str]
    created_day: str = ""
    shard: int = 0  # the chart's id modulo STATUS_SHARDS
    specialty: str | None = None
    document_type: str | None = None
    completed_day: str | None = None
    findings: list[tuple[str, str]] = field(default_factory=list)
    shown: list[tuple[str, float, bool]] = field(default_factory=list)  # (code, confidence, selected)
    model_version: str | None = None
    feedback: dict[str, str] = field(default_factory=dict)  # code -> the coder's last action


def contribution(facts: ChartFacts) -> Counter[str]:
    """The counter amounts one chart adds (keys ``metric|day|k1|k2|k3``)."""
    out: Counter[str] = Counter()
    if facts.deleted:
        return out

    def add(metric: str, day: str = "", k1: str = "", k2: str = "", k3: str = "", amount: float = 1.0) -> None:
        out[SEP.join((metric, day, k1[:64], k2[:64], k3[:64]))] += amount

    doc_type = facts.document_type or ""
    add("charts", k1=doc_type)
    add("status", facts.created_day, facts.status, str(facts.shard))
    for code in facts.codes:
        add("code", k1=code)
    for fam in {family(c) for c in facts.codes}:
        add("family", k1=fam)
    for rule, severity in sorted(set(facts.findings)):
        add("finding", k1=rule, k2=severity)
    if any(severity == "error" for _rule, severity in facts.findings):
        add("incomplete", k1=doc_type)
    if facts.status != "completed" or not facts.completed_day or not facts.shown:
        return out
    day, spec, version = facts.completed_day, facts.specialty or "", facts.model_version or ""
    final = set(facts.codes)
    selected = {code for code, _conf, sel in facts.shown if sel}

    def quality(measure: str, fam: str) -> None:
        # by the full key (for filters), and summed by each grouping the figure offers (read without a filter)
        add("q_" + measure, day, fam, spec, version)
        add("qf_" + measure, day, fam)
        add("qs_" + measure, day, spec)
        add("qv_" + measure, day, version)
        add("qo_" + measure, day)

    for code, confidence, sel in facts.shown:
        fam = family(code)
        quality("shown", fam)
        add("cal_shown", day, str(min(int(confidence * CALIBRATION_BINS), CALIBRATION_BINS - 1)), version)
        add("cal_conf", day, str(min(int(confidence * CALIBRATION_BINS), CALIBRATION_BINS - 1)), version,
            amount=confidence)
        if code in final:
            add("cal_final", day, str(min(int(confidence * CALIBRATION_BINS), CALIBRATION_BINS - 1)), version)
        if sel:
            quality("selected", fam)
            if code in final:
                quality("sel_final", fam)
                add("right", day, code, version)
            else:
                add("wrong", day, code, version)
    for code in final:
        quality("final", family(code))
        if code not in selected:
            add("miss", day, code, version)
    for code, action in facts.feedback.items():
        if action in ("accepted", "rejected"):
            quality(action, family(code))
    return out


def move_key(user: str, to: str, when: dt.datetime) -> str | None:
    """The throughput counter a move adds to (moves to coded and completed, by coder and day), None for others.
    Moves are events: they are counted once, never taken back."""
    if to not in THROUGHPUT_MOVES:
        return None
    return _thru_key(_day(when), user, to)


def _thru_key(day: str, user: str, to: str) -> str:
    return SEP.join(("thru", day, user[:64], to, ""))


def record_move(session: Session, user: str, to: str, when: dt.datetime) -> None:
    """Count a move of a chart in the throughput counters."""
    key = move_key(user, to, when)
    if key is not None:
        bump(session, {key: 1.0})


def facts(session: Session, row: ChartRow) -> ChartFacts:
    """A stored chart's facts: its fields, findings, last shown suggestions and the coder's last feedback per code."""
    shown_at = session.scalar(select(func.max(ShownSuggestion.shown_at)).where(ShownSuggestion.chart_id == row.id))
    shown = []
    version = None
    if shown_at is not None:
        for s in session.scalars(select(ShownSuggestion).where(ShownSuggestion.chart_id == row.id,
                                                               ShownSuggestion.shown_at == shown_at)
                                 .order_by(ShownSuggestion.rank)):
            shown.append((s.code, s.confidence, s.selected))
            version = s.model_version
    feedback = {code: action for code, action in session.execute(
        select(Feedback.code, Feedback.action).where(Feedback.chart_id == row.id).order_by(Feedback.id))}
    completed = row.status_changed_at
    return ChartFacts(
        status=row.status, deleted=row.deleted_at is not None, codes=row.code_list(), created_day=_day(row.created_at),
        shard=row.id % STATUS_SHARDS,
        specialty=row.specialty,
        document_type=row.document_type,
        completed_day=_day(completed) if row.status == "completed" and completed is not None else None,
        findings=[(rule, severity) for rule, severity in (row.findings or [])], shown=shown, model_version=version,
        feedback=feedback)


def _day(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).date().isoformat()


def refresh(session: Session, chart_id: int) -> None:
    """Bring the counters up to date with one chart: apply the difference between its new and stored contribution."""
    session.flush()
    row = session.get(ChartRow, chart_id)
    if row is None:
        return
    session.refresh(row)
    new = contribution(facts(session, row))
    old = Counter(row.contribution or {})
    diff = Counter(new)
    diff.subtract(old)
    bump(session, {key: amount for key, amount in diff.items() if amount})
    row.contribution = dict(new)
    session.flush()


def record_findings(session: Session, chart_id: int, findings: Iterable[Any]) -> None:
    """Keep a chart's completeness findings (rule and severity) for the figures, and refresh its contribution."""
    row = session.get(ChartRow, chart_id)
    row.findings = sorted({(f.rule, f.severity) for f in findings})
    refresh(session, chart_id)


def bump(session: Session, amounts: dict[str, float]) -> None:
    """Add ``amounts`` to the counters (one upsert per key; a counter that falls to zero is removed)."""
    if not amounts:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    rows = []
    for key, amount in sorted(amounts.items()):
        metric, day, k1, k2, k3 = key.split(SEP)
        rows.append({"metric": metric, "day": day, "k1": k1, "k2": k2, "k3": k3, "value": amount})
    stmt = insert(AnalyticsCount)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["metric", "day", "k1", "k2", "k3"],
        set_={"value": AnalyticsCount.value + stmt.excluded.value}), rows)
    # only the touched counters that fell to zero, each by its primary key (the table is never scanned)
    table = AnalyticsCount.__table__
    session.connection().execute(table.delete().where(
        table.c.metric == bindparam("m"), table.c.day == bindparam("d"), table.c.k1 == bindparam("a"),
        table.c.k2 == bindparam("b"), table.c.k3 == bindparam("c"), table.c.value.between(-1e-9, 1e-9)),
        [{"m": r["metric"], "d": r["day"], "a": r["k1"], "b": r["k2"], "c": r["k3"]} for r in rows])


def rebuild(session: Session, batch: int = 500) -> int:
    """Recompute every counter from the charts (after a restore, or for a store made before the counters); returns
    the number of live charts counted."""
    session.execute(delete(AnalyticsCount))
    total: Counter[str] = Counter()
    counted = 0
    last = 0
    while True:
        rows = list(session.scalars(select(ChartRow).where(ChartRow.id > last).order_by(ChartRow.id).limit(batch)))
        if not rows:
            break
        for row in rows:
            mine = contribution(facts(session, row))
            row.contribution = dict(mine)
            total.update(mine)
            counted += row.deleted_at is None
        last = rows[-1].id
        session.flush()
    day = _day_sql(session, ChartStatusChange.changed_at)
    for d, user, to, n in session.execute(
            select(day, ChartStatusChange.changed_by, ChartStatusChange.to_status, func.count())
            .where(ChartStatusChange.to_status.in_(THROUGHPUT_MOVES))
            .group_by(day, ChartStatusChange.changed_by, ChartStatusChange.to_status)):
        total[_thru_key(str(d), user, to)] += n
    bump(session, {key: amount for key, amount in total.items() if amount})
    return counted


def _day_sql(session: Session, column):
    """A UTC timestamp column as its YYYY-MM-DD day, in the database's SQL."""
    if session.get_bind().dialect.name == "sqlite":
        return func.date(column)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")


def record_shown(session: Session, chart_id: int, shown: Sequence[Any], model_version: str | None, user: str,
                 at: dt.datetime) -> None:
    """Record the suggestions shown to the coder with their feedback (rank in the given order)."""
    for rank, s in enumerate(shown, start=1):
        session.add(ShownSuggestion(chart_id=chart_id, code=s.code, confidence=s.confidence, selected=s.selected,
                                    rank=rank, model_version=model_version, shown_at=at, user=user))


# ----------------------------------------------------------------------------- figures
@dataclass(frozen=True)
class Window:
    """The days a figure covers (inclusive), and its filters."""

    start: dt.date
    end: dt.date
    specialty: str | None = None
    model_version: str | None = None
    user: str | None = None  # throughput of one coder (a coder sees only their own)
    limit: int = 25
    by: str = "family"


Table = tuple[list[str], list[list[Any]]]


def figure(session: Session, name: str, window: Window) -> Table:
    """One figure as a table: column names and rows."""
    return _FIGURES[name](session, window)


def _counts(session: Session, metrics: Sequence[str], window: Window | None, group: Sequence[str]):
    """Sum of counter values by metric and the ``group`` columns (``day``, ``k1``, ``k2``, ``k3``)."""
    cols = [getattr(AnalyticsCount, g) for g in group]
    stmt = select(AnalyticsCount.metric, *cols, func.sum(AnalyticsCount.value)).where(
        AnalyticsCount.metric.in_(metrics))
    if window is not None:
        stmt = stmt.where(AnalyticsCount.day.between(window.start.isoformat(), window.end.isoformat()))
    else:
        stmt = stmt.where(AnalyticsCount.day == "")
    return session.execute(stmt.group_by(AnalyticsCount.metric, *cols)).all()


def status_by_age(session: Session, window: Window) -> Table:
    """Live charts by status and age (whole days since they entered the store), from the counters by creation day."""
    from api.worklist import STATUSES

    today = dt.datetime.now(dt.timezone.utc).date()
    labels = [label for _lo, _hi, label in AGE_BUCKETS]
    found: Counter[tuple[str, str]] = Counter()
    for day, status, n in session.execute(
            select(AnalyticsCount.day, AnalyticsCount.k1, func.sum(AnalyticsCount.value))
            .where(AnalyticsCount.metric == "status").group_by(AnalyticsCount.day, AnalyticsCount.k1)):
        age = (today - dt.date.fromisoformat(day)).days
        label = next(label for lo, hi, label in AGE_BUCKETS if hi is None or age <= hi)
        found[(status, label)] += int(n)
    return ["status", *labels, "total"], [
        [status, *(found[(status, label)] for label in labels), sum(found[(status, label)] for label in labels)]
        for status in STATUSES]


def throughput(session: Session, window: Window) -> Table:
    """Charts moved to coded and to completed, per coder and day (the counters of the moves)."""
    table: dict[tuple[str, str], dict[str, int]] = {}
    for metric, day, user, status, n in _counts(session, ("thru",), window, ("day", "k1", "k2")):
        if window.user and user != window.user:
            continue
        table.setdefault((day, user), {"coded": 0, "completed": 0})[status] += int(n)
    return ["day", "coder", "coded", "completed"], [[d, user, c["coded"], c["completed"]]
                                                   for (d, user), c in sorted(table.items())]


def completeness(session: Session, window: Window) -> Table:
    rows = _counts(session, ("finding", "charts", "incomplete"), None, ("k1", "k2"))
    charts = sum(v for metric, _k1, _k2, v in rows if metric == "charts")
    incomplete = sum(v for metric, _k1, _k2, v in rows if metric == "incomplete")
    findings = sorted(((k1, k2, int(v)) for metric, k1, k2, v in rows if metric == "finding"),
                      key=lambda r: (-r[2], r[0], r[1]))
    return ["rule", "severity", "charts", "share"], [
        ["(any error)", "error", int(incomplete), _ratio(incomplete, charts)],
        *([rule, severity, n, _ratio(n, charts)] for rule, severity, n in findings)]


def top_codes(session: Session, window: Window) -> Table:
    def top(metric: str) -> list[tuple[str, int]]:
        rows = session.execute(select(AnalyticsCount.k1, AnalyticsCount.value)
                               .where(AnalyticsCount.metric == metric, AnalyticsCount.day == "")
                               .order_by(AnalyticsCount.value.desc(), AnalyticsCount.k1).limit(window.limit)).all()
        return [(k, int(v)) for k, v in rows]

    from suggest.codeset import load_codeset

    codeset = load_codeset()
    return ["kind", "code", "description", "charts"], [
        *(["code", code, codeset.description(code) or "", n] for code, n in top("code")),
        *(["family", fam, codeset.description(fam) or "", n] for fam, n in top("family"))]


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


QUALITY_MEASURES = ("shown", "selected", "sel_final", "final", "accepted", "rejected")
#: The counters each grouping of the quality figure reads without a filter: (prefix, key column).
QUALITY_GROUPS = {"family": ("qf_", "k1"), "specialty": ("qs_", "k1"), "model_version": ("qv_", "k1"),
                  "day": ("qo_", "day"), "overall": ("qo_", None)}
_FULL_KEY = {"family": "k1", "specialty": "k2", "model_version": "k3", "day": "day", "overall": None}


def quality(session: Session, window: Window) -> Table:
    filtered = window.specialty is not None or window.model_version is not None
    prefix, column = ("q_", _FULL_KEY[window.by]) if filtered else QUALITY_GROUPS[window.by]
    group = tuple(dict.fromkeys(([column] if column else []) + (["k2", "k3"] if filtered else [])))
    totals: dict[str, Counter[str]] = {}
    for row in _counts(session, tuple(prefix + m for m in QUALITY_MEASURES), window, group):
        metric, *keys, value = row
        key_of = dict(zip(group, keys))
        if window.specialty is not None and key_of["k2"] != window.specialty:
            continue
        if window.model_version is not None and key_of["k3"] != window.model_version:
            continue
        label = key_of[column] if column else "all"
        totals.setdefault(label or "(none)", Counter())[metric.removeprefix(prefix)] += value
    rows = []
    for label, c in sorted(totals.items()):
        rows.append([label, int(c["shown"]), int(c["selected"]), int(c["final"]),
                     _ratio(c["sel_final"], c["selected"]), _ratio(c["sel_final"], c["final"]),
                     _ratio(c["accepted"], c["accepted"] + c["rejected"])])
    if window.by == "family":
        rows.sort(key=lambda r: (-r[3], r[0]))
        rows = rows[:window.limit]
    return [window.by, "shown", "selected", "final", "precision", "recall", "acceptance"], rows


def calibration(session: Session, window: Window) -> Table:
    bins: dict[str, Counter[str]] = {}
    for metric, k1, k2, value in _counts(session, ("cal_shown", "cal_final", "cal_conf"), window, ("k1", "k2")):
        if window.model_version is not None and k2 != window.model_version:
            continue
        bins.setdefault(k1, Counter())[metric] += value
    rows = []
    for k in range(CALIBRATION_BINS):
        c = bins.get(str(k), Counter())
        rows.append([f"{k / CALIBRATION_BINS:.1f}-{(k + 1) / CALIBRATION_BINS:.1f}", int(c["cal_shown"]),
                     _ratio(c["cal_conf"], c["cal_shown"]), _ratio(c["cal_final"], c["cal_shown"])])
    return ["confidence", "shown", "mean_confidence", "accepted_share"], rows


def misses(session: Session, window: Window) -> Table:
    per: dict[str, Counter[str]] = {}
    for metric, k1, k2, value in _counts(session, ("miss", "wrong", "right"), window, ("k1", "k2")):
        if window.model_version is not None and k2 != window.model_version:
            continue
        per.setdefault(k1, Counter())[metric] += value
    from suggest.codeset import load_codeset

    codeset = load_codeset()
    missed = sorted(((c["miss"], code) for code, c in per.items() if c["miss"]), key=lambda x: (-x[0], x[1]))
    wrong = sorted(((c["wrong"], code) for code, c in per.items() if c["wrong"]), key=lambda x: (-x[0], x[1]))
    return ["kind", "code", "description", "charts", "correct"], [
        *(["missed", code, codeset.description(code) or "", int(n), int(per[code]["right"])]
          for n, code in missed[:window.limit]),
        *(["wrongly selected", code, codeset.description(code) or "", int(n), int(per[code]["right"])]
          for n, code in wrong[:window.limit])]


_FIGURES = {"status": status_by_age, "throughput": throughput, "completeness": completeness, "codes": top_codes,
            "quality": quality, "calibration": calibration, "misses": misses}
