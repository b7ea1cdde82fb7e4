"""Schemathesis against the real server: ``python -m bench.fuzz`` (``make fuzz``).

Starts ``suggest serve`` (gunicorn, 2 workers) on a throw-away SQLite chart store, with a small model trained in
seconds on synthetic charts, and runs ``schemathesis run --checks all`` (every check: no 5xx, status codes,
content types, headers and bodies as documented, schema-valid requests accepted and schema-violating ones refused,
authentication enforced) once with a coder token and once with an admin token. When ``SUGGEST_FUZZ_POSTGRES_URL``
(or ``SUGGEST_TEST_POSTGRES_URL``) names a PostgreSQL database that may be wiped, the same runs follow against a
server on it.

``SUGGEST_FUZZ_EXAMPLES`` (or ``--examples``) is the number of generated examples per operation and run; the default
makes about 60,000 requests per database, in about 21 minutes on two cores. Prints the requests the server
answered (counted by its own ``/metrics``), the 5xx among them and every failure with the request that reproduces it
(generated data only); exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from api.auth import ROLES
from bench.bench_api import create_token, server_env, start_server, stop_server

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_ENV = "SUGGEST_FUZZ_EXAMPLES"
POSTGRES_ENVS = ("SUGGEST_FUZZ_POSTGRES_URL", "SUGGEST_TEST_POSTGRES_URL")
DEFAULT_EXAMPLES = 2000

#: 413 is the documented answer to a body over 1 MB, a limit no JSON schema can state: a schema-valid text of
#: 200,000 characters can spell to more than that, so 413 counts as neither accepting nor wrongly refusing. Saving a
#: chart may also answer 422, the documented answer to an Idempotency-Key sent again with another body (schemathesis
#: draws few keys and many bodies). 400 is likewise the documented answer to a value well-formed by its schema but not
#: known to the server, which no schema states either: a code of the right shape that is not in the code set or not
#: billable (``codes[i]``, ``items[i].code``), a specialty the served model does not know, a document date in the
#: future (charts, their check, suggestions and feedback); and 409 that of a save whose codes hold unconfirmed code
#: edits of severity error.
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "413", "429", "5xx"]

[[operations]]
include-path = "/v1/charts"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "413", "422", "429",
                                                     "5xx"]

[[operations]]
include-path-regex = "^/v1/(charts/check|charts/[^/]+|charts/[^/]+/feedback|suggest|suggest/batch)$"
include-method-regex = "^(POST|PATCH)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "413", "429", "5xx"]

[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "409", "413", "415", "429", "5xx"]
"""


@dataclass
class Server:
    """A running ``suggest serve`` and a token of each role."""

    base_url: str
    tokens: dict[str, str]
    log_path: Path


@dataclass
class FuzzRun:
    """The outcome of one schemathesis run."""

    label: str
    exit_code: int
    seconds: float
    test_cases: int
    requests: int
    server_errors: int
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.server_errors == 0

    def summary(self) -> str:
        return (f"{self.label}: {self.requests} requests ({self.test_cases} generated test cases), "
                f"{self.server_errors} answered 5xx, {len(self.failures)} failures, {self.seconds:.0f} s")


@contextmanager
def fuzz_server(model_folder: Path, workdir: Path, database_url: str | None = None) -> Iterator[Server]:
    """``suggest serve`` for fuzzing: its own chart store and models folder under ``workdir``; no rate limit
    and no lockout of failed authentications (schemathesis sends unknown tokens on purpose; both limits have their
    own tests)."""
    variables = {"SUGGEST_AUTH_FAILURES_PER_MINUTE": "0", "SUGGEST_MODELS_DIR": str(model_folder.parent)}
    if database_url:
        variables["DATABASE_URL"] = database_url
    env = server_env(workdir, **variables)
    tokens = {role: create_token(env, role, f"fuzz-{role}") for role in ROLES}
    proc, port, log_path = start_server(str(model_folder), 2, 2, workdir, env)
    try:
        yield Server(f"http://127.0.0.1:{port}", tokens, log_path)
    finally:
        stop_server(proc)


def answered_requests(base_url: str) -> tuple[int, int]:
    """(requests, of which 5xx) the server has answered, from its Prometheus counter."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=30) as response:
        text = response.read().decode()
    total = errors = 0
    for line in text.splitlines():
        if line.startswith("suggest_http_requests_total{"):
            count = int(float(line.rsplit(" ", 1)[1]))
            total += count
            if re.search(r'status="5\d\d"', line):
                errors += count
    return total, errors


def run_schemathesis(server: Server, role: str, examples: int, workdir: Path, label: str = "",
                     seed: int | None = None) -> FuzzRun:
    """``schemathesis run --checks all`` against ``server`` with the token of ``role`` (a random seed unless
    given)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "schemathesis.toml"
    config.write_text(CONFIG)
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "bench.fuzz_hooks",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color", "run",
               f"{server.base_url}/openapi.json", "--checks", "all", "--max-examples", str(examples),
               "--exclude-checks", "ensure_resource_availability",  # bench.fuzz_hooks runs it, narrowed
               "--continue-on-failure", "--generation-database", "none", "--request-timeout", "60",
               "--header", f"Authorization: Bearer {server.tokens[role]}",
               "--report", "json", "--report-dir", str(workdir)]
    if seed is not None:
        command += ["--seed", str(seed)]
    before, errors_before = answered_requests(server.base_url)
    started = time.monotonic()
    done = subprocess.run(command, env=env, cwd=workdir, capture_output=True, text=True)
    seconds = time.monotonic() - started
    after, errors_after = answered_requests(server.base_url)
    output = done.stdout + done.stderr
    generated = re.search(r"(\d+) generated", output)
    return FuzzRun(label or role, done.returncode, seconds, int(generated.group(1)) if generated else 0,
                   after - before - 1, errors_after - errors_before, failure_reports(output, done.returncode))


def failure_reports(output: str, exit_code: int, width: int = 600) -> list[str]:
    """The failures and errors schemathesis printed, one report per test case headed by its operation, lines cut to
    ``width`` characters."""
    sections = re.split(r"^=+ (FAILURES|ERRORS|WARNINGS|SUMMARY) =+$", output, flags=re.M)
    reports: list[list[str]] = []
    for name, body in zip(sections[1::2], sections[2::2], strict=True):
        if name not in ("FAILURES", "ERRORS"):
            continue
        operation, report = "", None
        for line in body.splitlines():
            header = re.fullmatch(r"_{3,} (.+?) _{3,}", line)
            if header:
                operation, report = header.group(1), None
                continue
            if report is None or re.match(r"\d+\. Test Case ID", line):
                report = [f"{name[:-1].lower()} in {operation}"]
                reports.append(report)
            if line.strip() and "st replay" not in line:
                report.append(line if len(line) <= width else line[:width] + " ...[cut]")
    texts = ["\n".join(report) for report in reports if len(report) > 1]
    if exit_code != 0 and not texts:
        texts.append("\n".join(output.splitlines()[-40:]))
    return texts


def train_model(folder: Path) -> Path:
    from bench.engine import train_quick_model

    return train_quick_model().save(folder)


def wipe_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def throwaway_stores(postgres_url: str | None, prefix: str) -> Iterator[tuple[str, str | None, Path, Path]]:
    """(store name, database URL or None for SQLite, model folder, work folder) for SQLite and then, when
    ``postgres_url`` is given, PostgreSQL (wiped first), in a temporary folder removed afterwards, with a small model
    trained in seconds. The work folder exists (on SQLite the chart store's migration would make it, on PostgreSQL
    nothing would: the server's log goes there)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        model = train_model(work / "models" / "quick")
        for store, url in [("sqlite", None)] + ([("postgresql", postgres_url)] if postgres_url else []):
            if url:
                wipe_postgres(url)
            (work / store).mkdir()
            yield store, url, model, work / store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=int(os.environ.get(EXAMPLES_ENV) or DEFAULT_EXAMPLES),
                        help=f"examples per operation and run (${EXAMPLES_ENV}, default {DEFAULT_EXAMPLES})")
    args = parser.parse_args(argv)
    postgres = next((os.environ[name] for name in POSTGRES_ENVS if os.environ.get(name)), None)
    stores: list[str] = []
    runs: list[FuzzRun] = []
    for store, url, model, work in throwaway_stores(postgres, "bench-fuzz-"):
        stores.append(store)
        with fuzz_server(model, work, url) as server:
            for role in ROLES:
                run = run_schemathesis(server, role, args.examples, work / role, f"{store}, {role}")
                print(run.summary(), flush=True)
                for report in run.failures:
                    print(report, "\n", flush=True)
                runs.append(run)
    requests = sum(r.requests for r in runs)
    failures = sum(len(r.failures) for r in runs)
    server_errors = sum(r.server_errors for r in runs)
    print(f"total: {requests} requests, {server_errors} answered 5xx, {failures} failures "
          f"({', '.join(stores)}; {args.examples} examples per operation and run)")
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
