"""Alembic environment: runs on the connection handed over by ``api.db.migrate`` (or on DATABASE_URL)."""

from __future__ import annotations

from alembic import context

from api.db import Base, make_engine

target_metadata = Base.metadata
config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    import os

    from api.config import ApiConfig

    engine = make_engine(os.environ.get("DATABASE_URL") or ApiConfig().database_url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
