"""Fixtures of the Spark tests (the ``spark`` session itself is in ``tests/conftest.py``)."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="session")
def spark_charts(held_out):
    """40 synthetic charts with gold codes, one with a specialty, one with an empty text."""
    charts = [{"id": c.id, "text": c.text, "codes": list(c.codes), "specialty": c.specialty} for c in held_out[:40]]
    charts[3]["specialty"] = "cardiology"
    charts.append({"id": "empty-text", "text": "", "codes": [], "specialty": None})
    return charts


@pytest.fixture(scope="session")
def charts_jsonl(tmp_path_factory, spark_charts):
    path = tmp_path_factory.mktemp("spark-input") / "charts.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in spark_charts), encoding="utf-8")
    return path
