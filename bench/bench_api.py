"""Benchmark of the HTTP service: ``python -m bench.bench_api``.

Starts the real server (``suggest serve`` = gunicorn, 2 workers) on loopback with the default model and a
throw-away chart store, then measures

1. an open-loop load of ``POST /v1/suggest`` at a fixed rate (default 50 req/s for 20 s) with ~400-word charts
   (CodiEsp dev texts when ``suggest.paths.shared_dir()`` has them, else synthetic charts). Requests are sent on
   schedule whatever the server's pace; latency is counted from the scheduled send time, so queueing shows;
2. the maximum throughput with 20 concurrent closed-loop clients, and its latencies;
3. baselines measured in the same run: ``GET /healthz`` over HTTP (server + network overhead) and in-process
   ``model.suggest`` on the same texts (the model alone).

Targets (printed, not asserted): p50 <= 30 ms and p99 <= 150 ms at 50 req/s, zero errors.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

WORDS_PER_CHART = 400


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000

    return {"n": len(values), "p50_ms": round(pct(50), 2), "p95_ms": round(pct(95), 2), "p99_ms": round(pct(99), 2),
            "max_ms": round(ordered[-1] * 1000, 2), "mean_ms": round(statistics.fmean(values) * 1000, 2)}


def load_charts(limit: int = 200, seed: int = 0) -> tuple[list[str], str]:
    """~400-word charts: CodiEsp dev texts (joined or cut to ~400 words), else synthetic ones."""
    from suggest.paths import shared_dir

    shared = shared_dir()
    folder = shared / "data" / "codiesp" / "dev" / "text_files_en" if shared else None
    if folder and folder.is_dir():
        words: list[str] = []
        charts: list[str] = []
        for path in sorted(folder.glob("*.txt")):
            words += path.read_text(encoding="utf-8").split()
            while len(words) >= WORDS_PER_CHART:
                charts.append(" ".join(words[:WORDS_PER_CHART]))
                words = words[WORDS_PER_CHART:]
            if len(charts) >= limit:
                break
        return charts, f"CodiEsp dev ({len(charts)} charts of {WORDS_PER_CHART} words)"
    rng = random.Random(seed)
    findings = ["type 2 diabetes mellitus", "essential hypertension", "community acquired pneumonia",
                "chronic kidney disease stage 3", "atrial fibrillation", "asthma exacerbation", "low back pain",
                "urinary tract infection", "major depressive disorder", "hyperlipidemia", "osteoarthritis of the knee",
                "no chest pain", "denies fever", "family history of colon cancer"]
    filler = ("the patient was seen in clinic today and reports feeling better overall with good adherence to the "
              "current regimen and no new complaints except as noted below").split()
    charts = []
    for _ in range(limit):
        words = []
        while len(words) < WORDS_PER_CHART:
            words += rng.sample(filler, 12) + rng.choice(findings).split() + ["."]
        charts.append("HISTORY OF PRESENT ILLNESS\n" + " ".join(words[:WORDS_PER_CHART]))
    return charts, f"synthetic ({len(charts)} charts of {WORDS_PER_CHART} words)"


class Client:
    """One keep-alive HTTP connection."""

    def __init__(self, port: int, token: str):
        self.port, self.token = port, token
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: dict | None = None) -> int:
        """The status of one request (0 when the connection failed twice)."""
        return self.exchange(method, path, body)[0]

    def exchange(self, method: str, path: str, body: dict | None = None, headers: dict[str, str] | None = None,
                 tries: int = 2) -> tuple[int, http.client.HTTPMessage | None, bytes]:
        """(status, response headers, response body) of one request, sent up to ``tries`` times on a fresh
        connection while the connection fails; (0, None, b"") when it failed every time."""
        payload = json.dumps(body).encode() if body is not None else None
        sent = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        if payload is not None:
            sent["Content-Type"] = "application/json"
        for _ in range(tries):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.conn.request(method, path, body=payload, headers=sent)
                response = self.conn.getresponse()
                return response.status, response.msg, response.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
        return 0, None, b""


def open_loop(port: int, token: str, charts: list[str], rate: float, seconds: float, threads: int = 64) -> dict:
    """Send ``rate`` requests per second for ``seconds`` on schedule; latency from the scheduled time."""
    jobs: queue.Queue = queue.Queue()
    results: list[tuple[float, float, int]] = []  # (from schedule, service time, status)
    lock = threading.Lock()

    def worker() -> None:
        client = Client(port, token)
        while True:
            job = jobs.get()
            if job is None:
                return
            due, text = job
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            start = time.perf_counter()
            status = client.request("POST", "/v1/suggest", {"text": text, "top_k": 10})
            end = time.perf_counter()
            with lock:
                results.append((end - due, end - start, status))

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    t0 = time.perf_counter() + 0.2
    n = int(rate * seconds)
    for i in range(n):
        due = t0 + i / rate
        while time.perf_counter() < due - 0.05:  # release jobs just before they are due
            time.sleep(0.01)
        jobs.put((due, charts[i % len(charts)]))
    for _ in pool:
        jobs.put(None)
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - t0
    errors = sum(1 for _, _, s in results if s != 200)
    return {"rate_target": rate, "sent": n, "achieved_rps": round(len(results) / elapsed, 1), "errors": errors,
            "latency": _percentiles([r[0] for r in results]), "service_time": _percentiles([r[1] for r in results])}


def closed_loop(port: int, token: str, charts: list[str], clients: int, seconds: float) -> dict:
    """``clients`` concurrent clients, each sending its next request as soon as the last one is answered."""
    stop = time.perf_counter() + seconds
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker(k: int) -> None:
        client = Client(port, token)
        i = k
        while time.perf_counter() < stop:
            start = time.perf_counter()
            status = client.request("POST", "/v1/suggest", {"text": charts[i % len(charts)], "top_k": 10})
            took = time.perf_counter() - start
            with lock:
                latencies.append(took)
                errors[0] += status != 200
            i += clients

    t0 = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - t0
    return {"clients": clients, "requests": len(latencies), "throughput_rps": round(len(latencies) / elapsed, 1),
            "errors": errors[0], "latency": _percentiles(latencies)}


def healthz_baseline(port: int, n: int = 300) -> dict:
    client = Client(port, "")
    times = []
    for _ in range(n):
        start = time.perf_counter()
        client.request("GET", "/healthz")
        times.append(time.perf_counter() - start)
    return _percentiles(times)


def in_process_baseline(model_ref: str, charts: list[str], n: int = 200) -> dict:
    import suggest

    model = suggest.load_model(model_ref)
    for text in charts[:5]:
        model.suggest(text, top_k=10)
    times = []
    for i in range(n):
        start = time.perf_counter()
        model.suggest(charts[i % len(charts)], top_k=10)
        times.append(time.perf_counter() - start)
    return _percentiles(times)


def in_process_batch_rate(model_ref: str, charts: list[str], n_jobs: int = 2, repeats: int = 3) -> dict:
    """Charts per second of ``suggest_batch`` over all ``charts`` in this process with ``n_jobs`` processes (median
    of ``repeats``, after a warm-up): what the HTTP service is compared with."""
    import suggest

    model = suggest.load_model(model_ref)
    model.suggest_batch(charts, top_k=10, n_jobs=n_jobs)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.suggest_batch(charts, top_k=10, n_jobs=n_jobs)
        rates.append(len(charts) / (time.perf_counter() - start))
    return {"n_jobs": n_jobs, "charts_per_s_median": round(statistics.median(rates), 1), "runs": len(rates)}


def cold_start(workdir: Path, env: dict[str, str]) -> float:
    """Seconds from ``suggest serve`` (no ``--model``: the registry's champion, else the default model, as
    ``make serve`` starts it) to its first 200 on ``/readyz``."""
    started = time.perf_counter()
    proc, _port, _log = start_server(None, 2, 8, workdir, env, poll_seconds=0.02)
    ready = time.perf_counter() - started
    stop_server(proc)
    return ready


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(workdir: Path, **variables: str) -> dict[str, str]:
    """The environment of a throw-away server: chart store under ``workdir``, no rate limit; ``variables`` add to it
    or override it. The server secret stays the installation's (``$SUGGEST_SECRET_FILE``): the models it serves are
    signed under it."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{workdir / 'charts.db'}", "SUGGEST_RATE_LIMIT": "", **variables}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def create_token(env: dict[str, str], role: str = "coder", user: str = "bench") -> str:
    """A new token of the server whose environment is ``env`` (``suggest tokens create``)."""
    created = subprocess.run([sys.executable, "-m", "suggest", "tokens", "create", "--role", role, "--user", user],
                             env=env, capture_output=True, text=True, check=True)
    return created.stdout.strip().splitlines()[-1]


def start_server(model: str | None, workers: int, threads: int, workdir: Path, env: dict[str, str] | None = None,
                 port: int | None = None, own_process_group: bool = False,
                 serve_options: tuple[str, ...] = (), poll_seconds: float = 0.5) -> tuple[subprocess.Popen, int, Path]:
    """``suggest serve`` on ``port`` (default: a free loopback port), once it answers ``/readyz`` (asked every
    ``poll_seconds``): (process, port, log file, appended to). ``model`` None: no ``--model`` (the registry's
    champion, else the default model). ``own_process_group``: the server (gunicorn's master) leads a process group of
    its own, which its workers join, so that ``os.killpg`` stops them all and nothing else. ``serve_options`` are more
    options of ``suggest serve``."""
    env = env or server_env(workdir)
    port = port or _free_port()
    log_path = workdir / "server.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "suggest", "serve", *(["--model", model] if model else []),
                                 "--port", str(port), "--workers", str(workers), "--threads", str(threads),
                                 *serve_options],
                                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=own_process_group)
    deadline = time.monotonic() + 900  # the default model is built on first use on a fresh machine
    probe = Client(port, "")
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{log_path.read_text()[-3000:]}")
        try:
            if probe.request("GET", "/readyz") == 200:
                return proc, port, log_path
        except OSError:
            pass
        time.sleep(poll_seconds)
    proc.kill()
    raise SystemExit("server did not become ready")


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_api", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="model reference to serve (default: default)")
    parser.add_argument("--rate", type=float, default=50.0, help="open-loop request rate (default 50/s)")
    parser.add_argument("--seconds", type=float, default=20.0, help="open-loop duration (default 20 s)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients for max throughput (default 20)")
    parser.add_argument("--max-seconds", type=float, default=10.0, help="max-throughput duration (default 10 s)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8, help="threads per worker (default 8, as suggest serve)")
    parser.add_argument("--output", type=Path, default=Path("bench/results/api.json"))
    args = parser.parse_args(argv)

    charts, source = load_charts()
    print(f"charts: {source}")
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        env = server_env(Path(tmp))
        token = create_token(env)
        starts = [cold_start(Path(tmp), env) for _ in range(3)]
        results = {"cold_start_s": [round(x, 2) for x in starts]}
        print(f"cold start, suggest serve to /readyz (2 workers, 3 starts): median {statistics.median(starts):.2f} s "
              f"(runs {', '.join(f'{x:.2f}' for x in starts)}); target <= 5 s: "
              f"{'met' if statistics.median(starts) <= 5 else 'NOT met'}")
        proc, port, _log = start_server(args.model, args.workers, args.threads, Path(tmp), env)
        try:
            closed_loop(port, token, charts, args.workers * args.threads, 3.0)  # warm every worker thread
            print(f"server: gunicorn, {args.workers} workers x {args.threads} threads, model {args.model!r}, "
                  f"port {port}")
            results.update({"source": source, "model": args.model, "workers": args.workers, "threads": args.threads})
            results["healthz_baseline"] = healthz_baseline(port)
            print(f"baseline GET /healthz:            {_fmt(results['healthz_baseline'])}")
            results["open_loop"] = open_loop(port, token, charts, args.rate, args.seconds)
            ol = results["open_loop"]
            print(f"open loop {args.rate:g} req/s for {args.seconds:g} s: sent {ol['sent']}, errors {ol['errors']}, "
                  f"achieved {ol['achieved_rps']} req/s")
            print(f"  latency (from schedule):        {_fmt(ol['latency'])}")
            print(f"  service time:                   {_fmt(ol['service_time'])}")
            met = (ol["latency"].get("p50_ms", 1e9) <= 30 and ol["latency"].get("p99_ms", 1e9) <= 150
                   and ol["errors"] == 0)
            print(f"  targets p50 <= 30 ms, p99 <= 150 ms, 0 errors: {'met' if met else 'NOT met'}")
            results["max_throughput"] = closed_loop(port, token, charts, args.clients, args.max_seconds)
            mt = results["max_throughput"]
            print(f"max throughput, {args.clients} clients: {mt['throughput_rps']} req/s, errors {mt['errors']}")
            print(f"  latency:                        {_fmt(mt['latency'])}")
        finally:
            stop_server(proc)
    results["in_process_baseline"] = in_process_baseline(args.model, charts)
    print(f"baseline in-process model.suggest: {_fmt(results['in_process_baseline'])}")
    results["in_process_batch"] = in_process_batch_rate(args.model, charts)
    share = results["max_throughput"]["throughput_rps"] / results["in_process_batch"]["charts_per_s_median"]
    results["http_share_of_batch"] = round(share, 3)
    print(f"baseline in-process suggest_batch, n_jobs=2: {results['in_process_batch']['charts_per_s_median']} charts/s;"
          f" HTTP max throughput is {share:.0%} of it (target >= 70%: {'met' if share >= 0.7 else 'NOT met'})")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print(f"results written to {args.output}")
    return 0


def _fmt(stats: dict) -> str:
    if not stats.get("n"):
        return "no data"
    return (f"p50 {stats['p50_ms']:.1f} ms  p95 {stats['p95_ms']:.1f} ms  p99 {stats['p99_ms']:.1f} ms  "
            f"max {stats['max_ms']:.1f} ms  (n={stats['n']})")


if __name__ == "__main__":
    sys.exit(main())
