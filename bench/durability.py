"""Durability under ``kill -9``: ``python -m bench.durability`` (``make durability``).

Starts the real server (``suggest serve``: gunicorn, 2 workers x 4 threads) on a throw-away chart store with a small
model trained in seconds. ``--clients`` threads (default 8) save ``--saves`` charts (default 10,000) with
``POST /v1/charts``, each with an ``Idempotency-Key`` and a marker of its own (in the patient id, the encounter id
and the text; synthetic charts, no patient data), and record every acknowledged (201) answer. Meanwhile the whole
server, master and workers (its process group), is killed with SIGKILL ``--kills`` times (default 5), each time at
a random moment within its share of the run, and started again on the same database and port. A save whose request
fails (connection refused or reset, 5xx) is retried with the same key and body until it is acknowledged.

At the end every acknowledged chart is read back through the API and straight from the database: it must be there,
with the text, codes and fields sent (else *lost* or *corrupted*), and no marker may have more than one chart (else
*duplicated*); the idempotency keys must map one to one onto the charts. Runs on SQLite, then on PostgreSQL when
``--postgres-url`` or ``SUGGEST_DURABILITY_POSTGRES_URL`` names a database that may be wiped (only the service is
killed, never the database server). Prints the figures and writes them to
``bench/results/durability-<UTC timestamp>.json``; exits 1 when anything was lost, corrupted, duplicated or left
unacknowledged.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.bench_api import Client, create_token, server_env, start_server, stop_server

POSTGRES_ENV = "SUGGEST_DURABILITY_POSTGRES_URL"
DEFAULTS = {"saves": 10_000, "clients": 8, "kills": 5, "workers": 2, "threads": 4}
#: How long one save is retried before the client gives up on it (it then counts as unacknowledged).
GIVE_UP_SECONDS = 180.0
#: Fields of a saved chart compared with what was sent (codes apart: they are compared normalised).
FIELDS = ("patient_id", "encounter_id", "text", "provider", "document_date", "specialty")


@dataclass
class Save:
    """One chart to save, and what became of it."""

    marker: str
    key: str
    body: dict[str, Any]
    codes: list[str]
    """The codes as the server stores them (normalised)."""
    attempts: int = 0
    chart_id: int | None = None
    replayed: bool = False
    answer_mismatch: str | None = None
    refused: str | None = None

    def differences(self, chart: dict[str, Any]) -> list[str]:
        """The fields of ``chart`` (a chart as the API returns it) that differ from what was sent."""
        wrong = [name for name in FIELDS if chart.get(name) != self.body.get(name)]
        return wrong + (["codes"] if chart.get("codes") != self.codes else [])


def make_saves(n: int, seed: int, run: str) -> list[Save]:
    """``n`` synthetic charts (``training.synth``), each made unique by a marker in its ids and text."""
    from api.store import normalize_codes
    from training.synth import generate_charts

    pool = generate_charts(min(n, 500), seed)
    rng = random.Random(seed)
    today = dt.date.today()  # a saved chart's date is not in the future
    saves = []
    for i in range(n):
        chart = pool[i % len(pool)]
        marker = f"DUR-{run}-{i:06d}"
        # confirm_findings: the synthetic codes are saved as generated, whatever the code edits say of them
        body = {"patient_id": marker, "encounter_id": f"ENC-{run}-{i:06d}",
                "text": f"{chart.text}\nDurability reference: {marker}\n", "codes": chart.codes,
                "provider": f"Synthetic Clinician {rng.randrange(40)}",
                "document_date": (today - dt.timedelta(days=rng.randrange(1, 366))).isoformat(),
                "specialty": chart.specialty, "confirm_findings": True}
        saves.append(Save(marker, f"{run}-{i:06d}-{rng.getrandbits(64):016x}", body, normalize_codes(chart.codes)))
    return saves


class KillableServer:
    """``suggest serve`` in a process group of its own, on one port and one database, killed and started again."""

    def __init__(self, model: Path, workdir: Path, env: dict[str, str], workers: int, threads: int):
        self.model, self.workdir, self.env = str(model), workdir, env
        self.workers, self.threads = workers, threads
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> float:
        """Start it (on the port of the first start); the seconds until it answered ``/readyz``."""
        started = time.monotonic()
        metrics = self.workdir / f"metrics-{self.starts}"  # a killed server cannot remove its own
        metrics.mkdir()
        self.starts += 1
        env = {**self.env, "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
        self.proc, self.port, _log = start_server(self.model, self.workers, self.threads, self.workdir, env,
                                                  port=self.port, own_process_group=True)
        return time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL to the master and its workers at once, as a power cut of the service would leave them."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_server(self.proc)


@dataclass
class Tally:
    """What the clients and the killer saw, shared between their threads."""

    acknowledged: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    kills: list[dict[str, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, status: int) -> None:
        with self.lock:
            self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1


def save_until_acknowledged(client: Client, save: Save, tally: Tally) -> None:
    """POST the save, again and again with the same key and body while the server is away or fails."""
    headers = {"Idempotency-Key": save.key}
    deadline = time.monotonic() + GIVE_UP_SECONDS
    pause = 0.02
    while time.monotonic() < deadline:
        save.attempts += 1
        status, answer_headers, raw = client.exchange("POST", "/v1/charts", save.body, headers, tries=1)
        tally.saw(status)
        if status == 201:
            chart = json.loads(raw)
            save.chart_id = chart["id"]
            save.replayed = answer_headers is not None and answer_headers.get("Idempotent-Replayed") == "true"
            wrong = save.differences(chart)
            save.answer_mismatch = ", ".join(wrong) or None
            with tally.lock:
                tally.acknowledged += 1
            return
        if status and status < 500 and status != 429:
            save.refused = f"{status} {raw[:200].decode(errors='replace')}"
            return
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


def run_clients(server: KillableServer, token: str, saves: list[Save], clients: int, kills: int,
                rng: random.Random) -> Tally:
    """The clients save every chart while a killer thread kills and restarts the server ``kills`` times: kill k
    comes at a random point of the first two thirds of the k-th share of the run (counted in acknowledged saves),
    plus up to 50 ms. So that every kill happens however fast the saves go, no client takes a save past nine
    tenths of the k-th share until kill k is done."""
    tally = Tally()
    share = len(saves) / kills if kills else 0
    thresholds = [int(share * (k + rng.uniform(0.1, 0.67))) for k in range(kills)]
    gates = [int(share * (k + 0.9)) for k in range(kills)]
    done = threading.Event()
    gate = threading.Condition()
    killer_gone = threading.Event()

    def killer() -> None:
        try:
            kill_at_thresholds()
        finally:  # a killer that failed must not leave the clients waiting at a gate
            with gate:
                killer_gone.set()
                gate.notify_all()

    def kill_at_thresholds() -> None:
        for threshold in thresholds:
            while tally.acknowledged < threshold and not done.is_set():
                time.sleep(0.002)
            if done.is_set():
                return
            time.sleep(rng.uniform(0, 0.05))
            at = tally.acknowledged
            server.kill()
            restart = server.start()
            with gate:
                tally.kills.append({"acknowledged_before": at, "restart_seconds": round(restart, 2)})
                gate.notify_all()

    taken = 0

    def next_save() -> Save | None:
        nonlocal taken
        with gate:
            gate.wait_for(lambda: killer_gone.is_set() or len(tally.kills) >= kills
                          or taken < gates[len(tally.kills)])
            if taken == len(saves):
                return None
            taken += 1
            return saves[taken - 1]

    def client_loop() -> None:
        client = Client(server.port, token)
        while (save := next_save()) is not None:
            save_until_acknowledged(client, save, tally)

    killing = threading.Thread(target=killer, name="killer")
    killing.start()
    pool = [threading.Thread(target=client_loop, name=f"client-{k}") for k in range(clients)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    done.set()
    killing.join()
    return tally


def verify_through_api(port: int, token: str, saves: list[Save], clients: int = 4) -> dict[str, Any]:
    """Every acknowledged chart read back (``GET /v1/charts/{id}``) and every chart listed, to count markers."""
    local = threading.local()

    def read_back(save: Save) -> str | None:
        if not hasattr(local, "client"):
            local.client = Client(port, token)
        status, _headers, raw = local.client.exchange("GET", f"/v1/charts/{save.chart_id}")
        if status == 404:
            return "lost"
        return "corrupted" if status != 200 or save.differences(json.loads(raw)) else None

    acknowledged = [s for s in saves if s.chart_id is not None]
    with ThreadPoolExecutor(clients) as pool:
        outcomes = list(pool.map(read_back, acknowledged))
    lost = [s.marker for s, outcome in zip(acknowledged, outcomes, strict=True) if outcome == "lost"]
    corrupted = [s.marker for s, outcome in zip(acknowledged, outcomes, strict=True) if outcome == "corrupted"]
    client = Client(port, token)
    markers: dict[str, int] = {}
    page = 1
    while True:
        status, _headers, raw = client.exchange("GET", f"/v1/charts?per_page=200&page={page}")
        if status != 200:
            raise RuntimeError(f"listing charts answered {status}")
        listing = json.loads(raw)
        for item in listing["items"]:
            markers[item["patient_id"]] = markers.get(item["patient_id"], 0) + 1
        if page * listing["per_page"] >= listing["total"]:
            break
        page += 1
    return {"lost": lost, "corrupted": corrupted, "charts_listed": sum(markers.values()),
            "duplicated": sorted(m for m, n in markers.items() if n > 1)}


def verify_in_database(database_url: str, saves: list[Save]) -> dict[str, Any]:
    """The same, straight from the tables: charts, their codes, and the idempotency keys."""
    from sqlalchemy import select

    from api.db import ChartCode, ChartRow, IdempotencyKey, make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            charts = {row.id: row for row in conn.execute(select(ChartRow.__table__))}
            codes: dict[int, list[str]] = {}
            for row in conn.execute(select(ChartCode.chart_id, ChartCode.code).order_by(ChartCode.chart_id,
                                                                                       ChartCode.position)):
                codes.setdefault(row.chart_id, []).append(row.code)
            keys = list(conn.execute(select(IdempotencyKey.key, IdempotencyKey.chart_id)))
            integrity = (conn.exec_driver_sql("PRAGMA integrity_check").scalar()
                         if engine.dialect.name == "sqlite" else None)
    finally:
        engine.dispose()
    lost, corrupted = [], []
    for save in saves:
        if save.chart_id is None:
            continue
        row = charts.get(save.chart_id)
        if row is None:
            lost.append(save.marker)
            continue
        chart = {name: getattr(row, name) for name in FIELDS}
        chart["document_date"] = row.document_date.isoformat() if row.document_date else None
        chart["codes"] = codes.get(row.id, [])
        if save.differences(chart):
            corrupted.append(save.marker)
    markers: dict[str, int] = {}
    for row in charts.values():
        markers[row.patient_id] = markers.get(row.patient_id, 0) + 1
    by_key = {key: chart_id for key, chart_id in keys}
    expected = {save.key: save.chart_id for save in saves if save.chart_id is not None}
    return {"lost": lost, "corrupted": corrupted, "charts": len(charts),
            "duplicated": sorted(m for m, n in markers.items() if n > 1),
            "keys": len(keys), "charts_without_key": len(set(charts) - set(by_key.values())),
            "keys_naming_another_chart": sum(by_key.get(k) != chart_id for k, chart_id in expected.items()),
            "unacknowledged_but_stored": sum(1 for s in saves if s.chart_id is None and s.marker in markers),
            "integrity_check": integrity}


def run_durability(model: Path, workdir: Path, database_url: str | None = None, saves: int = DEFAULTS["saves"],
                   clients: int = DEFAULTS["clients"], kills: int = DEFAULTS["kills"], seed: int = 0,
                   workers: int = DEFAULTS["workers"], threads: int = DEFAULTS["threads"]) -> dict[str, Any]:
    """One run on one database (SQLite under ``workdir`` unless ``database_url``): save, kill, verify."""
    rng = random.Random(seed)
    variables = {"SUGGEST_AUTH_FAILURES_PER_MINUTE": "0", "PYTHONUNBUFFERED": "1"}
    if database_url:
        variables["DATABASE_URL"] = database_url
    workdir.mkdir(parents=True, exist_ok=True)
    env = server_env(workdir, **variables)
    database_url = env["DATABASE_URL"]
    token = create_token(env, "coder", "durability")
    plan = make_saves(saves, seed, f"{seed:x}{rng.getrandbits(16):04x}")
    server = KillableServer(model, workdir, env, workers, threads)
    first_start = server.start()
    started = time.monotonic()
    try:
        tally = run_clients(server, token, plan, clients, kills, rng)
        seconds = time.monotonic() - started
        api = verify_through_api(server.port, token, plan)
    finally:
        server.stop()
    stored = verify_in_database(database_url, plan)
    acknowledged = [s for s in plan if s.chart_id is not None]
    report = {
        "database": "postgresql" if database_url.startswith("postgresql") else "sqlite",
        "saves_attempted": len(plan),
        "acknowledged": len(acknowledged),
        "unacknowledged": len(plan) - len(acknowledged),
        "refused": [f"{s.marker}: {s.refused}" for s in plan if s.refused][:20],
        "retried": sum(s.attempts > 1 for s in plan),
        "requests": sum(s.attempts for s in plan),
        "replayed": sum(s.replayed for s in plan),
        "kills": len(tally.kills),
        "lost": len(set(api["lost"]) | set(stored["lost"])),
        "corrupted": len(set(api["corrupted"]) | set(stored["corrupted"])
                         | {s.marker for s in plan if s.answer_mismatch}),
        "duplicates": len(set(api["duplicated"]) | set(stored["duplicated"])),
        "seconds": round(seconds, 1),
        "saves_per_second": round(len(acknowledged) / seconds, 1) if seconds else None,
        "first_start_seconds": round(first_start, 1),
        "kill_log": tally.kills,
        "statuses": dict(sorted(tally.statuses.items())),
        "through_api": {k: (len(v) if isinstance(v, list) else v) for k, v in api.items()},
        "in_database": {k: (len(v) if isinstance(v, list) else v) for k, v in stored.items()},
        "config": {"clients": clients, "kills_asked": kills, "workers": workers, "threads": threads, "seed": seed},
    }
    report["ok"] = (report["lost"] == report["corrupted"] == report["duplicates"] == report["unacknowledged"] == 0
                    and report["kills"] == kills and not report["refused"]
                    and stored["keys_naming_another_chart"] == stored["charts_without_key"] == 0
                    and stored["integrity_check"] in (None, "ok"))
    return report


def summary(report: dict[str, Any]) -> str:
    return (f"{report['database']}: {report['saves_attempted']} saves attempted, {report['acknowledged']} "
            f"acknowledged ({report['replayed']} as replays), {report['retried']} retried "
            f"({report['requests']} requests), {report['kills']} kills; lost {report['lost']}, corrupted "
            f"{report['corrupted']}, duplicates {report['duplicates']}, unacknowledged {report['unacknowledged']}; "
            f"{report['seconds']} s ({report['saves_per_second']} saves/s)")


def main(argv: list[str] | None = None) -> int:
    from bench.engine import write_results
    from bench.fuzz import throwaway_stores

    parser = argparse.ArgumentParser(prog="python -m bench.durability", description=__doc__.split("\n\n")[0])
    parser.add_argument("--saves", type=int, default=DEFAULTS["saves"], help="charts to save per database")
    parser.add_argument("--clients", type=int, default=DEFAULTS["clients"], help="client threads")
    parser.add_argument("--kills", type=int, default=DEFAULTS["kills"], help="SIGKILLs of the server per database")
    parser.add_argument("--workers", type=int, default=DEFAULTS["workers"], help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=DEFAULTS["threads"], help="threads per worker")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: drawn)")
    parser.add_argument("--postgres-url", default=os.environ.get(POSTGRES_ENV),
                        help=f"a PostgreSQL database that may be wiped (${POSTGRES_ENV})")
    parser.add_argument("--json", type=Path, help="results file (default bench/results/durability-*.json)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    if not args.postgres_url:
        print(f"PostgreSQL: skipped (no --postgres-url or ${POSTGRES_ENV})", flush=True)
    reports = []
    for _store, url, model, work in throwaway_stores(args.postgres_url, "bench-durability-"):
        report = run_durability(model, work, url, args.saves, args.clients, args.kills, seed, args.workers,
                                args.threads)
        print(summary(report), flush=True)
        reports.append(report)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent, check=False).stdout.strip()
    write_results({"commit": commit, "seed": seed, "load_average": os.getloadavg(), "runs": reports}, "durability",
                  args.json)
    return 0 if all(r["ok"] for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
