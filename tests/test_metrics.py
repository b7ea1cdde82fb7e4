"""The metrics' additive form (``ChartStatistics`` summed, then ``metrics_from_totals``), which a Spark job adds up
in parallel, gives the numbers of ``evaluate_predictions``."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suggest.metrics import DEFAULT_KS, ECE_BINS, ChartStatistics, RankedPrediction, evaluate_predictions, \
    metrics_from_totals

CODES = [f"C{i:02d}" for i in range(12)]


@st.composite
def chart(draw):
    gold = draw(st.lists(st.sampled_from(CODES), max_size=5))
    ranked = draw(st.lists(st.sampled_from(CODES), max_size=20))
    confidences = draw(st.lists(st.floats(0, 1), min_size=len(ranked), max_size=len(ranked)))
    selected = draw(st.lists(st.booleans(), min_size=len(ranked), max_size=len(ranked)))
    return gold, RankedPrediction(ranked, confidences, selected)


def summed(charts) -> dict[str, float]:
    stats = [ChartStatistics.of(gold, prediction) for gold, prediction in charts]
    per_code: Counter = Counter()
    for s in stats:
        for code, tp, fp, fn in s.code_counts:
            per_code[(code, "tp")] += tp
            per_code[(code, "fp")] += fp
            per_code[(code, "fn")] += fn
    codes = {code for code, _ in per_code}
    f1s = [2 * per_code[(c, "tp")] / (2 * per_code[(c, "tp")] + per_code[(c, "fp")] + per_code[(c, "fn")])
           for c in codes if per_code[(c, "tp")] + per_code[(c, "fn")]]
    return metrics_from_totals(
        charts=len(stats), charts_with_gold=sum(s.has_gold for s in stats),
        average_precision_sum=sum(s.average_precision for s in stats if s.has_gold),
        precision_at_sums=[sum(s.precision_at[i] for s in stats) for i in range(len(DEFAULT_KS))],
        recall_at_sums=[sum(s.recall_at[i] for s in stats) for i in range(len(DEFAULT_KS))],
        true_positives=sum(s.true_positives for s in stats), false_positives=sum(s.false_positives for s in stats),
        false_negatives=sum(s.false_negatives for s in stats), macro_f1=sum(f1s) / len(f1s) if f1s else 0.0,
        ece_count=[sum(s.ece_count[b] for s in stats) for b in range(ECE_BINS)],
        ece_confidence=[sum(s.ece_confidence[b] for s in stats) for b in range(ECE_BINS)],
        ece_hits=[sum(s.ece_hits[b] for s in stats) for b in range(ECE_BINS)])


@settings(max_examples=200, deadline=None)
@given(st.lists(chart(), min_size=1, max_size=12))
def test_summed_statistics_give_the_metrics_of_evaluate_predictions(charts):
    want = evaluate_predictions([g for g, _ in charts], [p for _, p in charts])
    got = summed(charts)
    assert got.keys() == want.keys()
    for name, value in want.items():
        assert got[name] == pytest.approx(value, abs=1e-9), name


def test_a_chart_statistics_example():
    stats = ChartStatistics.of(["A", "B"], RankedPrediction(["A", "C", "B"], [0.95, 0.5, 0.05], [True, True, False]))
    assert stats.average_precision == pytest.approx((1 + 2 / 3) / 2)
    assert (stats.true_positives, stats.false_positives, stats.false_negatives) == (1, 1, 1)
    assert stats.code_counts == [("A", 1, 0, 0), ("B", 0, 0, 1), ("C", 0, 1, 0)]
    assert stats.ece_count[9] == stats.ece_count[5] == stats.ece_count[0] == 1 and stats.ece_hits[9] == 1
