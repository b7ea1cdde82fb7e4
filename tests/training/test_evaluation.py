"""Evaluation reports and model comparison, as an evaluator runs them."""

from __future__ import annotations

import json

import pytest

from suggest.types import Evidence, Suggestion
from training.evaluation import (
    ChartOutcome,
    Evaluation,
    chapter_of,
    compute_metrics,
    format_comparison,
    missed_gold_codes,
    paired_bootstrap,
    per_chapter,
    worst_false_positives,
    write_report,
)


def _suggestion(code: str, confidence: float, threshold: float = 0.5, evidence: Evidence | None = None) -> Suggestion:
    return Suggestion(
        code=code,
        description=f"description of {code}",
        confidence=confidence,
        selected=confidence >= threshold,
        billable=True,
        sources=["dictionary"],
        evidence=[evidence] if evidence else [],
    )


def _evaluation(name: str, outcomes: list[ChartOutcome]) -> Evaluation:
    return Evaluation(model=name, data="gold.jsonl", metrics=compute_metrics(outcomes), outcomes=outcomes,
                      model_info={"threshold": 0.5})


def _outcomes(good: bool, n: int = 40) -> list[ChartOutcome]:
    """Charts coded I10 + E11.9; the good model ranks both first, the bad one a wrong code first."""
    out = []
    for i in range(n):
        text = "Hypertension, well controlled. Type 2 diabetes without complications."
        span = Evidence(0, 12, text[0:12], "assessment", {"negated": False})
        if good or i % 4 == 0:
            ranked = [_suggestion("I10", 0.9, evidence=span), _suggestion("E11.9", 0.8), _suggestion("J45.909", 0.1)]
        else:
            ranked = [_suggestion("J45.909", 0.95), _suggestion("I10", 0.4, evidence=span), _suggestion("E11.9", 0.3)]
        out.append(ChartOutcome(chart_id=f"c{i}", text=text, gold=["I10", "E11.9"], suggestions=ranked))
    return out


def test_chapters_follow_icd10cm_ranges():
    assert chapter_of("E11.22").startswith("04 ")
    assert chapter_of("H66.90").startswith("08 ")  # ear, not eye
    assert chapter_of("T81.4XXA").startswith("19 ")
    assert chapter_of("O9A.211").startswith("15 ")
    assert chapter_of("Z79.4").startswith("21 ")


def test_paired_bootstrap_of_identical_models_is_zero():
    a, b = _evaluation("a", _outcomes(True)), _evaluation("b", _outcomes(True))
    boot = paired_bootstrap(a, b, n_boot=200)
    for key in ("map", "micro_f1"):
        assert boot[key]["diff"] == 0.0
        assert boot[key]["ci_low"] == boot[key]["ci_high"] == 0.0


def test_paired_bootstrap_ci_excludes_zero_for_a_clearly_better_model():
    bad, good = _evaluation("bad", _outcomes(False)), _evaluation("good", _outcomes(True))
    boot = paired_bootstrap(bad, good, n_boot=500, seed=1)
    assert boot["map"]["diff"] == pytest.approx(good.metrics["map"] - bad.metrics["map"])
    assert 0 < boot["map"]["ci_low"] <= boot["map"]["diff"] <= boot["map"]["ci_high"]
    assert 0 < boot["micro_f1"]["ci_low"] <= boot["micro_f1"]["ci_high"]
    assert boot["map"]["p_not_better"] == 0.0
    table = format_comparison(bad, good, boot, 500)
    assert "95% CI" in table and "MAP" in table and "micro F1" in table
    # Same seed, same intervals.
    assert paired_bootstrap(bad, good, n_boot=500, seed=1) == boot


def test_paired_bootstrap_refuses_different_charts():
    a = _evaluation("a", _outcomes(True, n=5))
    b = _evaluation("b", _outcomes(True, n=6))
    with pytest.raises(Exception, match="same charts"):
        paired_bootstrap(a, b)


def test_error_tables_rank_confident_false_positives_and_missed_codes():
    ev = _evaluation("bad", _outcomes(False))
    fps = worst_false_positives(ev)
    assert fps and all(row["code"] == "J45.909" for row in fps)
    assert fps[0]["confidence"] == pytest.approx(0.95)
    missed = missed_gold_codes(ev)
    assert {row["code"] for row in missed} <= {"I10", "E11.9"}
    with_evidence = [row for row in missed if row["code"] == "I10"]
    assert with_evidence[0]["evidence"][0]["snippet"].startswith("[[Hypertension]]")
    assert missed_gold_codes(ev, with_text=False)[0]["evidence"] == []
    chapters = {row["chapter"][:2]: row for row in per_chapter(ev)}
    assert chapters["10"]["precision"] == 0.0  # J45.909 is never gold


def test_report_is_self_contained_and_redactable(tmp_path):
    ev = _evaluation("bad", _outcomes(False))
    written = write_report(ev, tmp_path / "full")
    html = written["report.html"].read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and "<img src=\"http" not in html
    assert "<mark>Hypertension</mark>" in html
    doc = json.loads(written["metrics.json"].read_text(encoding="utf-8"))
    assert doc["metrics"]["map"] == pytest.approx(ev.metrics["map"])
    assert "Hypertension" not in written["metrics.json"].read_text(encoding="utf-8")
    redacted = write_report(ev, tmp_path / "redacted", redact=True)["report.html"].read_text(encoding="utf-8")
    assert "Hypertension" not in redacted


@pytest.fixture(scope="module")
def gold_file(tmp_path_factory):
    """30 synthetic gold-coded charts, unseen by the small model (another seed)."""
    from suggest.corpus import write_jsonl
    from training.synth import generate_charts

    path = tmp_path_factory.mktemp("gold") / "gold.jsonl"
    write_jsonl(generate_charts(30, seed=99), path)
    return path


def test_evaluate_prints_metrics_and_writes_the_report(small_model_dir, gold_file, tmp_path, capsys):
    from suggest.cli import main

    out_dir = tmp_path / "report"
    assert main(["evaluate", "--model", str(small_model_dir), "--data", str(gold_file), "--output", str(out_dir)]) == 0
    table = capsys.readouterr().out
    for label in ("MAP", "P@1 / R@1", "P@5 / R@5", "P@8 / R@8", "P@15 / R@15", "micro F1", "macro F1", "ECE"):
        assert label in table
    doc = json.loads((out_dir / "metrics.json").read_text(encoding="utf-8"))
    assert doc["metrics"]["n_charts"] == 30
    assert 0.0 < doc["metrics"]["map"] <= 1.0
    assert f"{doc['metrics']['map']:.4f}" in table
    assert doc["model_info"]["name"] == "test-suggester" and doc["per_chapter"]
    html = (out_dir / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 3
    assert "Worst false positives" in html and "Missed gold codes" in html
    assert "<mark>" in html  # evidence snippets from the charts


def test_compare_prints_paired_bootstrap_intervals(small_model_dir, gold_file, capsys):
    from suggest.cli import main

    model = str(small_model_dir)
    assert main(["compare", model, model, "--data", str(gold_file), "--n-boot", "200"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    # The same model on both sides: every difference is zero, and so is its interval.
    assert rows["MAP"].rstrip().endswith("[+0.0000, +0.0000]")
    assert "micro F1" in out and "200 resamples" in out


def test_evaluate_reports_bad_data_without_a_traceback(small_model_dir, gold_file, tmp_path, capsys):
    from suggest.cli import main

    uncoded = tmp_path / "uncoded.jsonl"
    uncoded.write_text('{"id": "a", "text": "Chest pain.", "codes": []}\n', encoding="utf-8")
    assert main(["evaluate", "--model", str(small_model_dir), "--data", str(uncoded)]) == 2
    err = capsys.readouterr().err
    assert "no chart has gold codes" in err and "Traceback" not in err
    assert main(["evaluate", "--model", str(tmp_path / "missing"), "--data", str(gold_file)]) == 2
    assert "no model at" in capsys.readouterr().err
