"""The coding department at scale: ``python -m bench.department`` (``make bench-department``).

Seeds a chart store with ``--charts`` synthetic stored charts (default 1,000,000) straight into the tables (never
through the API), starts the real server on it (``suggest serve``: gunicorn, 2 workers x 8 threads, a small model
trained in seconds: the figures and the queue do not use it) and measures through HTTP:

1. **the figures**: ``GET /v1/analytics/{figure}`` for every figure (status, throughput, completeness, codes,
   quality, calibration, misses) with an admin's token and the page's default query (the last 90 days), one client,
   ``--requests`` timed requests per figure (default 30) after ``--warmup`` (2). Target: **p95 <= 300 ms** each;
2. **the queue**: ``POST /v1/worklist/next`` from ``--coders`` threads at once (default 20), each with a coder token
   of its own, each taking ``--takes`` charts in a row (default 25); every latency is kept (a request whose kept-alive
   connection a replaced worker closed is sent once more on a new one, and counted). Target: **p95 <= 20 ms**.
   Afterwards the database must show no chart taken twice: the charts in progress are the seeded ones plus one per
   successful take, each with the coder who took it as assignee, and no chart id was handed out twice;
3. **baselines, same run, same server and database**: ``GET /v1/me`` (authenticated, does almost nothing) from one
   client and from the same ``--coders`` threads as the queue (what the server's queueing alone costs), the next
   chart taken by one coder alone, and the SQL the ``codes`` figure would need without its summary counters
   (``SELECT code, count(*) FROM chart_codes JOIN charts ... WHERE deleted_at IS NULL GROUP BY code ...``) run
   directly on the database (best and median of 3);
4. **where a figure's time goes**: each figure computed in a fresh process (``api.analytics.figure``, no HTTP) with
   every SQL statement it runs timed; the slowest statement's plan (``EXPLAIN QUERY PLAN`` on SQLite,
   ``EXPLAIN (ANALYZE, BUFFERS)`` on PostgreSQL) is printed for each figure that missed its target, and kept in the
   JSON for all.

Runs on SQLite, then on PostgreSQL when ``--postgres-url`` or ``$SUGGEST_BENCH_POSTGRES_URL`` names a database that
may be wiped (``make bench-department`` starts a throw-away one with ``.ci/postgres``).

**The seeded department** (``seed_store``; deterministic for a size and ``--seed``): charts created uniformly over
the 365 days before the seeding, of the 7 specialties of the synthetic charts (weighted as they are) and 4% without
one, of the 7 document types of the completeness rules, priority low/normal/high/urgent 10/70/15/5%, a due date for
30%; status new 10%, in progress 3%, on hold 1%, coded 6%, completed 80%, and 0.5% of all charts deleted. Each chart
has 1-6 codes drawn from a Zipf law (s = 1.1) over the 2,000 most common billable codes of
``suggest/resources/common_codes.tsv``, a text of about 350 characters from a template, and completeness findings
of the real rules (``use_additional_code``, ``required_section``, ``patient_mrn``, ``signature``, ...). Every chart
that left ``new`` was taken by one of 30 coders, and its moves (taken, on hold, coded, completed) are rows of
``chart_status_changes`` by that coder. Every completed chart (``--shown-share``, default 1: all) holds the 5
suggestions the coder was shown (``shown_suggestions``: its final codes mostly among them, with high confidences,
the rest distractors) and the coder's feedback on them (accepted, rejected, added). The summary counters
(``analytics_counts``) and each chart's ``contribution`` are computed with ``api.analytics.contribution``, as the
service keeps them, so that ``api.analytics.rebuild`` leaves them unchanged (``check_rebuild``; the smoke test checks
it at small scale). Not seeded: the charts' history, the audit log, idempotency keys (no figure and no queue
operation reads them). The indexes are dropped during the load and created again from their own definitions
afterwards (the schema is the migrations'); on PostgreSQL ``VACUUM ANALYZE`` follows, as autovacuum would; SQLite
gets no ``ANALYZE`` (the service never runs it).

The seeded SQLite file is kept in ``bench/results/department-<charts>-s<seed version>-seed<seed>-<schema
revision>.db`` and copied for each run, so that timing again does not seed again (``--no-cache`` seeds afresh);
PostgreSQL is seeded on every run. Prints the tables with the targets beside the numbers; writes everything to
``bench/results/department-<UTC timestamp>.json``. Nothing is asserted; the exit status is 0 unless a store could
not be measured.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import datetime as dt
import gc
import itertools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.bench_api import Client, server_env, start_server, stop_server
from bench.engine import RESULTS_DIR, Target, percentiles_ms, print_table, write_results

POSTGRES_ENV = "SUGGEST_BENCH_POSTGRES_URL"
#: Change when the seeded data change: a cached SQLite file of another version is not used.
SEED_VERSION = 3
DEFAULTS = {"charts": 1_000_000, "requests": 30, "warmup": 2, "coders": 20, "takes": 25, "workers": 2,
            "threads": 8, "shown_share": 1.0, "seed": 0, "batch": 10_000}
FIGURE_TARGET = Target("<=", 300, "ms")
NEXT_TARGET = Target("<=", 20, "ms")
PROJECT_ROOT = Path(__file__).resolve().parents[1]

# ----------------------------------------------------------------------------- what the department looks like
DAY = 86_400.0
YEAR_DAYS = 365
STATUS_SHARES = (("new", 0.10), ("in_progress", 0.03), ("on_hold", 0.01), ("coded", 0.06), ("completed", 0.80))
DELETED_SHARE = 0.005
PRIORITY_SHARES = ((0, 0.10), (1, 0.70), (2, 0.15), (3, 0.05))
DUE_SHARE = 0.30
NO_SPECIALTY_SHARE = 0.04
CODES_PER_CHART = ((1, 20), (2, 25), (3, 22), (4, 15), (5, 10), (6, 8))
CODE_POOL = 2000
ZIPF_S = 1.1
SEEDED_CODERS = tuple(f"coder-{k:02d}" for k in range(1, 31))
SHOWN_PER_CHART = 5
#: (rule, severity) of the completeness checks and the share of charts that have each.
FINDING_SHARES = ((("use_additional_code", "info"), 0.20), (("required_section", "warning"), 0.15),
                  (("patient_mrn", "warning"), 0.08), (("patient_dob", "warning"), 0.05),
                  (("code_first", "warning"), 0.05), (("signature", "error"), 0.04),
                  (("document_date", "error"), 0.03), (("excludes1", "error"), 0.01),
                  (("not_billable", "error"), 0.01))
DOCUMENT_TYPE_WEIGHTS = {"progress_note": 40, "clinic_note": 25, "history_and_physical": 8, "consultation": 10,
                         "discharge_summary": 7, "operative_note": 4, "emergency_note": 6}
#: The model versions of the suggestions shown: the older one before this many days back, the newer one since.
MODEL_VERSIONS = (("2026.08.0", 150), ("2026.11.1", 0))
FIRST_NAMES = ("Maria", "James", "Linda", "Robert", "Ana", "Wei", "Fatima", "John", "Grace", "Omar", "Lucia", "Ivan")
LAST_NAMES = ("Garcia", "Smith", "Chen", "Okafor", "Novak", "Haddad", "Kim", "Rossi", "Dubois", "Patel", "Berg")
PROVIDERS = tuple(f"{first[0]}. {last}" for first, last in itertools.product(FIRST_NAMES[:6], LAST_NAMES[:5]))
PLANS = ("Continue current medications; follow up in 3 months.", "Labs ordered; return in 2 weeks.",
         "Referral placed; patient counselled on diet and exercise.", "Medication adjusted; recheck at next visit.",
         "Imaging ordered; symptomatic care discussed.")

#: Tables the seeder loads, and their columns in load order (ids of the tables other than ``charts`` are left to
#: the database).
COLUMNS = {
    "charts": ("id", "patient_id", "encounter_id", "text", "provider", "signed_by", "document_date", "specialty",
               "document_type", "version", "created_at", "created_by", "updated_at", "updated_by", "deleted_at",
               "deleted_by", "status", "assignee", "priority", "due_date", "status_changed_at", "findings",
               "contribution"),
    "chart_codes": ("chart_id", "code", "position"),
    "chart_status_changes": ("chart_id", "from_status", "to_status", "assignee", "changed_by", "changed_at", "note"),
    "shown_suggestions": ("chart_id", "code", "confidence", "selected", "rank", "model_version", "shown_at", "user"),
    "feedback": ("chart_id", "code", "action", "confidence", "model_version", "user", "created_at"),
    "analytics_counts": ("metric", "day", "k1", "k2", "k3", "value"),
}
BULK_TABLES = ("charts", "chart_codes", "chart_status_changes", "shown_suggestions", "feedback")


def _cumulative(weights: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(weights))


@dataclass(frozen=True)
class Vocabulary:
    """The codes charts draw from (most common first), their Zipf cumulative weights and descriptions."""

    codes: list[str]
    cum: list[float]
    descriptions: dict[str, str]

    @classmethod
    def load(cls, size: int = CODE_POOL, s: float = ZIPF_S) -> Vocabulary:
        from suggest.codeset import load_codeset

        codeset = load_codeset()
        path = PROJECT_ROOT / "suggest" / "resources" / "common_codes.tsv"
        with open(path, encoding="utf-8") as handle:
            ranked = [row["code"] for row in csv.DictReader(handle, delimiter="\t")]
        codes = [code for code in ranked if codeset.is_billable(code)][:size]
        return cls(codes, _cumulative([1 / (rank ** s) for rank in range(1, len(codes) + 1)]),
                   {code: codeset.description(code) or code for code in codes})


@dataclass
class Seeded:
    """What the seeder wrote (counts by table and status) and how long it took."""

    charts: int
    seed: int
    shown_share: float
    anchor: str
    seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Department:
    """Deterministic synthetic charts, batch by batch: rows for every table, and the counters' totals."""

    def __init__(self, charts: int, seed: int, shown_share: float, anchor: dt.datetime,
                 vocabulary: Vocabulary | None = None):
        from training.synth.generator import SPECIALTY_WEIGHTS

        self.n, self.seed, self.shown_share = charts, seed, shown_share
        self.anchor_ts = anchor.timestamp()
        self.vocab = vocabulary or Vocabulary.load()
        self.rng = random.Random(seed)
        self.totals: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.specialties = list(SPECIALTY_WEIGHTS)
        self.specialty_cum = _cumulative(list(SPECIALTY_WEIGHTS.values()))
        self.doc_types = list(DOCUMENT_TYPE_WEIGHTS)
        self.doc_type_cum = _cumulative(list(DOCUMENT_TYPE_WEIGHTS.values()))
        self.version_cut = self.anchor_ts - MODEL_VERSIONS[0][1] * DAY

    def _pick(self, items: Sequence[Any], cum: Sequence[float]) -> Any:
        return items[bisect.bisect(cum, self.rng.random() * cum[-1])]

    def _shared(self, shares: Sequence[tuple[Any, float]]) -> Any:
        x = self.rng.random()
        for value, share in shares:
            if x < share:
                return value
            x -= share
        return shares[-1][0]

    def batches(self, size: int) -> Iterator[dict[str, list[tuple]]]:
        for start in range(1, self.n + 1, size):
            out: dict[str, list[tuple]] = {name: [] for name in BULK_TABLES}
            for chart_id in range(start, min(start + size, self.n + 1)):
                self._chart(chart_id, out)
            yield out

    def _codes(self, k: int, exclude: Sequence[str] = ()) -> list[str]:
        drawn = self.rng.choices(self.vocab.codes, cum_weights=self.vocab.cum, k=k)
        return [c for c in dict.fromkeys(drawn) if c not in exclude]

    def _chart(self, chart_id: int, out: dict[str, list[tuple]]) -> None:
        from api.analytics import STATUS_SHARDS, ChartFacts, contribution, move_key

        rng = self.rng
        utc = dt.UTC
        created_ts = self.anchor_ts - rng.random() * YEAR_DAYS * DAY
        created = dt.datetime.fromtimestamp(created_ts, utc)
        status = self._shared(STATUS_SHARES)
        deleted = rng.random() < DELETED_SHARE
        specialty = None if rng.random() < NO_SPECIALTY_SHARE else self._pick(self.specialties, self.specialty_cum)
        doc_type = self._pick(self.doc_types, self.doc_type_cum)
        priority = self._shared(PRIORITY_SHARES)
        due = created.date() + dt.timedelta(days=rng.randint(1, 14)) if rng.random() < DUE_SHARE else None
        codes = self._codes(self._shared([(n, w / 100) for n, w in CODES_PER_CHART]))
        findings = sorted(pair for pair, share in FINDING_SHARES if rng.random() < share)
        provider = PROVIDERS[rng.randrange(len(PROVIDERS))]
        first, last = FIRST_NAMES[rng.randrange(len(FIRST_NAMES))], LAST_NAMES[rng.randrange(len(LAST_NAMES))]
        text = (f"{doc_type.replace('_', ' ').upper()}\nPatient: {first} {last}   DOB: 19{rng.randrange(30, 99)}-"
                f"{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}   MRN: {rng.randrange(10**7, 10**8)}\n"
                f"Date of service: {created.date().isoformat()}\nAssessment: "
                f"{'; '.join(self.vocab.descriptions[c] for c in codes)}.\nPlan: {PLANS[rng.randrange(len(PLANS))]}"
                f"\nElectronically signed by {provider}, MD\n")

        # the moves through the workflow, all by the coder who took the chart, all before the seeding's moment
        moves: list[tuple[str, str, float]] = []
        coder = None
        if status != "new":
            coder = SEEDED_CODERS[rng.randrange(len(SEEDED_CODERS))]
            t = created_ts + min(rng.expovariate(1 / DAY), (self.anchor_ts - created_ts) * 0.4)
            moves.append(("new", "in_progress", t))
            if status == "on_hold":
                t += min(rng.uniform(600, 4 * 3600), (self.anchor_ts - t) * 0.5)
                moves.append(("in_progress", "on_hold", t))
            if status in ("coded", "completed"):
                t += min(rng.uniform(300, 3 * 3600), (self.anchor_ts - t) * 0.5)
                moves.append(("in_progress", "coded", t))
            if status == "completed":
                t += min(rng.expovariate(2 / DAY), (self.anchor_ts - t) * 0.9)
                moves.append(("coded", "completed", t))
        changed = dt.datetime.fromtimestamp(moves[-1][2], utc) if moves else None
        deleted_at = dt.datetime.fromtimestamp(created_ts + (self.anchor_ts - created_ts) * rng.random(), utc) \
            if deleted else None

        shown: list[tuple[str, float, bool]] = []
        feedback: dict[str, str] = {}
        version = None
        if status == "completed" and not deleted and rng.random() < self.shown_share:
            coded_ts = moves[-2][2]
            version = MODEL_VERSIONS[0][0] if coded_ts < self.version_cut else MODEL_VERSIONS[1][0]
            picked = [(c, round(0.35 + 0.64 * rng.random() ** 0.5, 4)) for c in codes if rng.random() < 0.75][:4]
            while len(picked) < SHOWN_PER_CHART:
                for c in self._codes(SHOWN_PER_CHART - len(picked), exclude=codes + [p[0] for p in picked]):
                    picked.append((c, round(0.6 * rng.random() ** 2, 4)))
            picked.sort(key=lambda p: -p[1])
            shown = [(c, conf, conf >= 0.5) for c, conf in picked]
            feedback = {c: ("accepted" if c in codes else "rejected") for c, _conf, sel in shown if sel}
            feedback.update({c: "added" for c in codes if c not in feedback})
            shown_at = dt.datetime.fromtimestamp(moves[-3][2] + (coded_ts - moves[-3][2]) * 0.9, utc)
            confidence = {c: conf for c, conf, _sel in shown}
            for rank, (c, conf, sel) in enumerate(shown, start=1):
                out["shown_suggestions"].append((chart_id, c, conf, sel, rank, version, shown_at, coder))
            for c, action in feedback.items():
                out["feedback"].append((chart_id, c, action, confidence.get(c), version, coder, shown_at))

        mine = contribution(ChartFacts(
            status=status, deleted=deleted, codes=codes, created_day=created.date().isoformat(),
            shard=chart_id % STATUS_SHARDS, specialty=specialty,
            document_type=doc_type,
            completed_day=changed.date().isoformat() if status == "completed" and changed else None,
            findings=findings, shown=shown, model_version=version, feedback=feedback))
        self.totals.update(mine)
        for _a, b, t in moves:  # the throughput counters count moves (events), not a chart's state
            key = move_key(coder, b, dt.datetime.fromtimestamp(t, utc))
            if key is not None:
                self.totals[key] += 1
        self.statuses["deleted" if deleted else status] += 1
        out["charts"].append((
            chart_id, f"P{rng.randrange(10**8):08d}", f"E{chart_id:09d}", text, provider, provider, created.date(),
            specialty, doc_type, 1 + len(moves), created, "intake", created, "intake", deleted_at,
            "bench-admin" if deleted else None, status, coder, priority, due, changed,
            [list(pair) for pair in findings], dict(mine)))
        out["chart_codes"].extend((chart_id, c, i) for i, c in enumerate(codes))
        out["chart_status_changes"].extend(
            (chart_id, a, b, coder, coder, dt.datetime.fromtimestamp(t, utc), None) for a, b, t in moves)

    def counter_rows(self) -> list[tuple]:
        from api.analytics import SEP

        return [(*key.split(SEP), value) for key, value in sorted(self.totals.items()) if value]


# ----------------------------------------------------------------------------- loading
def _dialect(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


def schema_revision() -> str:
    """The migrations' head revision (part of the cached file's name)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "api" / "migrations"))
    return ScriptDirectory.from_config(cfg).get_current_head() or "none"


class Loader:
    """Bulk writes into one database: SQLAlchemy Core executemany on SQLite, COPY on PostgreSQL."""

    def __init__(self, url: str):
        from api.db import make_engine, migrate

        self.url, self.dialect = url, _dialect(url)
        self.engine = make_engine(url)
        migrate(self.engine)
        self.indexes: list[tuple[str, str]] = []
        if self.dialect == "sqlite":
            self.conn = self.engine.connect()
            for pragma in ("foreign_keys=OFF", "synchronous=OFF", "cache_size=-400000"):
                self.conn.exec_driver_sql(f"PRAGMA {pragma}")
            self.conn.commit()
        else:
            import psycopg
            from sqlalchemy.engine import make_url

            plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
            self.conn = psycopg.connect(plain)
            self.conn.execute("SET maintenance_work_mem = '512MB'")
            self.conn.commit()

    def drop_indexes(self) -> None:
        """Drop the secondary indexes of the bulk tables, remembering their definitions."""
        names = ", ".join(f"'{t}'" for t in BULK_TABLES)
        if self.dialect == "sqlite":
            self.indexes = list(self.conn.exec_driver_sql(
                f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                f"AND tbl_name IN ({names})"))
            for name, _sql in self.indexes:
                self.conn.exec_driver_sql(f'DROP INDEX "{name}"')
        else:
            self.indexes = self.conn.execute(
                f"SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename IN "
                f"({names}) AND indexname NOT IN (SELECT conname FROM pg_constraint)").fetchall()
            for name, _sql in self.indexes:
                self.conn.execute(f'DROP INDEX "{name}"')
        self.conn.commit()

    def create_indexes(self) -> None:
        for _name, sql in self.indexes:
            if self.dialect == "sqlite":
                self.conn.exec_driver_sql(sql)
            else:
                self.conn.execute(sql)
        self.conn.commit()

    def write(self, table: str, rows: list[tuple]) -> None:
        if not rows:
            return
        columns = COLUMNS[table]
        if self.dialect == "sqlite":
            from api.db import Base

            self.conn.execute(Base.metadata.tables[table].insert(), [dict(zip(columns, row)) for row in rows])
            return
        quoted = ", ".join(f'"{c}"' for c in columns)
        with self.conn.cursor() as cur, cur.copy(f'COPY "{table}" ({quoted}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([json.dumps(v) if isinstance(v, (dict, list)) else v for v in row])

    def commit(self) -> None:
        self.conn.commit()

    def finish(self) -> None:
        """Sequences past the seeded ids (PostgreSQL), statistics as autovacuum would leave them, the WAL folded in
        (SQLite)."""
        if self.dialect == "sqlite":
            self.conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            self.conn.close()
        else:
            for table in BULK_TABLES:
                if "id" in COLUMNS[table] or table != "chart_codes":
                    self.conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                      f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)")
            self.conn.commit()
            self.conn.autocommit = True
            self.conn.execute("VACUUM ANALYZE")
            self.conn.close()
        self.engine.dispose()


def seed_store(url: str, charts: int, seed: int = DEFAULTS["seed"], shown_share: float = DEFAULTS["shown_share"],
               batch: int = DEFAULTS["batch"], progress: bool = True) -> Seeded:
    """Create the schema at ``url`` (an empty database) and load ``charts`` synthetic charts with everything the
    figures and the queue read, and the summary counters."""
    anchor = dt.datetime.now(dt.UTC).replace(microsecond=0)
    info = Seeded(charts, seed, shown_share, anchor.isoformat())
    started = time.monotonic()
    loader = Loader(url)
    loader.drop_indexes()
    department = Department(charts, seed, shown_share, anchor)
    rows: Counter[str] = Counter()
    generating = writing = 0.0
    mark = time.monotonic()
    last_report = mark
    batches = department.batches(batch)
    while True:
        t0 = time.monotonic()
        out = next(batches, None)
        t1 = time.monotonic()
        generating += t1 - t0
        if out is None:
            break
        for table in BULK_TABLES:
            loader.write(table, out[table])
            rows[table] += len(out[table])
        loader.commit()
        writing += time.monotonic() - t1
        if progress and time.monotonic() - last_report > 30:
            last_report = time.monotonic()
            print(f"  seeding: {rows['charts']:,} of {charts:,} charts, {last_report - mark:.0f} s", flush=True)
    t0 = time.monotonic()
    counters = department.counter_rows()
    for start in range(0, len(counters), batch):
        loader.write("analytics_counts", counters[start:start + batch])
    loader.commit()
    rows["analytics_counts"] = len(counters)
    writing += time.monotonic() - t0
    t0 = time.monotonic()
    loader.create_indexes()
    indexing = time.monotonic() - t0
    t0 = time.monotonic()
    loader.finish()
    info.phases = {"generate_s": round(generating, 1), "insert_s": round(writing, 1),
                   "indexes_s": round(indexing, 1), "finish_s": round(time.monotonic() - t0, 1)}
    info.seconds = round(time.monotonic() - started, 1)
    info.rows = dict(rows)
    info.statuses = dict(sorted(department.statuses.items()))
    return info


def cached_sqlite(charts: int, seed: int, shown_share: float, cache_dir: Path, use_cache: bool = True,
                  batch: int = DEFAULTS["batch"]) -> tuple[Path, Seeded, bool]:
    """The seeded SQLite file for this size (seeded now unless a cached one exists): (path, what was seeded,
    whether it came from the cache)."""
    share = f"-shown{shown_share:g}" if shown_share != DEFAULTS["shown_share"] else ""
    name = f"department-{charts}-s{SEED_VERSION}-seed{seed}{share}-{schema_revision()}"
    path, meta = cache_dir / f"{name}.db", cache_dir / f"{name}.json"
    if use_cache and path.exists() and meta.exists():
        return path, Seeded(**json.loads(meta.read_text())), True
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = cache_dir / f"{name}.partial.db"
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    info = seed_store(f"sqlite:///{partial}", charts, seed, shown_share, batch)
    partial.replace(path)
    for extra in ("-wal", "-shm"):
        Path(f"{partial}{extra}").unlink(missing_ok=True)
    meta.write_text(json.dumps(info.to_dict(), indent=2))
    return path, info, False


def check_rebuild(url: str) -> dict[str, Any]:
    """Whether ``api.analytics.rebuild`` (every counter and contribution recomputed from the stored charts) leaves
    the seeded counters and contributions as they are (values compared to 9 decimals). Reads every chart: small
    stores only."""
    from sqlalchemy import select

    from api import analytics
    from api.db import AnalyticsCount, ChartRow, make_engine, make_sessionmaker

    engine = make_engine(url)

    def snapshot(session) -> tuple[dict, dict]:
        counters = {(c.metric, c.day, c.k1, c.k2, c.k3): round(c.value, 9)
                    for c in session.scalars(select(AnalyticsCount))}
        contributions = {i: {k: round(v, 9) for k, v in (c or {}).items()}
                         for i, c in session.execute(select(ChartRow.id, ChartRow.contribution))}
        return counters, contributions

    try:
        with make_sessionmaker(engine)() as session:
            seeded, seeded_contrib = snapshot(session)
            counted = analytics.rebuild(session)
            session.flush()
            rebuilt, rebuilt_contrib = snapshot(session)
            session.rollback()
    finally:
        engine.dispose()
    differing = sorted(k for k in set(seeded) | set(rebuilt) if seeded.get(k) != rebuilt.get(k))
    return {"charts_counted": counted, "counters": len(seeded), "counters_equal": not differing,
            "contributions_equal": seeded_contrib == rebuilt_contrib,
            "differences": [[*k, seeded.get(k), rebuilt.get(k)] for k in differing[:10]]}


# ----------------------------------------------------------------------------- measuring through HTTP
def make_tokens(url: str, coders: int) -> tuple[str, dict[str, str]]:
    """An admin token and one coder token per coder (``api.auth.create_token``)."""
    from api.auth import create_token
    from api.db import make_engine, make_sessionmaker

    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session, session.begin():
            _row, admin = create_token(session, "admin", "bench-admin")
            tokens = {f"bench-coder-{k:02d}": create_token(session, "coder", f"bench-coder-{k:02d}")[1]
                      for k in range(1, coders + 1)}
    finally:
        engine.dispose()
    return admin, tokens


def _stats(seconds: Sequence[float]) -> dict[str, float]:
    return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in percentiles_ms(seconds).items()}


def send(client: Client, method: str, path: str) -> tuple[int, bytes, int]:
    """One request: (status, body, reconnects). Sent once more on a new connection when the kept-alive one failed
    before any answer (gunicorn replaces a worker after ``--max-requests`` requests and closes its connections, as
    in production); the time counts both. Status 0: no answer either time."""
    status, _headers, raw = client.exchange(method, path, tries=1)
    if status:
        return status, raw, 0
    status, _headers, raw = client.exchange(method, path, tries=1)
    return status, raw, 1


class Tally:
    """Latencies of the answered requests, their statuses, the reconnects, and an answer of each non-200 status."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.reconnects = 0
        self.samples: dict[str, str] = {}

    def add(self, seconds: float, status: int, raw: bytes, reconnects: int) -> None:
        self.statuses[str(status)] += 1
        self.reconnects += reconnects
        if status:
            self.latencies.append(seconds)
        if status != 200 and str(status) not in self.samples:
            self.samples[str(status)] = raw[:300].decode(errors="replace")

    def merge(self, other: Tally) -> None:
        self.latencies += other.latencies
        self.statuses.update(other.statuses)
        self.reconnects += other.reconnects
        for k, v in other.samples.items():
            self.samples.setdefault(k, v)

    def report(self) -> dict[str, Any]:
        return {**_stats(self.latencies), "statuses": dict(sorted(self.statuses.items())),
                "reconnects": self.reconnects, "unanswered": self.statuses.get("0", 0),
                "answers_not_200": self.samples}


def time_requests(port: int, token: str, method: str, path: str, n: int, warmup: int) -> dict[str, Any]:
    """``n`` timed requests (after ``warmup``) from one keep-alive client: latencies, statuses, rows of the last."""
    client = Client(port, token)
    for _ in range(warmup):
        send(client, method, path)
    tally = Tally()
    raw = b""
    for _ in range(n):
        t0 = time.perf_counter()
        status, raw, reconnects = send(client, method, path)
        tally.add(time.perf_counter() - t0, status, raw, reconnects)
    out = tally.report()
    if tally.statuses.get("200") and raw[:1] == b"{":
        body = json.loads(raw)
        if "rows" in body:
            out["rows"] = len(body["rows"])
            out["_rows"] = body["rows"]
    return out


def in_parallel(port: int, tokens: dict[str, str], method: str, path: str, per_client: int) -> dict[str, Any]:
    """Every token's client sends ``per_client`` requests in a row, all clients starting together (each first
    connects and sends one ``GET /v1/me``, not timed). Every latency is kept; for ``POST /v1/worklist/next`` the
    charts taken are returned as (coder, chart id, assignee in the answer)."""
    barrier = threading.Barrier(len(tokens))
    lock = threading.Lock()
    tally = Tally()
    taken: list[tuple[str, int, str | None]] = []

    def client_loop(user: str, token: str) -> None:
        client = Client(port, token)
        send(client, "GET", "/v1/me")
        mine, got = Tally(), []
        barrier.wait()
        for _ in range(per_client):
            t0 = time.perf_counter()
            status, raw, reconnects = send(client, method, path)
            mine.add(time.perf_counter() - t0, status, raw, reconnects)
            if status == 200 and path == "/v1/worklist/next":
                chart = json.loads(raw)["chart"]
                got.append((user, chart["id"], chart["assignee"]))
        with lock:
            tally.merge(mine)
            taken.extend(got)

    started = time.perf_counter()
    threads = [threading.Thread(target=client_loop, args=item) for item in tokens.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    return {**tally.report(), "clients": len(tokens), "per_client": per_client,
            "requests_per_s": round(sum(tally.statuses.values()) / seconds, 1), "_taken": taken}


def in_progress_count(url: str) -> int:
    from sqlalchemy import text

    from api.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM charts WHERE status = 'in_progress'")).scalar_one()
    finally:
        engine.dispose()


def check_takes(url: str, taken: list[tuple[str, int, str | None]], in_progress_before: int) -> dict[str, Any]:
    """No chart taken twice: every chart handed out once, in progress in the database with its taker as assignee,
    and the charts in progress are those before plus one per take."""
    from sqlalchemy import text

    from api.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            in_progress = conn.execute(text("SELECT count(*) FROM charts WHERE status = 'in_progress'")).scalar_one()
            rows = {r.id: (r.status, r.assignee) for r in conn.execute(text(
                "SELECT id, status, assignee FROM charts WHERE assignee LIKE 'bench-coder-%'"))}
            moves = conn.execute(text("SELECT count(*) FROM chart_status_changes WHERE changed_by LIKE "
                                      "'bench-coder-%' AND from_status = 'new' AND to_status = 'in_progress'"))\
                .scalar_one()
    finally:
        engine.dispose()
    ids = [chart_id for _user, chart_id, _assignee in taken]
    wrong_answer = sum(assignee != user for user, _id, assignee in taken)
    wrong_in_db = sum(rows.get(chart_id) != ("in_progress", user) for user, chart_id, _a in taken)
    report = {"takes": len(taken), "distinct_charts": len(set(ids)), "handed_out_twice": len(ids) - len(set(ids)),
              "in_progress_before": in_progress_before, "in_progress_after": in_progress,
              "in_progress_added": in_progress - in_progress_before, "charts_of_bench_coders": len(rows),
              "take_moves_recorded": moves, "assignee_wrong_in_answer": wrong_answer,
              "assignee_wrong_in_database": wrong_in_db}
    report["ok"] = (report["handed_out_twice"] == wrong_answer == wrong_in_db == 0
                    and report["in_progress_added"] == len(taken) == len(rows) == moves)
    return report


# ----------------------------------------------------------------------------- in the database
NAIVE_CODES_SQL = ("SELECT code, count(*) AS n FROM chart_codes JOIN charts ON charts.id = chart_codes.chart_id "
                   "WHERE charts.deleted_at IS NULL GROUP BY code ORDER BY 2 DESC LIMIT 25")


def naive_codes(url: str, repeats: int = 3) -> dict[str, Any]:
    """The top-codes SQL without counters, run ``repeats`` times straight on the database."""
    from sqlalchemy import text

    from api.db import make_engine

    engine = make_engine(url)
    times = []
    try:
        with engine.connect() as conn:
            for _ in range(repeats):
                t0 = time.perf_counter()
                rows = conn.execute(text(NAIVE_CODES_SQL)).all()
                times.append(time.perf_counter() - t0)
    finally:
        engine.dispose()
    return {"sql": NAIVE_CODES_SQL, "runs_ms": [round(t * 1000, 1) for t in times],
            "best_ms": round(min(times) * 1000, 1), "median_ms": round(statistics.median(times) * 1000, 1),
            "top": [[code, n] for code, n in rows]}


def default_window():
    from api import analytics

    end = dt.datetime.now(dt.UTC).date()
    return analytics.Window(start=end - dt.timedelta(days=89), end=end)


def profile_figures(url: str, repeats: int = 3, explain: bool = True) -> dict[str, Any]:
    """Each figure computed in this process (no HTTP; the collector's old objects frozen first, as in a server
    worker) ``repeats`` times with every SQL statement timed; the slowest statement of the last run, its parameters
    and its plan (``EXPLAIN QUERY PLAN`` / ``EXPLAIN (ANALYZE, BUFFERS)``)."""
    from sqlalchemy import event

    from api import analytics
    from api.db import make_engine, make_sessionmaker

    gc.collect()
    gc.freeze()  # as a server worker does once its model is loaded: a collection does not walk the imported modules
    engine = make_engine(url)
    dialect = engine.dialect.name
    captured: list[tuple[str, Any, float]] = []

    def before(conn, _cursor, _statement, _parameters, _context, _many):
        conn.info.setdefault("bench_t0", []).append(time.perf_counter())

    def after(conn, _cursor, statement, parameters, _context, _many):
        captured.append((statement, parameters, time.perf_counter() - conn.info["bench_t0"].pop()))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    sessions = make_sessionmaker(engine)
    window = default_window()
    out: dict[str, Any] = {}
    try:
        for name in analytics.FIGURES:
            totals = []
            for _ in range(repeats):
                captured.clear()
                t0 = time.perf_counter()
                with sessions() as session:
                    analytics.figure(session, name, window)
                totals.append(time.perf_counter() - t0)
            statements = list(captured)
            sql, params, took = max(statements, key=lambda s: s[2])
            entry = {"in_process_ms": round(statistics.median(totals) * 1000, 1),
                     "statements": len(statements), "sql_ms": round(sum(s[2] for s in statements) * 1000, 1),
                     "slowest_ms": round(took * 1000, 1), "slowest_sql": " ".join(sql.split()),
                     "slowest_params": [str(p) for p in (params.values() if isinstance(params, dict) else params)]}
            if explain:
                event.remove(engine, "before_cursor_execute", before)
                event.remove(engine, "after_cursor_execute", after)
                try:
                    with engine.connect() as conn:
                        prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
                        plan = conn.exec_driver_sql(prefix + sql, params).all()
                    entry["plan"] = ([f"{'  ' * _depth(r, plan)}{r[-1]}" for r in plan] if dialect == "sqlite"
                                     else [r[0] for r in plan])
                finally:
                    event.listen(engine, "before_cursor_execute", before)
                    event.listen(engine, "after_cursor_execute", after)
            out[name] = entry
    finally:
        engine.dispose()
    return out


PROFILE_SCRIPT = """
import json, sys
from bench.department import profile_figures
print(json.dumps(profile_figures(sys.argv[1], explain=sys.argv[2] == "1")))
"""


def profile_in_fresh_process(url: str, explain: bool = True) -> dict[str, Any]:
    """``profile_figures`` in a new interpreter (not the one that seeded a million charts and still holds their
    memory)."""
    done = subprocess.run([sys.executable, "-c", PROFILE_SCRIPT, url, "1" if explain else "0"], capture_output=True,
                          text=True, check=True, cwd=PROJECT_ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _depth(row, plan) -> int:
    """The nesting of a row of SQLite's ``EXPLAIN QUERY PLAN`` (id, parent, notused, detail)."""
    parents = {r[0]: r[1] for r in plan}
    depth, parent = 0, row[1]
    while parent:
        depth += 1
        parent = parents.get(parent, 0)
    return depth


# ----------------------------------------------------------------------------- one store
def measure_store(url: str, model: Path, workdir: Path, requests: int = DEFAULTS["requests"],
                  warmup: int = DEFAULTS["warmup"], coders: int = DEFAULTS["coders"], takes: int = DEFAULTS["takes"],
                  workers: int = DEFAULTS["workers"], threads: int = DEFAULTS["threads"],
                  explain: bool = True) -> dict[str, Any]:
    """Everything measured on one seeded store: the figures, the queue, the baselines, the double-take check,
    the naive SQL and the figures' statements."""
    from api import analytics

    workdir.mkdir(parents=True, exist_ok=True)
    admin, tokens = make_tokens(url, coders)
    before = in_progress_count(url)
    env = server_env(workdir, DATABASE_URL=url, SUGGEST_AUTH_FAILURES_PER_MINUTE="0", PYTHONUNBUFFERED="1")
    t0 = time.monotonic()
    proc, port, _log = start_server(str(model), workers, threads, workdir, env)
    report: dict[str, Any] = {"server_start_s": round(time.monotonic() - t0, 1), "workers": workers,
                              "threads": threads, "load_average_start": os.getloadavg()}
    try:
        report["me"] = time_requests(port, admin, "GET", "/v1/me", max(requests, 100), warmup)
        report["figures"] = {}
        for name in analytics.FIGURES:
            report["figures"][name] = time_requests(port, admin, "GET", f"/v1/analytics/{name}", requests, warmup)
        report["me_parallel"] = in_parallel(port, tokens, "GET", "/v1/me", takes)
        first = next(iter(tokens.items()))
        report["next_alone"] = in_parallel(port, dict([first]), "POST", "/v1/worklist/next", takes)
        report["next_parallel"] = in_parallel(port, tokens, "POST", "/v1/worklist/next", takes)
    finally:
        stop_server(proc)
    report["load_average_end"] = os.getloadavg()
    taken = report["next_alone"].pop("_taken") + report["next_parallel"].pop("_taken")
    report["me_parallel"].pop("_taken")
    report["takes"] = check_takes(url, taken, before)
    report["naive_codes"] = naive_codes(url)
    codes_rows = report["figures"]["codes"].get("_rows", [])
    counted = {code: n for kind, code, _desc, n in codes_rows if kind == "code"}
    report["naive_codes"]["equals_counters"] = (
        sorted(n for _c, n in report["naive_codes"]["top"]) == sorted(counted.values())
        and all(counted.get(code, n) == n for code, n in report["naive_codes"]["top"]))
    for entry in report["figures"].values():
        entry.pop("_rows", None)
    report["profile"] = profile_in_fresh_process(url, explain)
    return report


def table_counts(url: str) -> dict[str, int]:
    from sqlalchemy import text

    from api.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in COLUMNS}
    finally:
        engine.dispose()


def database_size(url: str) -> float | None:
    """The database's size on disk, MB."""
    if _dialect(url) == "sqlite":
        path = Path(url.split("///", 1)[1])
        return round(sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20, 1)
    from sqlalchemy import text

    from api.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return round(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one() / 2**20, 1)
    finally:
        engine.dispose()


# ----------------------------------------------------------------------------- output
def print_store(store: str, result: dict[str, Any]) -> None:
    seeded = result["seeded"]
    source = "from the cache, seeded" if result.get("cached") else "seeded"
    print(f"\n=== {store}: {seeded['charts']:,} charts ({source} in {seeded['seconds']:.0f} s: "
          f"{', '.join(f'{k} {v}' for k, v in seeded['phases'].items())}); {result['size_mb']:,.0f} MB; "
          f"rows {', '.join(f'{k} {v:,}' for k, v in result['rows'].items())}", flush=True)
    check = result.get("rebuild_check")
    if check:
        print("seeded counters against api.analytics.rebuild: counters "
              f"{'equal' if check['counters_equal'] else 'DIFFER'} ({check['counters']:,}), contributions "
              f"{'equal' if check['contributions_equal'] else 'DIFFER'} "
              f"({check['charts_counted']:,} live charts)")
    m = result["measured"]
    print(f"load average (1, 5, 15 min) when the server started {' '.join(f'{x:.1f}' for x in m['load_average_start'])}"
          f", when it stopped {' '.join(f'{x:.1f}' for x in m['load_average_end'])}")
    rows = []
    for name, s in m["figures"].items():
        rows.append([name, _ms(s.get("p50_ms")), _ms(s.get("p95_ms")), _ms(s.get("max_ms")), str(s.get("rows", "-")),
                     _statuses(s), _ms(m["profile"][name]["in_process_ms"]), _ms(m["profile"][name]["slowest_ms"]),
                     FIGURE_TARGET.label(), _met(FIGURE_TARGET, s)])
    me = m["me"]
    rows.append(["baseline GET /v1/me", _ms(me["p50_ms"]), _ms(me["p95_ms"]), _ms(me["max_ms"]), "-", _statuses(me),
                 "-", "-", "", ""])
    print_table(f"{store}: GET /v1/analytics/{{figure}}, one client, {me['n']} /v1/me and "
                f"{next(iter(m['figures'].values()))['n']} requests per figure (ms; in process: the figure computed "
                "without HTTP, median of 3; slowest SQL: its slowest statement)",
                ["figure", "p50", "p95", "max", "rows", "statuses", "in process", "slowest SQL", "target p95",
                 "verdict"], rows)
    rows = []
    for label, key, target in (("next chart, one coder alone", "next_alone", None),
                               (f"next chart, {m['next_parallel']['clients']} coders at once", "next_parallel",
                                NEXT_TARGET),
                               (f"baseline GET /v1/me, {m['me_parallel']['clients']} clients at once", "me_parallel",
                                None)):
        s = m[key]
        rows.append([label, str(s["n"]), _ms(s.get("p50_ms")), _ms(s.get("p95_ms")), _ms(s.get("max_ms")),
                     _ms(s["requests_per_s"]), _statuses(s), target.label() if target else "",
                     _met(target, s) if target else ""])
    print_table(f"{store}: POST /v1/worklist/next, {m['next_parallel']['per_client']} takes in a row per coder (ms)",
                ["operation", "requests", "p50", "p95", "max", "req/s", "statuses", "target p95", "verdict"], rows)
    for key in ("next_alone", "next_parallel", "me_parallel"):
        for status, answer in m[key].get("answers_not_200", {}).items():
            print(f"  {key}: an answer {status}: {answer}")
    t = m["takes"]
    print(f"taken twice: {'none' if t['ok'] else 'CHECK FAILED'} ({t['takes']} takes, {t['distinct_charts']} distinct "
          f"charts, in progress {t['in_progress_before']:,} -> {t['in_progress_after']:,} (+{t['in_progress_added']}),"
          f" {t['charts_of_bench_coders']} charts assigned to the bench coders, {t['take_moves_recorded']} take moves "
          f"recorded, wrong assignee {t['assignee_wrong_in_answer']} in answers / {t['assignee_wrong_in_database']} "
          "in the database)")
    n = m["naive_codes"]
    codes = m["figures"]["codes"]
    print(f"baseline without counters: the top-codes SQL on the database {n['best_ms']:,.0f} ms best, "
          f"{n['median_ms']:,.0f} ms median of {len(n['runs_ms'])} (the codes figure from its counters: p50 "
          f"{codes.get('p50_ms')} ms over HTTP); same counts as the counters: "
          f"{'yes' if n['equals_counters'] else 'NO'}")
    missed = [name for name, s in m["figures"].items() if not FIGURE_TARGET.met(s.get("p95_ms"))]
    for name in missed:
        p = m["profile"][name]
        print(f"\n{store}: {name} missed its target; slowest of its {p['statements']} statements "
              f"({p['slowest_ms']} ms in process):\n  {p['slowest_sql']}\n  parameters: {p['slowest_params']}\n"
              "  plan:\n    " + "\n    ".join(p.get("plan", ["(not explained)"])))
    sys.stdout.flush()


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _statuses(stats: dict[str, Any]) -> str:
    out = " ".join(f"{k}x{v}" for k, v in sorted(stats.get("statuses", {}).items()))
    return out + (f" ({stats['reconnects']} resent)" if stats.get("reconnects") else "")


def _met(target: Target, stats: dict[str, Any]) -> str:
    ok = target.met(stats.get("p95_ms"))
    return "-" if ok is None else ("met" if ok else "NOT met")


# ----------------------------------------------------------------------------- the run
def run_department(charts: int = DEFAULTS["charts"], postgres_url: str | None = None, sqlite: bool = True,
                   model: Path | None = None, workdir: Path | None = None, cache_dir: Path | None = RESULTS_DIR,
                   requests: int = DEFAULTS["requests"], warmup: int = DEFAULTS["warmup"],
                   coders: int = DEFAULTS["coders"], takes: int = DEFAULTS["takes"],
                   workers: int = DEFAULTS["workers"], threads: int = DEFAULTS["threads"],
                   shown_share: float = DEFAULTS["shown_share"], seed: int = DEFAULTS["seed"],
                   check: bool = False, explain: bool = True, quiet: bool = False) -> dict[str, Any]:
    """Seed and measure each store; ``cache_dir`` None: seed SQLite afresh in the work folder and keep nothing.
    ``check``: compare the seeded counters with ``api.analytics.rebuild`` (small stores only)."""
    from bench.fuzz import train_model, wipe_postgres

    with tempfile.TemporaryDirectory(prefix="bench-department-") as tmp:
        work = workdir or Path(tmp)
        if model is None:
            t0 = time.monotonic()
            model = train_model(Path(tmp) / "models" / "quick")
            if not quiet:
                print(f"small model trained in {time.monotonic() - t0:.0f} s (the figures and the queue do not use "
                      "it)", flush=True)
        stores: dict[str, Any] = {}
        plan = ([("sqlite", None)] if sqlite else []) + ([("postgresql", postgres_url)] if postgres_url else [])
        for store, url in plan:
            store_dir = work / store
            store_dir.mkdir(parents=True, exist_ok=True)
            result: dict[str, Any] = {}
            try:
                if store == "sqlite":
                    db_path = store_dir / "charts.db"
                    if cache_dir is None:
                        result["seeded"] = seed_store(f"sqlite:///{db_path}", charts, seed, shown_share,
                                                      progress=not quiet).to_dict()
                        result["cached"] = False
                    else:
                        cached, info, hit = cached_sqlite(charts, seed, shown_share, cache_dir)
                        result["seeded"], result["cached"] = info.to_dict(), hit
                        result["cache_file"] = str(cached)
                        t0 = time.monotonic()
                        shutil.copyfile(cached, db_path)
                        result["copy_s"] = round(time.monotonic() - t0, 1)
                    url = f"sqlite:///{db_path}"
                else:
                    wipe_postgres(url)
                    result["seeded"] = seed_store(url, charts, seed, shown_share, progress=not quiet).to_dict()
                    result["cached"] = False
                if not quiet:
                    print(f"{store}: {charts:,} charts {'from the cache' if result['cached'] else 'seeded'} "
                          f"(seeding took {result['seeded']['seconds']:.0f} s)", flush=True)
                result["rows"] = table_counts(url)
                result["size_mb"] = database_size(url)
                if check:
                    result["rebuild_check"] = check_rebuild(url)
                result["measured"] = measure_store(url, model, store_dir, requests, warmup, coders, takes, workers,
                                                   threads, explain)
                if not quiet:
                    print_store(store, result)
            except Exception as exc:  # noqa: BLE001 - a store that cannot be measured is reported, the next runs
                import traceback

                result["error"] = f"{type(exc).__name__}: {exc}"
                result["traceback"] = traceback.format_exc()
                print(f"{store}: FAILED: {result['error']}\n{result['traceback']}", flush=True)
            stores[store] = result
    return {"charts": charts, "stores": stores}


def verdicts(report: dict[str, Any]) -> dict[str, Any]:
    """Per store: each figure's p95 and the next chart's p95 against their targets, and the double-take check."""
    out = {}
    for store, result in report["stores"].items():
        m = result.get("measured")
        if not m:
            continue
        out[store] = {**{f"figure_{name}": FIGURE_TARGET.met(s.get("p95_ms")) for name, s in m["figures"].items()},
                      "next_chart": NEXT_TARGET.met(m["next_parallel"].get("p95_ms")),
                      "no_double_takes": m["takes"]["ok"]}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.department", description=__doc__.split("\n\n")[0])
    parser.add_argument("--charts", type=int, default=DEFAULTS["charts"], help="stored charts to seed")
    parser.add_argument("--requests", type=int, default=DEFAULTS["requests"], help="timed requests per figure")
    parser.add_argument("--warmup", type=int, default=DEFAULTS["warmup"], help="untimed requests per figure first")
    parser.add_argument("--coders", type=int, default=DEFAULTS["coders"], help="concurrent coders taking charts")
    parser.add_argument("--takes", type=int, default=DEFAULTS["takes"], help="charts each coder takes in a row")
    parser.add_argument("--workers", type=int, default=DEFAULTS["workers"], help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=DEFAULTS["threads"], help="threads per worker")
    parser.add_argument("--shown-share", type=float, default=DEFAULTS["shown_share"],
                        help="share of the completed charts that hold the suggestions shown and their feedback")
    parser.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="random seed of the seeded charts")
    parser.add_argument("--postgres-url", default=os.environ.get(POSTGRES_ENV),
                        help=f"a PostgreSQL database that may be wiped (${POSTGRES_ENV})")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--no-cache", action="store_true", help="seed SQLite afresh and keep no copy")
    parser.add_argument("--model", type=Path, help="model folder to serve (default: a small model trained now)")
    parser.add_argument("--check-rebuild", action="store_true",
                        help="compare the seeded counters with api.analytics.rebuild (reads every chart: small sizes)")
    parser.add_argument("--json", type=Path, help="results file (default bench/results/department-*.json)")
    args = parser.parse_args(argv)
    if not args.postgres_url:
        print(f"PostgreSQL: skipped (no --postgres-url or ${POSTGRES_ENV})", flush=True)
    load_before = os.getloadavg()
    started = time.monotonic()
    report = run_department(args.charts, args.postgres_url, not args.no_sqlite, args.model, None,
                            None if args.no_cache else RESULTS_DIR, args.requests, args.warmup, args.coders,
                            args.takes, args.workers, args.threads, args.shown_share, args.seed, args.check_rebuild)
    report["verdicts"] = verdicts(report)
    report["load_average"] = {"before": load_before, "after": os.getloadavg()}
    report["cores"] = os.cpu_count()
    report["seconds"] = round(time.monotonic() - started, 1)
    report["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                      cwd=PROJECT_ROOT, check=False).stdout.strip()
    print(f"\nload average (1, 5, 15 min) before {' '.join(f'{x:.1f}' for x in load_before)}, after "
          f"{' '.join(f'{x:.1f}' for x in report['load_average']['after'])}; {os.cpu_count()} cores; "
          f"{report['seconds']:.0f} s in all")
    write_results(report, "department", args.json)
    return 1 if any("error" in r for r in report["stores"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
