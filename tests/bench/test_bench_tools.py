"""The scaling, probe and lexicon benchmarks' own logic (their runs take minutes and live in bench/)."""

import math

import pytest

from bench.scaling import growth, project


def test_growth_exponents_and_projection():
    points = [(10_000, 100.0), (30_000, 300.0), (100_000, 1_000.0)]
    assert growth(points) == pytest.approx([1.0, 1.0])
    assert project(points, 1_000_000) == pytest.approx(10_000.0)
    quadratic = [(1, 1.0), (2, 4.0)]
    assert growth(quadratic) == pytest.approx([2.0])
    assert growth([(1, 1.0), (2, None)]) == [None]
    assert math.isclose(project(quadratic, 4), 16.0)


def test_probe_items_state_every_sampled_code_three_ways():
    from bench.probe import FORMS, probe_items

    items = probe_items()
    assert len(items) == 1134 and sum(item["stratum"] == "uniform" for item in items) == 1000
    for item in items:
        assert all(item[form].strip() for form in FORMS)
        assert "{" not in item["clinic_note"]
    by_code = {item["code"]: item for item in items}
    newborn = next(item for item in items if item["chapter"] == "16")
    assert "newborn" in newborn["clinic_note"]
    pregnant = next(item for item in items if item["chapter"] == "15")
    assert "pregnant" in pregnant["clinic_note"]
    assert by_code["A20.3"]["own_words"] == "Assessment: Plague meningitis."


def test_exact_lookup_baseline_finds_descriptions_verbatim_only():
    from bench.probe import ExactLookup

    lookup = ExactLookup()
    assert lookup.suggest("Assessment: Plague meningitis.")["ranked"][0] == "A20.3"
    assert "A20.3" not in lookup.suggest("Assessment: meningitis from Yersinia pestis.")["ranked"]


def test_lexicon_benchmark_counts_recall_and_first():
    from bench.lexicon import measure
    from suggest.codeset import load_codeset
    from suggest.model.dictionary import TermIndex
    from suggest.pipeline.normalize import default_normalizer

    index = TermIndex().fit(load_codeset(), default_normalizer())
    rows = [{"code": "I10", "phrase": "htn"}, {"code": "I10", "phrase": "a sunny day at the beach"}]
    results = measure(index, rows)
    assert results[0]["recalled"] and results[0]["first"] and results[0]["letter"] == "I"
    assert not results[1]["recalled"] and not results[1]["first"]


def test_alternating_rounds_time_both_builds_alike_and_take_the_median_ratio(tmp_path):
    from bench.engine import interleaved_latency

    calls: list[str] = []

    class Builds:  # the two fresh-interpreter passes, with fixed p50s
        def run(self, batch_repeats):
            assert batch_repeats == 0  # no batch run before the reference's single-chart pass
            calls.append("reference")
            return {"single": {"p50_ms": 20.0}}

        def run_this_build(self, model_folder):
            assert model_folder == tmp_path
            calls.append("model")
            return {"single": {"p50_ms": [24.0, 30.0, 22.0][calls.count("model") - 1]}}

    result = interleaved_latency(Builds(), tmp_path, rounds=3)
    assert calls == ["model", "reference", "reference", "model", "model", "reference"]
    assert [r["model"] / r["reference"] for r in result["rounds"]] == [1.2, 1.5, 1.1]
    assert result["ratio_median"] == 1.2 and result["ratio_min"] == 1.1 and result["ratio_max"] == 1.5
