"""``bench.fuzz.throwaway_stores``: the SQLite-then-PostgreSQL loop that ``make fuzz`` and ``make durability`` share."""

from __future__ import annotations

from pathlib import Path

import bench.fuzz


def test_every_store_gets_an_existing_work_folder(monkeypatch):
    """The server's log is written to the work folder before the server starts: on PostgreSQL nothing else makes
    the folder (``make fuzz`` stopped with FileNotFoundError after its SQLite runs)."""
    wiped = []
    monkeypatch.setattr(bench.fuzz, "train_model", lambda folder: folder)
    monkeypatch.setattr(bench.fuzz, "wipe_postgres", wiped.append)
    seen = []
    for store, url, model, work in bench.fuzz.throwaway_stores("postgresql://nowhere/db", "test-stores-"):
        assert work.is_dir() and not any(work.iterdir()), store
        assert model.name == "quick"
        seen.append((store, url, work.name))
    assert seen == [("sqlite", None, "sqlite"), ("postgresql", "postgresql://nowhere/db", "postgresql")]
    assert wiped == ["postgresql://nowhere/db"]
    assert not Path(work).exists()  # the temporary folder is removed afterwards
