"""Schemathesis against the real server (gunicorn on SQLite, the small model) with every check, once with a coder's
token and once with an admin's. ``make fuzz`` is the long run (50,000 requests and more)."""

from __future__ import annotations

import pytest

from bench.fuzz import fuzz_server, run_schemathesis

EXAMPLES = 25
"""Generated examples per operation (besides schemathesis' boundary and negative cases, which do not depend on it)."""
SEED = 20261130
"""CI sends the same requests every time; ``make fuzz`` draws new ones."""


@pytest.fixture(scope="module")
def server(tmp_path_factory, small_model_dir):
    with fuzz_server(small_model_dir, tmp_path_factory.mktemp("schemathesis")) as running:
        yield running


@pytest.mark.parametrize("role", ["coder", "admin"])
def test_schemathesis_finds_no_server_error_and_no_schema_violation(server, tmp_path, role):
    run = run_schemathesis(server, role, EXAMPLES, tmp_path, seed=SEED)
    print(run.summary())
    assert run.ok and run.requests >= 1000, run.summary() + "\n\n" + "\n\n".join(run.failures)
