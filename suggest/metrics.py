"""Ranking and classification metrics for code suggestion, as the CodiEsp evaluation uses them.

All functions take, per chart, the gold codes and the model's ranked codes (best first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: The cut-offs reported for P@k and R@k.
DEFAULT_KS = (1, 5, 8, 10, 15)


def average_precision(gold: set[str], ranked: Sequence[str]) -> float:
    """Average precision of one ranked list against a gold set (0 when gold is empty)."""
    if not gold:
        return 0.0
    hits = 0
    total = 0.0
    seen: set[str] = set()
    for rank, code in enumerate(ranked, start=1):
        if code in seen:
            continue
        seen.add(code)
        if code in gold:
            hits += 1
            total += hits / rank
    return total / len(gold)


def mean_average_precision(golds: Sequence[set[str]], rankings: Sequence[Sequence[str]]) -> float:
    """MAP over the charts that have at least one gold code."""
    aps = [average_precision(g, r) for g, r in zip(golds, rankings, strict=True) if g]
    return float(np.mean(aps)) if aps else 0.0


def precision_recall_at_k(
    golds: Sequence[set[str]], rankings: Sequence[Sequence[str]], k: int
) -> tuple[float, float]:
    """Mean P@k and R@k over charts with gold codes."""
    ps, rs = [], []
    for gold, ranked in zip(golds, rankings, strict=True):
        if not gold:
            continue
        top = list(dict.fromkeys(ranked))[:k]
        hits = sum(1 for c in top if c in gold)
        ps.append(hits / k)
        rs.append(hits / len(gold))
    if not ps:
        return 0.0, 0.0
    return float(np.mean(ps)), float(np.mean(rs))


def set_f1(golds: Sequence[set[str]], predicted: Sequence[set[str]]) -> dict[str, float]:
    """Micro and macro (over codes) precision, recall and F1 of predicted code sets."""
    tp = fp = fn = 0
    per_code: dict[str, list[int]] = {}
    for gold, pred in zip(golds, predicted, strict=True):
        for c in pred | gold:
            counts = per_code.setdefault(c, [0, 0, 0])
            if c in pred and c in gold:
                tp += 1
                counts[0] += 1
            elif c in pred:
                fp += 1
                counts[1] += 1
            else:
                fn += 1
                counts[2] += 1
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    f1s = []
    for ctp, cfp, cfn in per_code.values():
        if ctp + cfn == 0:  # a code never in gold: counts against micro precision only
            continue
        f1s.append(2 * ctp / (2 * ctp + cfp + cfn))
    return {
        "micro_precision": p,
        "micro_recall": r,
        "micro_f1": f1,
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
    }


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 10
) -> float:
    """ECE with equal-width bins: sum over bins of |accuracy - mean confidence| weighted by bin size."""
    conf = np.asarray(confidences, dtype=float)
    hit = np.asarray(correct, dtype=float)
    if conf.size == 0:
        return 0.0
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(hit[mask].mean() - conf[mask].mean())
    return float(ece)


@dataclass(slots=True)
class RankedPrediction:
    """One chart's ranked suggestions as (code, confidence, selected) triples, best first."""

    codes: list[str]
    confidences: list[float]
    selected: list[bool]


def evaluate_predictions(
    golds: Sequence[Sequence[str]],
    predictions: Sequence[RankedPrediction],
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, float]:
    """All headline metrics for a set of charts.

    Returns MAP, P@k and R@k, micro/macro F1 of the selected sets, and ECE over
    every (chart, suggested code) pair.
    """
    gold_sets = [set(g) for g in golds]
    rankings = [p.codes for p in predictions]
    out: dict[str, float] = {"map": mean_average_precision(gold_sets, rankings)}
    for k in ks:
        p, r = precision_recall_at_k(gold_sets, rankings, k)
        out[f"p@{k}"] = p
        out[f"r@{k}"] = r
    selected = [
        {c for c, s in zip(p.codes, p.selected, strict=True) if s} for p in predictions
    ]
    out.update(set_f1(gold_sets, selected))
    confs, hits = [], []
    for gold, pred in zip(gold_sets, predictions, strict=True):
        for code, conf in zip(pred.codes, pred.confidences, strict=True):
            confs.append(conf)
            hits.append(code in gold)
    out["ece"] = expected_calibration_error(confs, hits)
    out["n_charts"] = float(len(predictions))
    return out


# --------------------------------------------------------------------------- additive form, for distributed runs

#: Equal-width bins of the ECE (as :func:`expected_calibration_error`'s default).
ECE_BINS = 10


@dataclass(slots=True)
class ChartStatistics:
    """One chart's share of the headline metrics, in a form that sums over charts (a Spark job adds them up in
    parallel and :func:`metrics_from_totals` finishes): the same numbers as :func:`evaluate_predictions`."""

    has_gold: int
    average_precision: float
    precision_at: list[float]
    recall_at: list[float]
    gold_codes: int
    true_positives: int
    false_positives: int
    false_negatives: int
    #: (code, tp, fp, fn) of every code gold or selected on the chart: macro F1 needs them summed by code.
    code_counts: list[tuple[str, int, int, int]]
    ece_count: list[int]
    ece_confidence: list[float]
    ece_hits: list[int]

    @classmethod
    def of(cls, gold: Sequence[str], prediction: RankedPrediction, ks: Sequence[int] = DEFAULT_KS) -> ChartStatistics:
        gold_set = set(gold)
        ranked = prediction.codes
        top = list(dict.fromkeys(ranked))
        hits_at = [sum(1 for c in top[:k] if c in gold_set) for k in ks]
        selected = {c for c, s in zip(ranked, prediction.selected, strict=True) if s}
        counts = [(c, int(c in selected and c in gold_set), int(c in selected and c not in gold_set),
                   int(c in gold_set and c not in selected)) for c in sorted(selected | gold_set)]
        ece_count, ece_confidence, ece_hits = [0] * ECE_BINS, [0.0] * ECE_BINS, [0] * ECE_BINS
        for code, confidence in zip(ranked, prediction.confidences, strict=True):
            b = min(int(confidence * ECE_BINS), ECE_BINS - 1)
            ece_count[b] += 1
            ece_confidence[b] += float(confidence)
            ece_hits[b] += code in gold_set
        return cls(
            has_gold=int(bool(gold_set)),
            average_precision=average_precision(gold_set, ranked),
            precision_at=[h / k if gold_set else 0.0 for h, k in zip(hits_at, ks, strict=True)],
            recall_at=[h / len(gold_set) if gold_set else 0.0 for h in hits_at],
            gold_codes=len(gold),
            true_positives=sum(c[1] for c in counts),
            false_positives=sum(c[2] for c in counts),
            false_negatives=sum(c[3] for c in counts),
            code_counts=counts,
            ece_count=ece_count,
            ece_confidence=ece_confidence,
            ece_hits=ece_hits,
        )


def metrics_from_totals(
    *,
    charts: int,
    charts_with_gold: int,
    average_precision_sum: float,
    precision_at_sums: Sequence[float],
    recall_at_sums: Sequence[float],
    true_positives: int,
    false_positives: int,
    false_negatives: int,
    macro_f1: float,
    ece_count: Sequence[int],
    ece_confidence: Sequence[float],
    ece_hits: Sequence[int],
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, float]:
    """The headline metrics of :func:`evaluate_predictions` from :class:`ChartStatistics` summed over the charts
    (``macro_f1``: the mean over codes with gold occurrences of ``2 tp / (2 tp + fp + fn)``, codes' counts summed)."""
    with_gold = max(charts_with_gold, 1)
    out: dict[str, float] = {"map": average_precision_sum / with_gold if charts_with_gold else 0.0}
    for k, p, r in zip(ks, precision_at_sums, recall_at_sums, strict=True):
        out[f"p@{k}"] = p / with_gold if charts_with_gold else 0.0
        out[f"r@{k}"] = r / with_gold if charts_with_gold else 0.0
    tp, fp, fn = true_positives, false_positives, false_negatives
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    out["micro_precision"] = precision
    out["micro_recall"] = recall
    out["micro_f1"] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    out["macro_f1"] = float(macro_f1)
    pairs = sum(ece_count)
    out["ece"] = float(sum(abs(h - c) for h, c in zip(ece_hits, ece_confidence, strict=True)) / pairs) if pairs else 0.0
    out["n_charts"] = float(charts)
    return out
