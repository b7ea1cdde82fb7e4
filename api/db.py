"""The chart store schema (SQLAlchemy 2) and the database engine.

Tables: ``api_tokens`` (hashed bearer tokens), ``charts`` (one coded document), ``chart_codes`` (one row per
chart and code, for indexed code search), ``chart_history`` (every change, as a JSON diff), ``feedback``
(accepted / rejected / added suggestions), ``audit_log`` (who did what to which chart), ``idempotency_keys`` (the
``Idempotency-Key`` of each chart saved with one, per user) and ``service_state`` (small key/value rows shared by the
workers, e.g. the served model generation); for the worklists, ``chart_status_changes`` (every move of a chart
through the workflow, for its history and the department's figures), ``user_profiles`` (a user's specialties) and
``provider_queries`` (questions to the provider, their answers).

The schema is created and upgraded by the Alembic migrations in ``api/migrations`` (``migrate(engine)``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    mapped_column,
    relationship,
    sessionmaker,
)


def utcnow() -> dt.datetime:
    """Timezone-aware current time in UTC."""
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    prefix: Mapped[str] = mapped_column(String(12))
    user: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ChartRow(Base):
    __tablename__ = "charts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    encounter_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    text: Mapped[str] = mapped_column(Text)
    provider: Mapped[str | None] = mapped_column(String(200), nullable=True)
    signed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    document_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True, index=True)
    specialty: Mapped[str | None] = mapped_column(String(64), nullable=True)
    document_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    created_by: Mapped[str] = mapped_column(String(120))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(120))
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
    deleted_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="new", server_default="new")
    assignee: Mapped[str | None] = mapped_column(String(120), nullable=True)
    priority: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    due_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    status_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    findings: Mapped[list[list[str]] | None] = mapped_column(JSON, nullable=True)
    contribution: Mapped[dict[str, float] | None] = mapped_column(JSON, nullable=True)

    codes: Mapped[list["ChartCode"]] = relationship(
        back_populates="chart", cascade="all, delete-orphan", order_by="ChartCode.position", lazy="selectin"
    )

    def code_list(self) -> list[str]:
        return [c.code for c in self.codes]


# The queue's "next chart": unassigned new charts in (priority, due date, age) order, a partial index so that the
# scan for the first free chart in a coder's specialties reads the queue in order and stops early.
QUEUE_INDEX_WHERE = "status = 'new' AND assignee IS NULL AND deleted_at IS NULL"
Index("ix_charts_queue", ChartRow.priority.desc(), ChartRow.due_date, ChartRow.created_at, ChartRow.id,
      sqlite_where=text(QUEUE_INDEX_WHERE), postgresql_where=text(QUEUE_INDEX_WHERE))
Index("ix_charts_status_assignee", ChartRow.status, ChartRow.assignee)
# Charts by status and age (the analytics' first figure): covering, live charts only.
LIVE_WHERE = "deleted_at IS NULL"
Index("ix_charts_live_status_created", ChartRow.status, ChartRow.created_at,
      sqlite_where=text(LIVE_WHERE), postgresql_where=text(LIVE_WHERE))


class ChartCode(Base):
    __tablename__ = "chart_codes"
    chart_id: Mapped[int] = mapped_column(ForeignKey("charts.id", ondelete="CASCADE"), primary_key=True)
    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    chart: Mapped[ChartRow] = relationship(back_populates="codes")
    __table_args__ = (Index("ix_chart_codes_code", "code"),)


class ChartHistory(Base):
    __tablename__ = "chart_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chart_id: Mapped[int] = mapped_column(ForeignKey("charts.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_by: Mapped[str] = mapped_column(String(120))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Feedback(Base):
    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chart_id: Mapped[int] = mapped_column(ForeignKey("charts.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(10), index=True)
    action: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    user: Mapped[str] = mapped_column(String(120), index=True)
    token_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    chart_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    codes: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class IdempotencyKey(Base):
    """The ``Idempotency-Key`` a user sent with ``POST /v1/charts``, the sha256 of the request's canonical JSON and
    the chart it created: written in the chart's own transaction, unique per user and key, so that a retried save
    returns that chart instead of a second one. Kept as long as the chart (no expiry)."""

    __tablename__ = "idempotency_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user: Mapped[str] = mapped_column(String(120))
    key: Mapped[str] = mapped_column(String(200))
    request_sha256: Mapped[str] = mapped_column(String(64))
    chart_id: Mapped[int] = mapped_column(ForeignKey("charts.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (UniqueConstraint("user", "key", name="uq_idempotency_keys_user_key"),)


class ServiceState(Base):
    __tablename__ = "service_state"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ChartStatusChange(Base):
    """One move of a chart through the workflow (taken, put on hold, coded, completed, released, reopened)."""

    __tablename__ = "chart_status_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chart_id: Mapped[int] = mapped_column(ForeignKey("charts.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    assignee: Mapped[str | None] = mapped_column(String(120), nullable=True)
    changed_by: Mapped[str] = mapped_column(String(120))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    __table_args__ = (Index("ix_chart_status_changes_to_at", "to_status", "changed_at", "changed_by"),
                      Index("ix_chart_status_changes_by_at", "changed_by", "changed_at"))


class ShownSuggestion(Base):
    """A suggestion as the coder was shown it when they gave feedback: code, confidence, selected flag, rank and the
    model's version. Live precision, recall and calibration are computed from these and the chart's final codes."""

    __tablename__ = "shown_suggestions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chart_id: Mapped[int] = mapped_column(ForeignKey("charts.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(10))
    confidence: Mapped[float] = mapped_column(Float)
    selected: Mapped[bool] = mapped_column(Boolean)
    rank: Mapped[int] = mapped_column(Integer)
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    shown_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    user: Mapped[str] = mapped_column(String(120))


class AnalyticsCount(Base):
    """A summary counter of the department's figures, kept up to date as charts change (``api.analytics``): what
    the analytics read instead of scanning every chart."""

    __tablename__ = "analytics_counts"
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    k1: Mapped[str] = mapped_column(String(64), primary_key=True)
    k2: Mapped[str] = mapped_column(String(64), primary_key=True)
    k3: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[float] = mapped_column(Float, default=0.0)


class ImportJob(Base):
    """A bulk import into the queue and the progress of its background suggestions."""

    __tablename__ = "import_jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_by: Mapped[str] = mapped_column(String(120), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    filename: Mapped[str] = mapped_column(String(200), default="")
    format: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    total: Mapped[int] = mapped_column(Integer)
    precomputed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PrecomputeItem(Base):
    """A chart whose suggestions wait to be computed in the background, and which process claimed it when."""

    __tablename__ = "precompute_queue"
    chart_id: Mapped[int] = mapped_column(ForeignKey("charts.id", ondelete="CASCADE"), primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"), index=True)
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ChartSuggestions(Base):
    """The engine's suggestions computed in the background for a chart's text (its sha256: a changed text makes
    them stale), as POST /v1/suggest gives them."""

    __tablename__ = "chart_suggestions"
    chart_id: Mapped[int] = mapped_column(ForeignKey("charts.id", ondelete="CASCADE"), primary_key=True)
    text_sha256: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)


class UserProfile(Base):
    """What an admin set for a user: the specialties whose charts the user's "next chart" takes (none: any)."""

    __tablename__ = "user_profiles"
    user: Mapped[str] = mapped_column(String(120), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    specialties: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(120))


class ProviderQuery(Base):
    """A coder's question to the provider about a chart (clinical documentation integrity), and its answer."""

    __tablename__ = "provider_queries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chart_id: Mapped[int] = mapped_column(ForeignKey("charts.id", ondelete="CASCADE"), index=True)
    template: Mapped[str | None] = mapped_column(String(64), nullable=True)
    question: Mapped[str] = mapped_column(Text)
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    span_start: Mapped[int | None] = mapped_column(Integer, nullable=True)
    span_end: Mapped[int | None] = mapped_column(Integer, nullable=True)
    excerpt: Mapped[str | None] = mapped_column(Text, nullable=True)
    provider: Mapped[str] = mapped_column(String(120), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    answer_option: Mapped[str | None] = mapped_column(String(200), nullable=True)
    amendment: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(120), nullable=True)


def make_engine(database_url: str) -> Engine:
    """Create the engine. SQLite gets WAL, foreign keys and a busy timeout; its folder is created."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        # WAL + synchronous=NORMAL: a commit is in the WAL file (in the OS's page cache) before the API answers, so
        # an acknowledged write survives the service being killed (kill -9, OOM, a crash: bench.durability). An OS
        # crash or power cut may roll back the last commits (never corrupt the file); FULL would fsync every commit.
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if url.drivername == "postgresql":  # plain URL: use psycopg 3, which is what we ship
        url = url.set(drivername="postgresql+psycopg")
    return create_engine(url, pool_pre_ping=True)


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False)


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest Alembic revision (``alembic upgrade head``), programmatically."""
    from alembic import command
    from alembic.config import Config

    here = Path(__file__).resolve().parent
    cfg = Config()
    cfg.set_main_option("script_location", str(here / "migrations"))
    cfg.attributes["connection"] = None
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
