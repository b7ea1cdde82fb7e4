"""Schemathesis against the real server (gunicorn on SQLite, the small model) with every check, once with a coder's
token and once with an admin's. ``make test-long`` sends more examples per operation; ``make fuzz`` is the long run
(50,000 requests and more)."""

from __future__ import annotations

import pytest

from bench.fuzz import fuzz_server, run_schemathesis

EXAMPLES = {False: 10, True: 25}
"""Generated examples per operation, short (CI) and long (besides schemathesis' boundary and negative cases, which do
not depend on it)."""
MIN_REQUESTS = {False: 500, True: 1000}
SEED = 20261130
"""CI sends the same requests every time; ``make fuzz`` draws new ones."""


@pytest.fixture(scope="module")
def server(tmp_path_factory, small_model_dir):
    with fuzz_server(small_model_dir, tmp_path_factory.mktemp("schemathesis")) as running:
        yield running


@pytest.mark.parametrize("role", ["coder", "admin"])
def test_schemathesis_finds_no_server_error_and_no_schema_violation(server, tmp_path, role, long_suites):
    run = run_schemathesis(server, role, EXAMPLES[long_suites], tmp_path, seed=SEED)
    print(run.summary())
    assert run.ok and run.requests >= MIN_REQUESTS[long_suites], run.summary() + "\n\n" + "\n\n".join(run.failures)
