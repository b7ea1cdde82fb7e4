"""Shared test fixtures.

Tests that need the read-only corpora beside the project (``../shared``) take the
``shared_dir`` fixture, which skips them with a clear reason when it is absent.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]

#: ``make test-long`` (SUGGEST_TEST_LONG=1) runs the slow suites (Spark restarts, fuzzing, durability) at full size;
#: ``make test`` and CI run their short variants, which take the same code paths on less data.
LONG_SUITES = os.environ.get("SUGGEST_TEST_LONG") == "1"


@pytest.fixture(scope="session")
def long_suites() -> bool:
    """Whether the slow suites run at full size (``make test-long``) rather than as their short CI variants."""
    return LONG_SUITES


def _shared_dir() -> Path:
    return Path(os.environ.get("SUGGEST_SHARED_DIR", PROJECT_ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = _shared_dir()
    if not (path / "data").is_dir():
        pytest.skip(f"needs the shared corpora at {path} (set SUGGEST_SHARED_DIR); absent on this machine")
    return path


#: A fast configuration for test models: same code paths, fewer iterations.
SMALL_MODEL_CONFIG = {
    "cv_folds": 2,
    "ranker_max_iter": 60,
    "classifier_candidates": 15,
    "knn_candidates": 10,
    "max_candidates": 120,
}


@pytest.fixture(scope="session")
def held_out():
    """120 synthetic charts of another seed than the small model's training charts."""
    from training.synth import generate_charts

    return generate_charts(120, seed=12345)


@pytest.fixture(scope="session")
def small_training_charts():
    """300 synthetic charts (seed 11): the project's own material."""
    from training.synth import generate_charts

    return generate_charts(300, seed=11)


@pytest.fixture(scope="session")
def small_model_dir(tmp_path_factory, small_training_charts, _server_secret) -> Path:
    """A real Suggester trained in seconds on synthetic charts, saved to a folder (signed under the session's
    server secret)."""
    from suggest import Suggester

    charts = small_training_charts
    model = Suggester(**SMALL_MODEL_CONFIG, name="test-suggester").fit(
        [c.text for c in charts], [c.codes for c in charts], [c.specialty for c in charts], data_name="synthetic-300"
    )
    folder = tmp_path_factory.mktemp("models") / "small"
    model.save(folder)
    return folder


@pytest.fixture(scope="session")
def small_model(small_model_dir):
    """The small model, loaded (share it; do not refit)."""
    from suggest import Suggester

    return Suggester.load(small_model_dir)


@pytest.fixture(scope="session", autouse=True)
def _server_secret(tmp_path_factory):
    """A server secret of the test session's own (never the project's ``var/server-secret``); subprocesses that
    the tests start inherit it through the environment."""
    path = tmp_path_factory.mktemp("secret") / "server-secret"
    previous = os.environ.get("SUGGEST_SECRET_FILE")
    os.environ["SUGGEST_SECRET_FILE"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("SUGGEST_SECRET_FILE", None)
    else:
        os.environ["SUGGEST_SECRET_FILE"] = previous


def _spark_missing() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install '.[spark]')"
    if shutil.which("java") is None:
        return "Java is missing (Spark needs Java 17 or newer)"
    return None


@pytest.fixture(scope="session")
def spark():
    """One local Spark session (``local[2]``) for the test session; skipped with a reason where pyspark or Java is
    missing."""
    reason = _spark_missing()
    if reason:
        pytest.skip(reason)
    from suggest.spark.session import SparkOptions, spark_session

    session = spark_session(SparkOptions(master="local[2]", app_name="icd10cm-suggest-tests",
                                         conf={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4"}))
    yield session
    session.stop()
