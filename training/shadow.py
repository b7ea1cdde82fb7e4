"""Shadow evaluation: judge models on the charts the coders completed in the chart store since the champion went
live, scored against the coders' final codes. ``suggest compare --shadow`` reports it; ``suggest promote --shadow``
refuses a challenger that does worse there than the champion.

The chart store is read with plain SQL over its ``charts`` and ``chart_codes`` tables (no import of the service).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from suggest.errors import SuggestError
from suggest.types import Chart


def default_database_url() -> str:
    """The chart store the service uses: ``DATABASE_URL``, else ``var/charts.db`` under the current directory."""
    return os.environ.get("DATABASE_URL") or f"sqlite:///{Path.cwd() / 'var' / 'charts.db'}"


def completed_charts(database_url: str, since: dt.datetime | None = None, limit: int | None = None) -> list[Chart]:
    """The live charts completed at or after ``since`` (all completed charts without it), each with its final codes
    in the coder's order; oldest completion first."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).is_file():
        raise SuggestError(f"no chart store at {url.database} (set DATABASE_URL)")
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    engine = create_engine(url)
    where = "status = 'completed' AND deleted_at IS NULL"
    params: dict = {}
    if since is not None:
        where += " AND status_changed_at >= :since"
        params["since"] = since if url.get_backend_name() != "sqlite" else since.astimezone(dt.timezone.utc).replace(
            tzinfo=None).isoformat(sep=" ")
    sql = f"SELECT id, text, specialty FROM charts WHERE {where} ORDER BY status_changed_at, id"
    if limit:
        sql += f" LIMIT {int(limit)}"
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(sql), params).all()
            codes: dict[int, list[str]] = {}
            ids = [r.id for r in rows]
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                for chart_id, code in conn.execute(text(
                        "SELECT chart_id, code FROM chart_codes WHERE chart_id IN ("
                        + ",".join(str(int(i)) for i in chunk) + ") ORDER BY chart_id, position")):
                    codes.setdefault(chart_id, []).append(code)
    finally:
        engine.dispose()
    return [Chart(id=f"chart-{r.id}", text=r.text, codes=codes.get(r.id, []), specialty=r.specialty,
                  meta={"source": "chart-store", "chart_id": r.id}) for r in rows if codes.get(r.id)]


def champion_live_since(name: str, models_dir: Path | None = None) -> dt.datetime | None:
    """When the current champion of ``name`` became champion (its last promotion or rollback), None without one."""
    from training.registry import CHAMPION, _client, _current, history

    client = _client(models_dir)
    current = _current(client, name, CHAMPION)
    if current is None:
        return None
    for event in reversed(history(name, client=client)):
        if event.get("alias") == CHAMPION and str(event.get("version")) == current and event.get("when"):
            return dt.datetime.fromisoformat(event["when"])
    return None


@dataclass(frozen=True)
class ShadowSet:
    """The charts of a shadow evaluation and where they come from."""

    charts: list[Chart]
    since: dt.datetime | None
    database: str

    def describe(self) -> str:
        since = f"completed since {self.since.isoformat(timespec='seconds')}" if self.since else "all completed"
        return f"{len(self.charts)} charts of the chart store {self.database} ({since})"


def shadow_set(name: str, database_url: str | None = None, since: dt.datetime | None = None,
               models_dir: Path | None = None, minimum: int = 1) -> ShadowSet:
    """The charts completed since the champion went live (or since ``since``); refuses fewer than ``minimum``."""
    database_url = database_url or default_database_url()
    since = since or champion_live_since(name, models_dir)
    charts = completed_charts(database_url, since)
    where = make_url(database_url).render_as_string(hide_password=True)
    found = ShadowSet(charts=charts, since=since, database=where)
    if len(charts) < minimum:
        raise SuggestError(f"shadow evaluation needs at least {minimum} completed chart(s) with codes; found "
                           f"{found.describe()}")
    return found
