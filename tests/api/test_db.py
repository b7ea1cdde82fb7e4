"""The chart store schema: Alembic migrations match the models; SQLite runs with WAL and foreign keys."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

import api
from api.config import ApiConfig
from api.db import Base, make_engine, migrate


def test_migrations_create_the_schema_of_the_models_and_are_idempotent(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'charts.db'}")
    migrate(engine)
    migrate(engine)  # a second start is a no-op
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0006"
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL: durable across a killed process
    assert {"charts", "chart_codes", "chart_history", "feedback", "audit_log", "api_tokens"} <= set(
        inspect(engine).get_table_names())


def test_default_database_is_var_charts_db_under_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    url = ApiConfig.from_env().database_url
    assert url == f"sqlite:///{tmp_path / 'var' / 'charts.db'}"
    migrate(make_engine(url))
    assert (tmp_path / "var" / "charts.db").is_file()


def test_postgres_urls_use_psycopg3():
    engine = make_engine("postgresql://coder:secret@db.example/charts")
    assert engine.dialect.driver == "psycopg"


def test_a_store_made_before_idempotency_keys_is_upgraded_in_place(tmp_path):
    from alembic import command
    from alembic.config import Config

    engine = make_engine(f"sqlite:///{tmp_path / 'charts.db'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(api.__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(text("INSERT INTO charts (patient_id, text, version, created_at, created_by, updated_at, "
                          "updated_by) VALUES ('P', 'Asthma.', 1, '2026-11-27', 'casey', '2026-11-27', 'casey')"))
    migrate(engine)  # what every start does
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0006"
        assert conn.execute(text("SELECT count(*) FROM charts")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM idempotency_keys")).scalar() == 0
        # an old chart enters the worklist as new, unassigned, of normal priority
        assert conn.execute(text("SELECT status, assignee, priority FROM charts")).one() == ("new", None, 1)
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
