"""Benchmark of the suggestion engine: ``python -m bench.engine [--sections ...] [--quick] [--threads N] [--json F]``.

Prints one table per section and writes every number to a JSON file (default
``bench/results/engine-<UTC timestamp>.json``; ``bench/results`` is git-ignored). Baselines are measured in the
same run, on the same charts, so a change of machine or load moves them together. Targets are printed next to the
numbers; nothing is asserted (speed and accuracy targets live here, not in timed tests).

Sections (default: all, in this order):

- ``accuracy``: CodiEsp English, train on train, measure on dev: the product ``Suggester()`` (default config) vs
  the notebook baseline and the dictionary-only baseline (``bench.baselines``); plus recall@15 of dev gold codes
  never seen in train. Needs the shared corpora (skipped with a message when absent).
- ``aci``: the default model on ACI-BENCH ``valid`` (measurement set) and ``train`` (development set) with the
  project's gold codes, vs the dictionary-only baseline. Needs the shared corpora.
- ``speed``: the default model's ``suggest_batch`` throughput and single ``suggest`` latency on ~400-word charts,
  vs the baselines' prediction on the same texts.
- ``memory``: peak RSS of fresh subprocesses: ``import suggest``; + load the default model; + a 250-chart batch.
- ``train``: wall time and peak RSS of ``Suggester().fit`` on CodiEsp train + 10,000 synthetic charts.
- ``robustness``: time and outcome of ``suggest`` on degenerate and very large inputs.

``--quick`` runs every section on tiny data with a small model trained on 200 synthetic charts (in seconds)
instead of the default model, and skips ``train``: it exercises the code paths, its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
SECTIONS = ("accuracy", "aci", "speed", "memory", "train", "robustness")
#: Depth of every ranked list scored (the same for the product and the baselines, and ``suggest evaluate``).
TOP_K = 50  # MAP is over the whole ranked list, as in the CodiEsp evaluation (training.evaluation.EVAL_TOP_K)
#: Words per chart of the speed and memory texts (the size of a typical outpatient note).
WORDS_PER_CHART = 400
#: The small model of ``--quick``: same code paths as the product, trained in seconds.
QUICK_MODEL_CONFIG = {"cv_folds": 2, "ranker_max_iter": 40}
QUICK_MODEL_CHARTS = 200
QUICK_MODEL_SEED = 11
#: Synthetic training charts added to CodiEsp train by the ``train`` section (``generate_charts(10000, 7)``).
TRAIN_SYNTHETIC = (10_000, 7)
MB = 1_000_000
#: Environment variables that size the native thread pools (set by ``--threads``).
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def train_quick_model():
    """The small model of ``--quick`` (a real Suggester, trained in seconds on synthetic charts)."""
    from suggest import Suggester
    from training.synth import generate_charts

    charts = generate_charts(QUICK_MODEL_CHARTS, seed=QUICK_MODEL_SEED)
    return Suggester(**QUICK_MODEL_CONFIG, name="bench-quick").fit(
        [c.text for c in charts], [c.codes for c in charts], [c.specialty for c in charts],
        data_name=f"synthetic-{QUICK_MODEL_CHARTS}")


# ----------------------------------------------------------------------------- targets and sizes
@dataclass(frozen=True, slots=True)
class Target:
    """A product target: ``value op threshold`` (``op`` is ``">="`` or ``"<="``)."""

    op: str
    threshold: float
    unit: str = ""

    def met(self, value: float | None) -> bool | None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return value >= self.threshold if self.op == ">=" else value <= self.threshold

    def label(self) -> str:
        value = f"{self.threshold:.2f}" if self.threshold < 1 else f"{self.threshold:g}"
        return f"{self.op} {value}{(' ' + self.unit) if self.unit else ''}"

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "threshold": self.threshold, "unit": self.unit}


ACCURACY_TARGETS = {"map": Target(">=", 0.50), "micro_f1": Target(">=", 0.50), "ece": Target("<=", 0.05)}
ACI_TARGETS = {"map": Target(">=", 0.35), "r@10": Target(">=", 0.50)}
#: Batch rates as multiples of the notebook baseline's in the same run (the machine's load changes from run to run).
SPEED_TARGETS = {"batch_vs_notebook": Target(">=", 2.0, "x notebook"),
                 "batch_2proc_vs_notebook": Target(">=", 3.5, "x notebook"),
                 "p50_ms": Target("<=", 3, "ms")}
MEMORY_TARGET = Target("<=", 350, "MB")
TRAIN_TARGET = Target("<=", 300, "s")
#: The train section stops the training process after this many times the target (and reports it).
TRAIN_TIMEOUT_FACTOR = 4
#: Measured elsewhere (not in this run), printed as references.
NOTEBOOK_ELSEWHERE = {"map": 0.15, "p@5": 0.27, "micro_f1": 0.22}
MEDCAT_ELSEWHERE = {"map": 0.16, "r@10": 0.23}


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much data each section uses (full run vs ``--quick``)."""

    accuracy_train: int | None  # None: the whole split
    accuracy_dev: int | None
    speed_charts: int
    latency_charts: int
    batch_repeats: int
    memory_charts: int
    synthetic_baseline_charts: int
    robustness_mb: tuple[float, ...]  # sizes of the repeated-chart inputs, increasing
    robustness_budget_s: float  # a large input projected to take longer is not run (reported as skipped)
    latency_rounds: int  # alternating single-chart rounds of the model and the reference build

    @classmethod
    def for_mode(cls, quick: bool) -> Sizes:
        if quick:
            return cls(120, 30, 30, 30, 1, 30, QUICK_MODEL_CHARTS, (0.02, 0.1), 30.0, 2)
        return cls(None, None, 250, 200, 3, 250, 500, (0.25, 1.0, 5.0), 300.0, 4)


class Skipped(Exception):
    """A section cannot run here (the message says why)."""


# ----------------------------------------------------------------------------- output helpers
def fmt(value: Any, digits: int = 3) -> str:
    """A table cell: floats to ``digits`` decimals, None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.{digits}f}"
    return str(value)


def met_cell(target: Target | None, value: float | None) -> str:
    if target is None:
        return ""
    ok = target.met(value)
    return "-" if ok is None else ("met" if ok else "NOT met")


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a plain-text table, first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [[c if isinstance(c, str) else fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))

    print(f"\n{title}")
    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


def note(message: str) -> None:
    print(f"  {message}", flush=True)


def percentiles_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max/mean of durations, in milliseconds."""
    ordered = sorted(seconds)
    if not ordered:
        return {"n": 0}

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000

    return {"n": len(ordered), "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99),
            "max_ms": ordered[-1] * 1000, "mean_ms": statistics.fmean(ordered) * 1000}


def thread_pools() -> str:
    """The native thread pools loaded in this process (OpenMP, BLAS) and their sizes."""
    from threadpoolctl import threadpool_info

    pools = sorted({f"{p['user_api']}/{p['internal_api']}={p['num_threads']}" for p in threadpool_info()})
    return ", ".join(pools) or "none loaded"


def write_results(report: dict[str, Any], prefix: str, path: Path | None = None) -> Path:
    """Write a benchmark's numbers as JSON (default ``bench/results/<prefix>-<UTC timestamp>.json``) and say where."""
    path = path or RESULTS_DIR / f"{prefix}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    note(f"results written to {path}")
    return path


def batch_rates(run_seconds: Sequence[float], n_charts: int, mean_words: float) -> dict[str, float]:
    """Charts per second (median and best) of batch runs over ``n_charts`` charts that took ``run_seconds``."""
    rates = [n_charts / s for s in run_seconds]
    return {"charts_per_s_median": statistics.median(rates), "charts_per_s_best": max(rates),
            "runs": len(rates), "words_per_s_median": statistics.median(rates) * mean_words}


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


# ----------------------------------------------------------------------------- shared state of a run
class Bench:
    """Data, models and baselines shared by the sections of one run (each built once, on first use)."""

    def __init__(self, quick: bool, workdir: Path, reference: str | None = None):
        from suggest.paths import shared_dir

        self.quick = quick
        self.reference = reference  # a git revision whose default model the speed section also times
        self.sizes = Sizes.for_mode(quick)
        self.workdir = workdir
        self.shared = shared_dir()
        self._codiesp: dict[str, list] = {}
        self._model: tuple[Any, Path, str] | None = None
        self._dictionary = None
        self._speed_notebook: tuple[Any, str] | None = None
        self.codiesp_notebook = None  # set by the accuracy section (full CodiEsp train), reused by speed
        self.quick_model_train_seconds: float | None = None
        self.model_info: dict[str, Any] | None = None  # the model card summary of engine_model(), for the JSON

    def codiesp(self, split: str) -> list | None:
        """CodiEsp English charts of ``split`` (None when the shared corpora are absent)."""
        if self.shared is None:
            return None
        if split not in self._codiesp:
            from training.codiesp import read_codiesp

            charts, _report = read_codiesp(self.shared / "data" / "codiesp" / split, split)
            self._codiesp[split] = charts
        return self._codiesp[split]

    def engine_model(self) -> tuple[Any, Path, str]:
        """(model, folder, label): the default model, or with ``--quick`` a small model trained here."""
        if self._model is None:
            if self.quick:
                model, seconds = timed(train_quick_model)
                self.quick_model_train_seconds = seconds
                folder = model.save(self.workdir / "quick-model")
                label = f"quick model ({QUICK_MODEL_CHARTS} synthetic charts)"
                note(f"--quick: trained the small model in {seconds:.1f} s (its numbers mean nothing)")
            else:
                import suggest
                from suggest.model.loading import default_model_dir, default_model_state
                from suggest.paths import models_dir
                from training.default import build_default_model

                folder = default_model_dir()
                if default_model_state(folder) != "ready":
                    note(f"no default model in {folder}: building it now (first use only; takes several minutes)")
                    build_default_model(models_dir())
                model, seconds = timed(lambda: suggest.load_model("default"))
                note(f"default model loaded in {seconds:.1f} s from {folder}")
                label = "default model"
            card = model.card_
            data = ", ".join(f"{d.name} ({d.n_charts} charts)" for d in card.training_data)
            note(f"model: {card.name} version {card.version}, created {card.created}, "
                 f"trained on {data or 'unknown data'}, threshold {model.threshold_:.3f}")
            self.model_info = {"label": label, "folder": str(folder), "name": card.name,
                               "version": card.version, "created": card.created,
                               "threshold": model.threshold_,
                               "training_data": [d.model_dump() for d in card.training_data]}
            self._model = (model, folder, label)
        return self._model

    def dictionary(self):
        """The dictionary-only baseline (indexed once)."""
        if self._dictionary is None:
            from bench.baselines import DictionaryBaseline

            self._dictionary = DictionaryBaseline().fit()
        return self._dictionary

    def speed_texts(self, n: int) -> tuple[list[str], str]:
        """``n`` charts of ~400 words: CodiEsp dev texts cut into 400-word charts, else synthetic charts."""
        dev = self.codiesp("dev")
        if dev:
            words = [w for chart in dev for w in chart.text.split()]
            ring = words + words[:WORDS_PER_CHART]  # circular: distinct texts even beyond the corpus size
            starts = ((i * WORDS_PER_CHART) % len(words) for i in range(n))
            texts = [" ".join(ring[s: s + WORDS_PER_CHART]) for s in starts]
            return texts, f"CodiEsp dev English, cut into {n} charts of {WORDS_PER_CHART} words"
        from training.synth import generate_charts

        texts = [c.text for c in generate_charts(n, seed=3)]
        mean_words = statistics.fmean(len(t.split()) for t in texts)
        return texts, (f"{n} synthetic charts (~{mean_words:.0f} words; the shared corpora are absent, "
                       "so not CodiEsp)")

    def speed_notebook(self) -> tuple[Any, str]:
        """The notebook baseline for the speed comparison: CodiEsp train when available, else synthetic charts."""
        if self._speed_notebook is None:
            from bench.baselines import NotebookBaseline

            train = None if self.quick else self.codiesp("train")
            if train:
                nb = self.codiesp_notebook or NotebookBaseline().fit([c.text for c in train], [c.codes for c in train])
                self._speed_notebook = (nb, "notebook baseline (CodiEsp train)")
            else:
                from training.synth import generate_charts

                n = self.sizes.synthetic_baseline_charts
                charts = generate_charts(n, seed=QUICK_MODEL_SEED)
                nb = NotebookBaseline().fit([c.text for c in charts], [c.codes for c in charts])
                self._speed_notebook = (nb, f"notebook baseline ({n} synthetic charts)")
        return self._speed_notebook


def predictions_of(results) -> list:
    """``SuggestResult`` list → ``RankedPrediction`` list."""
    from suggest.metrics import RankedPrediction

    return [RankedPrediction([s.code for s in r.suggestions], [s.confidence for s in r.suggestions],
                             [s.selected for s in r.suggestions]) for r in results]


def unseen_recall(golds: Sequence[Sequence[str]], predictions: Sequence, seen: set[str], k: int = 15) -> float | None:
    """Micro recall@k over gold codes absent from ``seen`` (the training labels); None if there are none."""
    total = hits = 0
    for gold, pred in zip(golds, predictions, strict=True):
        top = set(list(dict.fromkeys(pred.codes))[:k])
        for code in set(gold) - seen:
            total += 1
            hits += code in top
    return hits / total if total else None


def oracle_micro_f1(golds: Sequence[Sequence[str]], predictions: Sequence) -> tuple[float, float | None]:
    """(micro-F1, threshold) of the best single confidence threshold over the ranked lists, chosen on the gold.

    An upper bound of what re-tuning a method's selection rule could give on these charts, not a result.
    """
    pairs = []
    for gold, pred in zip(golds, predictions, strict=True):
        gold_set = set(gold)
        pairs += [(conf, code in gold_set) for code, conf in dict(zip(pred.codes, pred.confidences)).items()]
    n_gold = sum(len(set(g)) for g in golds)
    if not pairs or not n_gold:
        return 0.0, None
    pairs.sort(key=lambda p: -p[0])
    best, threshold, tp = 0.0, None, 0
    for k, (conf, hit) in enumerate(pairs, start=1):
        tp += hit
        f1 = 2 * tp / (k + n_gold)
        if f1 > best and (k == len(pairs) or pairs[k][0] < conf):  # only cut between distinct confidences
            best, threshold = f1, conf
    return best, threshold


# ----------------------------------------------------------------------------- sections
ACCURACY_ROWS = ("map", "p@1", "p@5", "p@8", "p@10", "p@15", "r@1", "r@5", "r@8", "r@10", "r@15",
                 "micro_precision", "micro_recall", "micro_f1", "macro_f1", "ece")


def run_accuracy(b: Bench) -> dict[str, Any]:
    """CodiEsp dev: the product vs the notebook and dictionary baselines, all trained/measured here."""
    from bench.baselines import NotebookBaseline
    from suggest import Suggester
    from suggest.metrics import evaluate_predictions

    train, dev = b.codiesp("train"), b.codiesp("dev")
    if train is None or dev is None:
        raise Skipped("needs the CodiEsp corpus in the shared corpora (../shared or $SUGGEST_SHARED_DIR): absent")
    if b.sizes.accuracy_train:
        train = train[: b.sizes.accuracy_train]
    if b.sizes.accuracy_dev:
        dev = dev[: b.sizes.accuracy_dev]
    texts, codes = [c.text for c in train], [c.codes for c in train]
    dev_texts, golds = [c.text for c in dev], [c.codes for c in dev]
    seen = {code for chart_codes in codes for code in chart_codes}
    dev_labels = [code for g in golds for code in set(g)]
    n_unseen = sum(code not in seen for code in dev_labels)
    distinct_dev = set(dev_labels)
    n_unseen_distinct = len(distinct_dev - seen)
    # CodiEsp's annotators coded every mention: the "mentions" care setting, as the engine issue asks.
    config = {**(QUICK_MODEL_CONFIG if b.quick else {}), "setting": "mentions"}
    note(f"CodiEsp English: {len(train)} train charts, {len(dev)} dev charts; dev gold labels never seen in train: "
         f"{n_unseen} of {len(dev_labels)} ({n_unseen / max(len(dev_labels), 1):.0%}; {n_unseen_distinct} of "
         f"{len(distinct_dev)} distinct codes, {n_unseen_distinct / max(len(distinct_dev), 1):.0%})")

    methods: dict[str, dict[str, Any]] = {}
    note(f"training the product Suggester({config or 'default config'}) on CodiEsp train "
         f"({'seconds' if b.quick else 'a few minutes'}) ...")
    product, fit_s = timed(lambda: Suggester(**config, name="bench-codiesp").fit(texts, codes, data_name="codiesp-train"))
    results, pred_s = timed(lambda: product.suggest_batch(dev_texts, top_k=TOP_K))
    methods["product"] = {"predictions": predictions_of(results), "fit_s": fit_s, "predict_s": pred_s,
                          "threshold": product.threshold_}
    note(f"product trained in {fit_s:.1f} s; threshold {product.threshold_:.3f}")

    note("training the notebook baseline (TF-IDF 1-2 grams + one-vs-rest liblinear, C=10) ...")
    notebook, fit_s = timed(lambda: NotebookBaseline().fit(texts, codes))
    if not b.quick:
        b.codiesp_notebook = notebook
    preds, pred_s = timed(lambda: notebook.predict(dev_texts, top_k=TOP_K))
    methods["notebook"] = {"predictions": preds, "fit_s": fit_s, "predict_s": pred_s,
                           "n_models": len(notebook.classes_)}

    dictionary, fit_s = timed(b.dictionary)
    preds, pred_s = timed(lambda: dictionary.predict(dev_texts, top_k=TOP_K))
    methods["dictionary"] = {"predictions": preds, "fit_s": fit_s, "predict_s": pred_s}

    out: dict[str, Any] = {"train_charts": len(train), "dev_charts": len(dev), "top_k": TOP_K,
                           "dev_labels": len(dev_labels), "dev_labels_unseen_in_train": n_unseen,
                           "dev_distinct_codes": len(distinct_dev),
                           "dev_distinct_codes_unseen_in_train": n_unseen_distinct,
                           "targets": {k: t.to_dict() for k, t in ACCURACY_TARGETS.items()},
                           "notebook_measured_elsewhere": NOTEBOOK_ELSEWHERE, "methods": {}}
    for name, m in methods.items():
        metrics = evaluate_predictions(golds, m["predictions"])
        metrics["unseen_r@15"] = unseen_recall(golds, m["predictions"], seen)
        metrics["oracle_micro_f1"], metrics["oracle_threshold"] = oracle_micro_f1(golds, m["predictions"])
        out["methods"][name] = {"metrics": metrics, **{k: v for k, v in m.items() if k != "predictions"},
                                "dev_charts_per_s": len(dev) / m["predict_s"] if m["predict_s"] else None}

    ms = out["methods"]
    rows = []
    for key in (*ACCURACY_ROWS, "unseen_r@15", "oracle_micro_f1"):
        target = ACCURACY_TARGETS.get(key)
        value = ms["product"]["metrics"].get(key)
        rows.append([key, value, ms["notebook"]["metrics"].get(key), ms["dictionary"]["metrics"].get(key),
                     target.label() if target else "", met_cell(target, value)])
    rows.append(["fit s", ms["product"]["fit_s"], ms["notebook"]["fit_s"], ms["dictionary"]["fit_s"], "", ""])
    rows.append(["predict dev charts/s", ms["product"]["dev_charts_per_s"], ms["notebook"]["dev_charts_per_s"],
                 ms["dictionary"]["dev_charts_per_s"], "", ""])
    rows = [[r[0], *[fmt(v, 1) if r[0] in ("fit s", "predict dev charts/s") else v for v in r[1:4]], *r[4:]]
            for r in rows]
    print_table(f"Accuracy on CodiEsp dev ({len(dev)} charts, English; trained on {len(train)} train charts; "
                f"ranked lists of {TOP_K})",
                ["metric", "product", "notebook baseline", "dictionary only", "target", "product vs target"], rows)
    note("unseen_r@15: recall@15 of dev gold codes that never occur in train (the notebook baseline cannot "
         "suggest them)")
    note("oracle_micro_f1: micro-F1 at the best single threshold chosen on dev's gold (an upper bound of re-tuning "
         "the selection rule, not a result); thresholds: "
         + ", ".join(f"{name} {fmt(ms[name]['metrics']['oracle_threshold'])}" for name in ms))
    note("notebook baseline measured elsewhere (reference for this reimplementation): "
         + ", ".join(f"{k} {v}" for k, v in NOTEBOOK_ELSEWHERE.items()))
    note(f"notebook baseline: {ms['notebook']['n_models']} one-vs-rest models; dictionary only: codes ranked by "
         "best term coverage, selected at coverage >= 0.99 (its confidences are coverages, not probabilities: "
         "its ECE is not meaningful)")
    return out


ACI_ROWS = ("map", "p@1", "p@5", "r@5", "r@10", "r@15", "micro_precision", "micro_recall", "micro_f1", "ece")


def run_aci(b: Bench) -> dict[str, Any]:
    """ACI-BENCH notes with the project's gold codes: the default model vs the dictionary-only baseline."""
    from suggest.metrics import evaluate_predictions
    from training.aci_bench import load_aci_bench

    if b.shared is None:
        raise Skipped("needs the ACI-BENCH notes in the shared corpora (../shared or $SUGGEST_SHARED_DIR): absent")
    model, _folder, label = b.engine_model()
    dictionary = b.dictionary()
    out: dict[str, Any] = {"model": label, "top_k": TOP_K, "targets": {k: t.to_dict() for k, t in ACI_TARGETS.items()},
                           "medcat_measured_elsewhere": MEDCAT_ELSEWHERE, "splits": {}}
    for split in ("valid", "train"):
        charts = load_aci_bench(split, b.shared)
        texts, golds = [c.text for c in charts], [c.codes for c in charts]
        results, seconds = timed(lambda: model.suggest_batch(texts, top_k=TOP_K,
                                                             specialties=[c.specialty for c in charts]))
        dict_preds = dictionary.predict(texts, top_k=TOP_K)
        out["splits"][split] = {
            "charts": len(charts),
            "product": evaluate_predictions(golds, predictions_of(results)),
            "dictionary": evaluate_predictions(golds, dict_preds),
            "product_seconds": seconds,
        }
    s = out["splits"]
    rows = []
    for key in ACI_ROWS:
        target = ACI_TARGETS.get(key)
        value = s["valid"]["product"][key]
        rows.append([key, value, s["valid"]["dictionary"][key], s["train"]["product"][key],
                     s["train"]["dictionary"][key], target.label() if target else "", met_cell(target, value),
                     fmt(MEDCAT_ELSEWHERE[key]) if key in MEDCAT_ELSEWHERE else ""])
    print_table(f"ACI-BENCH clinic notes ({label}; valid {s['valid']['charts']} notes = measurement set, "
                f"train {s['train']['charts']} notes = development set; ranked lists of {TOP_K})",
                ["metric", "model valid", "dictionary valid", "model train", "dictionary train", "target (valid)",
                 "valid vs target", "MedCAT (not measured here)"], rows)
    note("gold codes: bench/data/aci_bench_codes.jsonl; the chart's specialty hint is passed to the model")
    return out


def run_speed(b: Bench) -> dict[str, Any]:
    """Throughput and latency of the model vs the baselines on the same ~400-word texts."""
    model, model_folder, label = b.engine_model()
    n = b.sizes.speed_charts
    texts, source = b.speed_texts(max(n, b.sizes.latency_charts))
    batch_texts = texts[:n]
    latency_texts = texts[: b.sizes.latency_charts]
    words = statistics.fmean(len(t.split()) for t in batch_texts)
    note(f"texts: {source}")

    def throughput(predict: Callable[[list[str]], Any]) -> dict[str, float]:
        predict(batch_texts[:16])  # warm-up: lazy loads (code set, pipeline) are not counted
        return batch_rates([timed(lambda: predict(batch_texts))[1] for _ in range(b.sizes.batch_repeats)],
                           len(batch_texts), words)

    def latency(predict_one: Callable[[str], Any]) -> dict[str, float]:
        for text in latency_texts[:10]:
            predict_one(text)
        return percentiles_ms([timed(lambda t=text: predict_one(t))[1] for text in latency_texts])

    out: dict[str, Any] = {"texts": source, "charts": len(batch_texts), "mean_words": words, "methods": {},
                           "targets": {k: t.to_dict() for k, t in SPEED_TARGETS.items()}}
    out["methods"]["model"] = {"label": label,
                               "batch": throughput(lambda ts: model.suggest_batch(ts, top_k=10)),
                               "single": latency(lambda t: model.suggest(t, top_k=10))}
    out["methods"]["model_2proc"] = {"label": f"{label}, batch over 2 processes (n_jobs=2)",
                                     "batch": throughput(lambda ts: model.suggest_batch(ts, top_k=10, n_jobs=2)),
                                     "single": latency(lambda t: model.suggest(t, top_k=10))}
    # The ranker (HistGradientBoosting) uses OpenMP threads; on a loaded machine they can cost more than they give.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        out["methods"]["model_1_thread"] = {"label": f"{label}, 1 OpenMP/BLAS thread",
                                            "batch": throughput(lambda ts: model.suggest_batch(ts, top_k=10)),
                                            "single": latency(lambda t: model.suggest(t, top_k=10))}
    interleaved = None
    if b.reference:
        try:
            with ReferenceRunner(b, texts, len(batch_texts), len(latency_texts)) as reference:
                out["methods"]["reference"] = reference.run(b.sizes.batch_repeats)
                interleaved = interleaved_latency(reference, model_folder, b.sizes.latency_rounds)
                out["interleaved_latency"] = interleaved
        except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
            note(f"reference build {b.reference}: not measured ({exc})")
    notebook, nb_label = b.speed_notebook()
    out["methods"]["notebook"] = {"label": nb_label,
                                  "batch": throughput(lambda ts: notebook.predict(ts, top_k=10)),
                                  "single": latency(lambda t: notebook.predict([t], top_k=10))}
    dictionary = b.dictionary()
    out["methods"]["dictionary"] = {"label": "dictionary only",
                                    "batch": throughput(lambda ts: dictionary.predict(ts, top_k=10)),
                                    "single": latency(lambda t: dictionary.predict([t], top_k=10))}
    notebook_rate = out["methods"]["notebook"]["batch"]["charts_per_s_median"]
    rows = []
    for name, m in out["methods"].items():
        batch, single = m["batch"], m["single"]
        m["batch_vs_notebook"] = batch["charts_per_s_median"] / notebook_rate if notebook_rate else None
        target = {"model": SPEED_TARGETS["batch_vs_notebook"],
                  "model_2proc": SPEED_TARGETS["batch_2proc_vs_notebook"]}.get(name)
        rows.append([m["label"], fmt(batch["charts_per_s_median"], 1), fmt(batch["charts_per_s_best"], 1),
                     fmt(m["batch_vs_notebook"], 2), met_cell(target, m["batch_vs_notebook"]),
                     fmt(single["p50_ms"], 1), fmt(single["p95_ms"], 1), fmt(single["p99_ms"], 1),
                     met_cell(SPEED_TARGETS["p50_ms"], single["p50_ms"]) if name == "model" else ""])
    print_table(f"Speed ({len(batch_texts)} charts of ~{words:.0f} words; batch = one call over all of them, median "
                f"of {b.sizes.batch_repeats}; single = one call per chart over {len(latency_texts)} charts after "
                f"warm-up). Targets: one process {SPEED_TARGETS['batch_vs_notebook'].label()}, n_jobs=2 "
                f"{SPEED_TARGETS['batch_2proc_vs_notebook'].label()}, single p50 {SPEED_TARGETS['p50_ms'].label()}",
                ["method", "batch charts/s", "best", "x notebook", "batch target", "single p50 ms", "p95 ms",
                 "p99 ms", "p50 target"],
                rows)
    if interleaved is not None:
        print_table(f"Single-chart p50 of the model and of the reference build {b.reference}, in alternating rounds "
                    f"over the same {len(latency_texts)} charts, each in a fresh interpreter after the same 10 "
                    f"warm-up charts (ms)",
                    ["round", "first", "model", "reference", "model / reference"],
                    [[k + 1, "model" if k % 2 == 0 else "reference", fmt(p["model"], 1), fmt(p["reference"], 1),
                      fmt(p["model"] / p["reference"], 2)] for k, p in enumerate(interleaved["rounds"])]
                    + [["median", "", "", "", fmt(interleaved["ratio_median"], 2)]])
    note(f"CPU: {os.cpu_count()} cores shared with other work; load average at the end "
         f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}; library thread pools: {thread_pools()}")
    out["thread_pools"] = thread_pools()
    return out


#: Runs in a fresh interpreter importing the build at its cwd: the speed protocol of ``run_speed`` on its default
#: model, as JSON on the last stdout line.
_SPEED_SCRIPT = r"""
import json, sys, time
texts_file, n_batch, n_latency, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
model_ref = sys.argv[5] if len(sys.argv) > 5 else "default"
import suggest
model = suggest.load_model(model_ref)
with open(texts_file, encoding="utf-8") as handle:
    texts = json.load(handle)
batch, latency = texts[:n_batch], texts[:n_latency]
model.suggest_batch(batch[:16], top_k=10)
runs = []
for _ in range(repeats):
    started = time.perf_counter()
    model.suggest_batch(batch, top_k=10)
    runs.append(time.perf_counter() - started)
for text in latency[:10]:
    model.suggest(text, top_k=10)
single = []
for text in latency:
    started = time.perf_counter()
    model.suggest(text, top_k=10)
    single.append(time.perf_counter() - started)
print(json.dumps({"runs": runs, "single": single}))
"""


class ReferenceRunner:
    """The reference build's checkout, where the speed protocol of ``run_speed`` runs on its default model in fresh
    interpreters, as often as asked (its model is built there on first use, from its own material)."""

    def __init__(self, b: Bench, texts: list[str], n_batch: int, n_latency: int):
        self.b, self.texts, self.n_batch, self.n_latency = b, texts, n_batch, n_latency
        self.reference_dir = RESULTS_DIR / f"reference-{b.reference}"
        self.workdir = self.reference_dir / "work"
        self.texts_file = self.workdir / "speed-texts.json"
        self.root: Path | None = None

    def __enter__(self) -> ReferenceRunner:
        from bench.scaling import reference_checkout

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.texts_file.write_text(json.dumps(self.texts), encoding="utf-8")
        self.root = reference_checkout(self.b.reference, self.workdir / "speed-checkout")
        if not (self.reference_dir / "models" / "default" / "model.joblib").exists():
            note(f"reference build {self.b.reference}: building its default model first (several minutes)")
            subprocess.run([sys.executable, "-m", "suggest", "train", "--default", "--no-track"], cwd=self.root,
                           env=self._env(), check=True, capture_output=True, text=True)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        from bench.scaling import remove_checkout

        if self.root is not None:
            remove_checkout(self.root)
        self.texts_file.unlink(missing_ok=True)

    def _env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(self.root), "SUGGEST_MODELS_DIR": str(self.reference_dir / "models"),
                "SUGGEST_DEFAULT_TRACK": "0"}

    def run(self, batch_repeats: int) -> dict[str, Any]:
        """Batch runs (``batch_repeats`` of them, none with 0) and one single-chart pass, in a fresh interpreter."""
        assert self.root is not None
        measured = self._script(self.root, self._env(), "default", batch_repeats)
        words = statistics.fmean(len(t.split()) for t in self.texts[: self.n_batch])
        return {"label": f"reference build {self.b.reference}, default model, one process",
                "batch": batch_rates(measured["runs"], self.n_batch, words) if measured["runs"] else None,
                "single": percentiles_ms(measured["single"])}

    def run_this_build(self, model_folder: Path) -> dict[str, Any]:
        """The single-chart pass of this checkout's ``model_folder`` under the same protocol: a fresh interpreter,
        the same texts and warm-up as :meth:`run` with no batch runs."""
        return {"single": percentiles_ms(self._script(PROJECT_ROOT, dict(os.environ), str(model_folder), 0)["single"])}

    def _script(self, root: Path, env: dict[str, str], model_ref: str, batch_repeats: int) -> dict[str, Any]:
        proc = subprocess.run([sys.executable, "-c", _SPEED_SCRIPT, str(self.texts_file), str(self.n_batch),
                               str(self.n_latency), str(batch_repeats), model_ref], cwd=root, env=env,
                              capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(" | ".join(proc.stderr.strip().splitlines()[-2:]) or f"exit {proc.returncode}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def interleaved_latency(reference: ReferenceRunner, model_folder: Path, rounds: int) -> dict[str, Any]:
    """Single-chart p50 of this build's model and of the reference build in alternating rounds (the model first in
    even rounds, the reference first in odd ones), so that the machine's drift falls on both alike; each round of
    each build in a fresh interpreter with the same warm-up, so that neither gains from caches the other lacks."""
    pairs = []
    for k in range(rounds):
        pair: dict[str, float] = {}
        for who in (("model", "reference") if k % 2 == 0 else ("reference", "model")):
            measured = reference.run_this_build(model_folder) if who == "model" else reference.run(0)
            pair[who] = measured["single"]["p50_ms"]
        pairs.append(pair)
    ratios = [p["model"] / p["reference"] for p in pairs]
    return {"rounds": pairs, "ratio_median": statistics.median(ratios), "ratio_min": min(ratios),
            "ratio_max": max(ratios)}


#: Peak RSS of the running interpreter, in MiB. ``ru_maxrss`` survives fork + exec on Linux (a child of a big
#: parent would report the parent's peak), so the fresh-process high-water mark VmHWM is read when available.
_PEAK_RSS = r"""
def peak_rss_mb():
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource, sys
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024
"""

#: Runs in a fresh interpreter: peak RSS after each stage, as JSON on the last stdout line.
_MEMORY_SCRIPT = _PEAK_RSS + r"""
import json, sys
stage, model_dir, texts_file = sys.argv[1], sys.argv[2], sys.argv[3]
import suggest
if stage in ("model", "batch"):
    model = suggest.load_model(model_dir)
if stage == "batch":
    with open(texts_file, encoding="utf-8") as handle:
        texts = json.load(handle)
    model.suggest_batch(texts, top_k=10)
print(json.dumps({"peak_rss_mb": peak_rss_mb()}))
"""


def _child(script: str, args: Sequence[str], timeout: float | None = None) -> dict[str, Any]:
    """Run ``script`` in a fresh interpreter (project root as cwd); parse the JSON of its last stdout line.

    Raises ``subprocess.TimeoutExpired`` (the child is killed) after ``timeout`` seconds.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", script, *args], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"benchmark subprocess failed (exit {proc.returncode}): {tail[0]}")
    lines = proc.stdout.strip().splitlines()
    return json.loads(lines[-1])


def run_memory(b: Bench) -> dict[str, Any]:
    """Peak RSS of fresh interpreters: import, + load model, + suggest_batch."""
    _model, folder, label = b.engine_model()
    texts, source = b.speed_texts(b.sizes.memory_charts)
    texts_file = b.workdir / "memory-texts.json"
    texts_file.write_text(json.dumps(texts), encoding="utf-8")
    stages = [("python + import suggest", "import"), (f"+ load {label}", "model"),
              (f"+ suggest_batch over {len(texts)} charts", "batch")]
    out: dict[str, Any] = {"model": label, "texts": source, "charts": len(texts), "target": MEMORY_TARGET.to_dict(),
                           "stages": {}}
    for title, stage in stages:
        out["stages"][stage] = {"label": title, **_child(_MEMORY_SCRIPT, [stage, str(folder), str(texts_file)])}
    model_file = folder / "model.joblib"
    out["model_file_mb"] = model_file.stat().st_size / 2**20 if model_file.exists() else None
    rows = [[s["label"], fmt(s["peak_rss_mb"], 0),
             MEMORY_TARGET.label() if key == "batch" else "",
             met_cell(MEMORY_TARGET, s["peak_rss_mb"]) if key == "batch" else ""]
            for key, s in out["stages"].items()]
    print_table("Memory (peak RSS of a fresh process per row: VmHWM, else ru_maxrss)",
                ["stage", "peak RSS MB", "target", ""],
                rows)
    note(f"texts: {source}; model file {fmt(out['model_file_mb'], 1)} MB on disk (compressed joblib)")
    return out


#: Runs in a fresh interpreter: time and peak RSS of training the product on CodiEsp train + synthetic charts.
_TRAIN_SCRIPT = _PEAK_RSS + r"""
import json, sys, time
n_synth, seed = int(sys.argv[1]), int(sys.argv[2])
started = time.perf_counter()
from suggest import Suggester
from suggest.paths import shared_dir
from training.synth import generate_charts
charts = generate_charts(n_synth, seed)
n_codiesp = 0
shared = shared_dir()
if shared is not None:
    from training.codiesp import read_codiesp
    codiesp, _ = read_codiesp(shared / "data" / "codiesp" / "train", "train")
    n_codiesp = len(codiesp)
    charts = codiesp + charts
data_s = time.perf_counter() - started
started = time.perf_counter()
model = Suggester().fit([c.text for c in charts], [c.codes for c in charts], [c.specialty for c in charts])
fit_s = time.perf_counter() - started
print(json.dumps({"charts": len(charts), "codiesp_charts": n_codiesp, "synthetic_charts": n_synth,
                  "labels": len(model.training_labels_), "data_s": data_s, "fit_s": fit_s, "peak_rss_mb": peak_rss_mb()}))
"""


def run_train(b: Bench) -> dict[str, Any]:
    """Wall time of ``Suggester().fit`` on CodiEsp train + 10k synthetic charts (fresh process)."""
    if b.quick:
        raise Skipped("--quick skips training (it takes minutes)"
                      + (f"; the quick model trained in {b.quick_model_train_seconds:.1f} s"
                         if b.quick_model_train_seconds else ""))
    n, seed = TRAIN_SYNTHETIC
    data = "CodiEsp train + " if b.shared is not None else ""
    note(f"training Suggester() (default config) on {data}{n} synthetic charts in a fresh process "
         f"(several minutes) ...")
    if b.shared is None:
        note("the shared corpora are absent: synthetic charts only")
    limit = TRAIN_TIMEOUT_FACTOR * TRAIN_TARGET.threshold
    try:
        out = _child(_TRAIN_SCRIPT, [str(n), str(seed)], timeout=limit)
    except subprocess.TimeoutExpired:
        print_table("Training time", ["step", "seconds", "target", ""],
                    [["Suggester().fit", f"> {limit:.0f} (stopped)", TRAIN_TARGET.label(), "NOT met"]])
        return {"fit_s": None, "stopped_after_s": limit, "target": TRAIN_TARGET.to_dict()}
    out["target"] = TRAIN_TARGET.to_dict()
    print_table(f"Training time ({out['codiesp_charts']} CodiEsp train + {out['synthetic_charts']} synthetic charts = "
                f"{out['charts']} charts, {out['labels']} labels)",
                ["step", "seconds", "target", ""],
                [["load / generate data", fmt(out["data_s"], 1), "", ""],
                 ["Suggester().fit", fmt(out["fit_s"], 1), TRAIN_TARGET.label(), met_cell(TRAIN_TARGET, out["fit_s"])],
                 ["peak RSS MB (training process)", fmt(out["peak_rss_mb"], 0), "", ""]])
    return out


def _robustness_cases(b: Bench) -> list[tuple[str, str, str]]:
    """(name, kind, text) of each robustness input; kind 'empty' expects no suggestions and a reason."""
    dev = b.codiesp("dev")
    if dev:
        chart, chart_source = dev[0].text, "a CodiEsp dev chart"
    else:
        from training.synth import generate_charts

        chart, chart_source = generate_charts(1, seed=3)[0].text, "a synthetic chart"
    raw = (b"Assessment: type 2 diabetes mellitus \xff\xfe without complications; essential hypertension \x80\x81. "
           b"Plan: metformin \xc3\x28 500 mg.")
    digits = "12/03/2024 08:15 -- 120/80 ; 98.6 (37.0) #4 [5] {6} !? % $0.50 *** === 1,234.5 - 7:30 | 42\n" * 40

    def repeated(megabytes: float) -> str:
        unit = chart + "\n\n"
        return unit * max(1, math.ceil(megabytes * MB / len(unit.encode("utf-8"))))

    cases = [("empty text", "empty", ""), ("whitespace only", "empty", " \n\t  \r\n  "),
             ("non-UTF-8 bytes, decoded errors='replace'", "text", raw.decode("utf-8", errors="replace")),
             ("100k-character token", "text", "Assessment: " + "x" * 100_000 + " with type 2 diabetes mellitus."),
             ("digits and punctuation only", "text", digits),
             (f"one chart ({chart_source})", "scale", chart)]
    cases += [(f"{mb:g} MB (the chart repeated)", "scale", repeated(mb)) for mb in b.sizes.robustness_mb]
    return cases


def _projected_seconds(points: list[tuple[float, float]], size_mb: float) -> float | None:
    """Time a ``size_mb`` input should take, extrapolated from the last two (MB, seconds) points of the run.

    The growth exponent between them (clipped to [1, 2]) carries on: linear code projects linearly, quadratic
    code quadratically. None before any point is known.
    """
    if not points:
        return None
    (s2, t2) = points[-1]
    exponent = 1.0
    if len(points) >= 2:
        (s1, t1) = points[-2]
        if s2 > s1 and t1 > 0 and t2 > 0:
            exponent = min(max(math.log(t2 / t1) / math.log(s2 / s1), 1.0), 2.0)
    return t2 * (size_mb / s2) ** exponent


def run_robustness(b: Bench) -> dict[str, Any]:
    """suggest() on degenerate and very large inputs: no crash, time per MB roughly constant."""
    model, _folder, label = b.engine_model()
    model.suggest("Assessment: essential hypertension.")  # warm-up
    budget = b.sizes.robustness_budget_s
    out: dict[str, Any] = {"model": label, "budget_s": budget, "cases": []}
    rows = []
    points: list[tuple[float, float]] = []  # (MB, seconds) of the scaling cases run so far
    for name, kind, text in _robustness_cases(b):
        size_mb = len(text.encode("utf-8", "surrogatepass")) / MB
        case: dict[str, Any] = {"case": name, "chars": len(text), "mb": size_mb, "seconds": None, "s_per_mb": None}
        projected = _projected_seconds(points, size_mb) if kind == "scale" else None
        if projected is not None and projected > budget:
            case.update(status="skipped", outcome=f"not run: projected {projected:.0f} s from the smaller inputs "
                                                  f"(budget {budget:.0f} s per case)")
        else:
            started = time.perf_counter()
            try:
                res = model.suggest(text, top_k=10)
            except Exception as exc:  # the point of this section: report, never crash the bench
                case.update(seconds=time.perf_counter() - started, status="failed",
                            outcome=f"ERROR {type(exc).__name__}: {exc}")
            else:
                seconds = time.perf_counter() - started
                bad_evidence = sum(text[e.start:e.end] != e.text for s in res.suggestions for e in s.evidence)
                ok = bad_evidence == 0 and (kind != "empty" or (not res.suggestions and bool(res.warnings)))
                outcome = f"{len(res.suggestions)} suggestions"
                if res.suggestions:
                    outcome += f" (top {res.suggestions[0].code})"
                if res.warnings:
                    outcome += f"; warnings: {'; '.join(res.warnings)}"
                if bad_evidence:
                    outcome += f"; {bad_evidence} evidence spans do not match the text"
                case.update(seconds=seconds, status="ok" if ok else "failed", outcome=outcome,
                            suggestions=len(res.suggestions), warnings=list(res.warnings), bad_evidence=bad_evidence)
                if kind == "scale":
                    case["s_per_mb"] = seconds / size_mb
                    points.append((size_mb, seconds))
        out["cases"].append(case)
        ms = fmt(case["seconds"] * 1000, 1) if case["seconds"] is not None else "-"
        rows.append([name, f"{case['chars']:,}", ms, fmt(case["s_per_mb"], 2), case["status"], case["outcome"]])
    print_table(f"Robustness of suggest() ({label})", ["input", "chars", "ms", "s per MB", "", "outcome"], rows)
    note("s per MB stays roughly flat from one chart to the largest text when time scales linearly")
    return out


RUNNERS: dict[str, Callable[[Bench], dict[str, Any]]] = {
    "accuracy": run_accuracy, "aci": run_aci, "speed": run_speed, "memory": run_memory, "train": run_train,
    "robustness": run_robustness,
}


# ----------------------------------------------------------------------------- command line
def parse_sections(value: str) -> list[str]:
    names = [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in names if s not in SECTIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown section(s) {', '.join(unknown) or '(none given)'}: choose from {', '.join(SECTIONS)}")
    return [s for s in SECTIONS if s in names]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.engine", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="sections: " + ", ".join(SECTIONS))
    parser.add_argument("--sections", type=parse_sections, default=list(SECTIONS),
                        help=f"comma-separated sections to run (default: all: {','.join(SECTIONS)})")
    parser.add_argument("--quick", action="store_true",
                        help="tiny data and a small model trained in seconds (exercises the code paths; skips train)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="limit native thread pools (OpenMP, BLAS) to N threads for the whole run, subprocesses "
                             "included (default: the libraries' own choice)")
    parser.add_argument("--reference", default="ce69c3d", metavar="REV",
                        help="git revision of the reference build the speed section also times, in a fresh "
                             "interpreter of its checkout (default ce69c3d; 'none' to leave it out)")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT",
                        help="where to write all numbers (default bench/results/engine-<timestamp>.json)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected sections; returns 0, or 1 when a section failed (skipped sections are not failures)."""
    args = build_parser().parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            build_parser().error("--threads must be at least 1")
        for var in THREAD_ENV_VARS:  # read when the native libraries load: nothing heavy is imported yet
            os.environ[var] = str(args.threads)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = datetime.now(timezone.utc)
    output = args.json or RESULTS_DIR / f"engine-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    report: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"), "quick": args.quick, "threads": args.threads,
        "sections": {},
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average_at_start": list(os.getloadavg())},
    }
    print(f"engine benchmark{' (--quick: tiny data, numbers mean nothing)' if args.quick else ''}: "
          f"sections {', '.join(args.sections)}; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}"
          + (f"; native thread pools limited to {args.threads}" if args.threads else ""), flush=True)
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        b = Bench(args.quick, Path(tmp), None if args.quick or args.reference.lower() == "none" else args.reference)
        if b.shared is None:
            print("the shared corpora (../shared or $SUGGEST_SHARED_DIR) are absent: accuracy and aci are skipped, "
                  "speed and memory use synthetic charts")
        for name in args.sections:
            print(f"\n=== {name} ===", flush=True)
            section_started = time.perf_counter()
            try:
                result = {"status": "ok", **RUNNERS[name](b)}
            except Skipped as exc:
                print(f"  skipped: {exc}")
                result = {"status": "skipped", "reason": str(exc)}
            except Exception as exc:  # report and go on with the other sections
                failed = True
                print(f"  FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
                traceback.print_exc()
                result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
            result["section_seconds"] = time.perf_counter() - section_started
            report["sections"][name] = result
        report["model"] = b.model_info
    report["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, default=_json_default), encoding="utf-8")
    print(f"\nresults written to {output}")
    return 1 if failed else 0


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
