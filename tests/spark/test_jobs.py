"""``suggest predict --engine spark`` and ``suggest evaluate --engine spark`` on Spark's local mode, against the
local path on the same charts, with the small real model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from suggest.cli import main as suggest_main
from suggest.errors import SuggestError


def _local_predictions(model_dir: Path, charts_jsonl: Path, tmp_path: Path) -> dict[str, dict]:
    out = tmp_path / "local.jsonl"
    assert suggest_main(["predict", "--model", str(model_dir), "--input", str(charts_jsonl), "--output", str(out),
                         "--jobs", "1"]) == 0
    return {line["id"]: line for line in map(json.loads, out.read_text(encoding="utf-8").splitlines())}


def _spark_rows(spark, folder: Path, fmt: str) -> dict[str, dict]:
    from suggest.spark.executor import PREDICTION_SCHEMA

    frame = spark.read.schema(f"{PREDICTION_SCHEMA}, bucket INT").format(fmt).load(str(folder))
    rows = [row.asDict(recursive=True) for row in frame.collect()]
    assert len(rows) == len({r["id"] for r in rows}), "a chart was written twice"
    return {r["id"]: r for r in rows}


def _assert_same_suggestions(spark_row: dict, local_line: dict) -> None:
    got, want = spark_row["suggestions"], local_line["suggestions"]
    assert [s["code"] for s in got] == [s["code"] for s in want]
    for g, w in zip(got, want, strict=True):
        assert abs(g["confidence"] - w["confidence"]) <= 1e-6
        assert g["selected"] == w["selected"]
        assert [(e["start"], e["end"], e["text"]) for e in g["evidence"]] == \
            [(e["start"], e["end"], e["text"]) for e in w["evidence"]]
        assert g["evidence"] == w["evidence"] and g["rules"] == w["rules"] and g["sources"] == w["sources"]
    assert spark_row["setting"] == local_line["setting"]
    assert spark_row["warnings"] == local_line.get("warnings", [])


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_predict_from_a_file_gives_what_suggest_predict_gives(spark, small_model_dir, charts_jsonl, spark_charts,
                                                              tmp_path, fmt):
    from suggest.spark.predict import PredictJob, run_predict
    from suggest.spark.sources import ChartSource

    source_path = charts_jsonl
    if fmt == "parquet":  # the same charts as a Parquet file
        source_path = tmp_path / "charts.parquet"
        spark.read.json(str(charts_jsonl)).write.parquet(str(source_path))
    output = tmp_path / "out"
    summary = run_predict(spark, ChartSource(path=str(source_path)),
                          PredictJob(model=str(small_model_dir), output=str(output), output_format=fmt, buckets=3,
                                     top_k=20))
    assert (summary.charts, summary.failed, summary.buckets_written) == (len(spark_charts), 0, 3)
    assert (output / "_SUCCESS").exists() and json.loads((output / "_summary.json").read_text())["charts"] == 41
    rows = _spark_rows(spark, output, "json" if fmt == "jsonl" else "parquet")
    local = _local_predictions(small_model_dir, charts_jsonl, tmp_path)
    assert rows.keys() == local.keys()
    for chart_id, line in local.items():
        _assert_same_suggestions(rows[chart_id], line)
        assert rows[chart_id]["error"] is None
        assert rows[chart_id]["model_name"] == "test-suggester"
        assert rows[chart_id]["model_version"] == "local"
        assert rows[chart_id]["codeset_release"].startswith("ICD-10-CM")
    assert any(rows[c]["suggestions"] for c in rows) and rows["empty-text"]["warnings"]


def test_a_rerun_skips_finished_buckets_and_another_job_is_refused(spark, small_model_dir, charts_jsonl, tmp_path):
    from suggest.spark.predict import PredictJob, run_predict
    from suggest.spark.sources import ChartSource

    source = ChartSource(path=str(charts_jsonl))
    job = PredictJob(model=str(small_model_dir), output=str(tmp_path / "out"), buckets=4)
    first = run_predict(spark, source, job)
    again = run_predict(spark, source, job)
    assert (again.charts, again.buckets_written, again.buckets_skipped) == (0, 0, 4)
    assert again.output_charts == first.charts == 41
    with pytest.raises(SuggestError, match="another job.*buckets 4"):
        run_predict(spark, source, job.model_copy(update={"buckets": 8}))
    redone = run_predict(spark, source, job.model_copy(update={"buckets": 8, "overwrite": True}))
    assert (redone.charts, redone.buckets_written, redone.output_charts) == (41, 8, 41)


def test_bad_records_get_an_error_and_the_job_goes_on(spark, small_model_dir, tmp_path):
    from suggest.spark.predict import PredictJob, run_predict
    from suggest.spark.sources import ChartSource

    path = tmp_path / "mixed.jsonl"
    path.write_text('{"id": "ok", "text": "Assessment: essential hypertension."}\n{"id": "broken", "text": \n'
                    '{"id": "no-text"}\n{"text": "Assessment: asthma."}\n', encoding="utf-8")
    output = tmp_path / "out"
    summary = run_predict(spark, ChartSource(path=str(path)),
                          PredictJob(model=str(small_model_dir), output=str(output), output_format="jsonl", buckets=2))
    assert (summary.charts, summary.failed) == (4, 3)
    rows = [json.loads(line) for f in sorted(output.glob("bucket=*/*.json")) for line in f.read_text().splitlines()]
    errors = sorted(r.get("error") or "" for r in rows)
    assert errors[0] == "" and any("malformed record" in e and "mixed.jsonl" in e for e in errors)
    assert "no text" in errors and "no id" in errors
    assert next(r for r in rows if r.get("id") == "ok")["suggestions"]


def test_a_missing_column_is_named(spark, small_model_dir, tmp_path):
    from suggest.spark.predict import PredictJob, run_predict
    from suggest.spark.sources import ChartSource

    path = tmp_path / "charts.csv"
    path.write_text("chart,body\nc1,Essential hypertension.\n", encoding="utf-8")
    with pytest.raises(SuggestError, match=r"charts.csv: no column 'id' \(columns: body, chart\)"):
        run_predict(spark, ChartSource(path=str(path)), PredictJob(model=str(small_model_dir),
                                                                  output=str(tmp_path / "out")))
    summary = run_predict(spark, ChartSource(path=str(path), id_column="chart", text_column="body"),
                          PredictJob(model=str(small_model_dir), output=str(tmp_path / "out2"), buckets=1))
    assert (summary.charts, summary.failed) == (1, 0)


def test_evaluate_on_spark_gives_the_local_metrics(spark, small_model, small_model_dir, charts_jsonl, spark_charts):
    from suggest.corpus import read_jsonl
    from suggest.spark.evaluate import run_evaluate
    from suggest.spark.sources import ChartSource
    from training.evaluation import evaluate_model

    local = evaluate_model(small_model, read_jsonl(charts_jsonl), top_k=50).metrics
    result = run_evaluate(spark, ChartSource(path=str(charts_jsonl)), model=str(small_model_dir), top_k=50)
    assert result.failed == 0
    assert result.metrics.keys() == local.keys()
    for name, value in local.items():
        assert result.metrics[name] == pytest.approx(value, abs=1e-9), name
    assert 0 < result.metrics["map"] < 1 and result.metrics["n_charts"] == len(spark_charts)
    from training.evaluation import chapters_of_counts, evaluate_model as evaluate_again, per_chapter

    assert chapters_of_counts(result.code_counts) == per_chapter(evaluate_again(small_model, read_jsonl(charts_jsonl)))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """The chart store's URL: an SQLite file, and the throw-away PostgreSQL database CI names."""
    if request.param == "sqlite":
        if not Path("/usr/share/java/xerial-sqlite-jdbc.jar").is_file():
            pytest.skip("the SQLite JDBC driver is missing (Debian package libxerial-sqlite-jdbc-java; make test "
                        "installs it)")
        return f"sqlite:///{tmp_path / 'charts.db'}"
    url = os.environ.get("SUGGEST_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("set SUGGEST_TEST_POSTGRES_URL to a throw-away PostgreSQL database")
    if not Path("/usr/share/java/postgresql.jar").is_file():
        pytest.skip("the PostgreSQL JDBC driver is missing (Debian package libpostgresql-jdbc-java)")
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def test_the_chart_store_is_read_over_jdbc(spark, small_model, small_model_dir, tmp_path, store_url):
    from api.app import create_app
    from api.auth import create_token
    from api.config import ApiConfig
    from suggest.spark.evaluate import run_evaluate
    from suggest.spark.predict import PredictJob, run_predict
    from suggest.spark.sources import ChartSource

    url = store_url
    app = create_app(ApiConfig(database_url=url, rate_limit=""), model=small_model)
    with app.extensions["db_sessions"]() as session, session.begin():
        _row, token = create_token(session, "admin", "ada")  # only an admin deletes charts
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    texts = {"Essential hypertension, on lisinopril.": ["I10"], "Type 2 diabetes mellitus.": ["E11.9", "Z79.84"],
             "Asthma, mild intermittent.": ["J45.20"]}
    ids = []
    for text, codes in texts.items():
        answer = client.post("/v1/charts", json={"patient_id": "P1", "text": text, "codes": codes}, headers=headers)
        assert answer.status_code == 201, answer.get_json()
        ids.append(str(answer.get_json()["id"]))
    assert client.delete(f"/v1/charts/{ids[2]}", headers=headers).status_code in (200, 204)

    output = tmp_path / "out"
    summary = run_predict(spark, ChartSource(jdbc_url=url),
                          PredictJob(model=str(small_model_dir), output=str(output), buckets=2))
    assert (summary.charts, summary.failed) == (2, 0)  # the deleted chart is left out
    rows = _spark_rows(spark, output, "parquet")
    assert sorted(rows) == sorted(ids[:2])
    assert rows[ids[0]]["suggestions"][0]["code"] == "I10"
    evaluation = run_evaluate(spark, ChartSource(jdbc_url=url), model=str(small_model_dir))
    assert evaluation.metrics["n_charts"] == 2 and evaluation.metrics["n_gold_codes"] == 3
    app.extensions["db_engine"].dispose()


def test_a_killed_job_started_again_writes_every_chart_exactly_once(spark, small_model_dir, tmp_path, held_out,
                                                                   long_suites):
    # Short (CI): 96 charts in 6 buckets; long (make test-long): 240 charts in 12.
    n_charts, n_buckets = (240, 12) if long_suites else (96, 6)
    charts = tmp_path / "charts.jsonl"
    charts.write_text("".join(json.dumps({"id": f"k{i}", "text": held_out[i % len(held_out)].text}) + "\n"
                              for i in range(n_charts)), encoding="utf-8")
    output = tmp_path / "out"
    command = [sys.executable, "-m", "suggest.spark", "--model", str(small_model_dir), "--input", str(charts),
               "--output", str(output), "--buckets", str(n_buckets), "--buckets-per-round", "1", "--master", "local[2]",
               "--conf", "spark.ui.enabled=false"]
    job = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(output.glob("bucket=*"))) < 2 and job.poll() is None:
        time.sleep(0.2)
    assert job.poll() is None, job.stderr.read().decode()[-2000:]
    os.killpg(job.pid, signal.SIGKILL)  # the driver and its JVM and Python workers
    job.wait()
    finished = len(list(output.glob("bucket=*")))
    assert 2 <= finished < n_buckets and not (output / "_SUCCESS").exists()

    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((output / "_summary.json").read_text())
    assert summary["buckets_skipped"] == finished and summary["output_charts"] == n_charts
    rows = _spark_rows(spark, output, "parquet")
    assert sorted(rows) == sorted(f"k{i}" for i in range(n_charts))
    assert "spark predict: " in done.stderr and f"{finished} already done" in done.stderr


def test_the_command_line_runs_both_jobs(spark, small_model_dir, charts_jsonl, tmp_path, capsys):
    assert suggest_main(["predict", "--engine", "spark", "--input", str(charts_jsonl)]) == 2
    assert "--engine spark writes a folder: give --output DIR" in capsys.readouterr().err
    assert suggest_main(["predict", "--engine", "spark", "--input", str(charts_jsonl), "--jdbc", "sqlite:///x.db",
                         "--output", str(tmp_path / "x")]) == 2
    assert "give --jdbc or a file, not both" in capsys.readouterr().err

    output = tmp_path / "out"
    assert suggest_main(["predict", "--engine", "spark", "--model", str(small_model_dir), "--input", str(charts_jsonl),
                         "--output", str(output), "--output-format", "jsonl", "--buckets", "2"]) == 0
    assert "spark predict: 41 charts (0 failed)" in capsys.readouterr().err
    assert sum(len(f.read_text().splitlines()) for f in output.glob("bucket=*/*.json")) == 41

    metrics_dir = tmp_path / "evaluation"
    assert suggest_main(["evaluate", "--engine", "spark", "--model", str(small_model_dir), "--data", str(charts_jsonl),
                         "--output", str(metrics_dir)]) == 0
    captured = capsys.readouterr()
    assert "MAP" in captured.out and "(Spark)" in captured.out and "41 charts evaluated, 0 failed" in captured.err
    record = json.loads((metrics_dir / "metrics.json").read_text())
    assert record["engine"] == "spark" and record["metrics"]["n_charts"] == 41
    assert record["per_chapter"] and {"chapter", "precision", "recall", "f1"} <= set(record["per_chapter"][0])


@pytest.mark.shared
def test_evaluate_on_spark_gives_the_local_metrics_on_codiesp_dev(spark, shared_dir, small_model, small_model_dir,
                                                                   tmp_path):
    """The issue's proof: the 250 CodiEsp dev charts (setting mentions), the same numbers either way."""
    from suggest.corpus import write_jsonl
    from suggest.spark.evaluate import run_evaluate
    from suggest.spark.sources import ChartSource
    from training.codiesp import read_codiesp
    from training.evaluation import evaluate_model

    charts, _report = read_codiesp(shared_dir / "data" / "codiesp" / "dev", "dev")
    path = tmp_path / "dev.jsonl"
    write_jsonl(charts, path)
    local = evaluate_model(small_model, charts, setting="mentions").metrics
    result = run_evaluate(spark, ChartSource(path=str(path)), model=str(small_model_dir), setting="mentions")
    assert result.failed == 0 and result.metrics["n_charts"] == len(charts) == 250
    for name, value in local.items():
        assert result.metrics[name] == pytest.approx(value, abs=1e-9), name
