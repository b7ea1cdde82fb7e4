"""Evaluation of a suggester on coded charts, for data scientists and evaluators.

``evaluate_model`` runs a model over gold-coded charts and keeps, per chart, the
ranked codes, confidences, selections and evidence. From that:

- ``Evaluation.metrics``: MAP, P@k/R@k, micro/macro F1 of the selected codes, ECE
  (``suggest.metrics.evaluate_predictions``);
- ``per_chapter``: precision/recall/F1 of selected codes by ICD-10-CM chapter;
- ``worst_false_positives`` / ``missed_gold_codes``: the errors worth reading;
- ``paired_bootstrap``: confidence intervals for the difference of two models on the
  same charts;
- ``write_report``: ``metrics.json`` and a self-contained ``report.html`` (plots inline).

The HTML report may quote chart text (it is the evaluator's local file); nothing here
logs chart text.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from suggest.errors import SuggestError
from suggest.metrics import RankedPrediction, average_precision, evaluate_predictions
from suggest.types import Chart, Suggestion

#: Cut-offs reported by ``evaluate`` (the CLI table shows these; metrics.json has k=10 too).
TABLE_KS = (1, 5, 8, 15)
#: Suggestions ranked per chart when evaluating: MAP is over the whole ranked list, as in CodiEsp's evaluation.
EVAL_TOP_K = 50
REPORT_KS = (1, 5, 8, 10, 15)

#: ICD-10-CM chapters by range of 3-character categories: (first, last, number, title).
CHAPTERS: tuple[tuple[str, str, int, str], ...] = (
    ("A00", "B99", 1, "Infectious and parasitic diseases"),
    ("C00", "D49", 2, "Neoplasms"),
    ("D50", "D89", 3, "Blood and immune mechanism"),
    ("E00", "E89", 4, "Endocrine, nutritional and metabolic"),
    ("F01", "F99", 5, "Mental and behavioural"),
    ("G00", "G99", 6, "Nervous system"),
    ("H00", "H59", 7, "Eye and adnexa"),
    ("H60", "H95", 8, "Ear and mastoid process"),
    ("I00", "I99", 9, "Circulatory system"),
    ("J00", "J99", 10, "Respiratory system"),
    ("K00", "K95", 11, "Digestive system"),
    ("L00", "L99", 12, "Skin and subcutaneous tissue"),
    ("M00", "M99", 13, "Musculoskeletal and connective tissue"),
    ("N00", "N99", 14, "Genitourinary system"),
    ("O00", "O9A", 15, "Pregnancy, childbirth and the puerperium"),
    ("P00", "P96", 16, "Perinatal conditions"),
    ("Q00", "Q99", 17, "Congenital malformations"),
    ("R00", "R99", 18, "Symptoms, signs and abnormal findings"),
    ("S00", "T88", 19, "Injury, poisoning and external consequences"),
    ("U00", "U85", 22, "Codes for special purposes"),
    ("V00", "Y99", 20, "External causes of morbidity"),
    ("Z00", "Z99", 21, "Factors influencing health status"),
)


def chapter_of(code: str) -> str:
    """The chapter label (``"04 Endocrine, nutritional and metabolic"``) of a code, or ``"?? other"``."""
    category = code[:3].upper()
    for first, last, number, title in CHAPTERS:
        if first <= category <= last:
            return f"{number:02d} {title}"
    return "?? other"


@dataclass(slots=True)
class ChartOutcome:
    """One chart's gold codes and the model's ranked suggestions."""

    chart_id: str
    text: str
    gold: list[str]
    suggestions: list[Suggestion]
    warnings: list[str] = field(default_factory=list)

    @property
    def prediction(self) -> RankedPrediction:
        return RankedPrediction(
            codes=[s.code for s in self.suggestions],
            confidences=[float(s.confidence) for s in self.suggestions],
            selected=[bool(s.selected) for s in self.suggestions],
        )

    def counts(self) -> tuple[int, int, int]:
        """(true positives, false positives, false negatives) of the selected codes."""
        gold = set(self.gold)
        selected = {s.code for s in self.suggestions if s.selected}
        return len(selected & gold), len(selected - gold), len(gold - selected)


@dataclass
class Evaluation:
    """A model's results on a set of charts.

    Attributes
    ----------
    model : str
        How the model was referred to (path, ``default``, ``models:/...``).
    data : str
        The data file evaluated on.
    metrics : dict
        Headline metrics (``map``, ``p@k``, ``r@k``, ``micro_f1``, ``macro_f1``, ``ece``, ...).
    outcomes : list of ChartOutcome
        Per-chart results, in the order of the data file.
    model_info : dict
        Name, version, threshold and code-set release from the model card.
    """

    model: str
    data: str
    metrics: dict[str, float]
    outcomes: list[ChartOutcome]
    model_info: dict[str, Any] = field(default_factory=dict)

    def chart_scores(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-chart average precision (NaN without gold) and (tp, fp, fn) counts, shape (n, 3)."""
        ap = np.array(
            [average_precision(set(o.gold), o.prediction.codes) if o.gold else np.nan for o in self.outcomes]
        )
        counts = np.array([o.counts() for o in self.outcomes], dtype=float).reshape(-1, 3)
        return ap, counts


# --------------------------------------------------------------------------- running


def load_model(ref: str):
    """Load a model from anything ``suggest.load_model`` accepts (folder, ``default``, ``models:/``)."""
    import suggest

    return suggest.load_model(ref)


def load_gold(path: str | Path) -> list[Chart]:
    """Read a gold JSONL corpus; refuse one without any coded chart."""
    from suggest.corpus import read_jsonl

    charts = read_jsonl(path)
    if not charts:
        raise SuggestError(f"{path}: no charts to evaluate on")
    if not any(c.codes for c in charts):
        raise SuggestError(f"{path}: no chart has gold codes ('codes' is empty on every line)")
    return charts


def predict_charts(model, charts: Sequence[Chart], *, top_k: int = EVAL_TOP_K, batch_size: int = 32,
                   setting: str | None = None) -> list[ChartOutcome]:
    """Run ``model.suggest_batch`` over the charts (in batches, with a progress bar on a terminal), in the
    care ``setting`` given (default: the model's)."""
    outcomes: list[ChartOutcome] = []
    batches = [charts[i : i + batch_size] for i in range(0, len(charts), batch_size)]
    bar = None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(charts), desc="suggesting", unit="chart", leave=False)
    try:
        for batch in batches:
            results = model.suggest_batch(
                [c.text for c in batch], top_k=top_k, specialties=[c.specialty for c in batch], setting=setting
            )
            for chart, result in zip(batch, results, strict=True):
                outcomes.append(
                    ChartOutcome(
                        chart_id=chart.id,
                        text=chart.text,
                        gold=list(chart.codes),
                        suggestions=list(result.suggestions),
                        warnings=list(result.warnings),
                    )
                )
            if bar is not None:
                bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()
    return outcomes


def model_info(model) -> dict[str, Any]:
    """Name, version, threshold and code-set release of a loaded model (from its card)."""
    card = getattr(model, "card_", None)
    if card is None:
        return {"name": "", "version": "", "created": "", "codeset_release": "",
                "threshold": float(getattr(model, "threshold_", 0.0) or 0.0)}
    return {
        "name": card.name,
        "version": card.version,
        "created": card.created,
        "codeset_release": card.codeset_release,
        "threshold": float(getattr(model, "threshold_", card.threshold)),
    }


def evaluate_model(
    model,
    charts: Sequence[Chart],
    *,
    top_k: int = EVAL_TOP_K,
    seen_codes: set[str] | None = None,
    model_ref: str = "",
    data_ref: str = "",
    setting: str | None = None,
) -> Evaluation:
    """Evaluate ``model`` on gold-coded ``charts`` in the care ``setting`` (default: the model's).

    ``seen_codes`` (the codes of the training data) adds ``unseen_gold_share`` (share of gold
    code occurrences never seen in training) and ``unseen_r@15`` (recall at 15 of those).
    """
    outcomes = predict_charts(model, charts, top_k=top_k, setting=setting)
    metrics = compute_metrics(outcomes, seen_codes=seen_codes)
    return Evaluation(model=model_ref, data=data_ref, metrics=metrics, outcomes=outcomes, model_info=model_info(model))


def compute_metrics(outcomes: Sequence[ChartOutcome], *, seen_codes: set[str] | None = None) -> dict[str, float]:
    """Headline metrics of a set of chart outcomes (see ``suggest.metrics.evaluate_predictions``)."""
    metrics = evaluate_predictions([o.gold for o in outcomes], [o.prediction for o in outcomes], ks=REPORT_KS)
    metrics["n_gold_codes"] = float(sum(len(o.gold) for o in outcomes))
    if seen_codes is not None:
        unseen = hits = 0
        for o in outcomes:
            top = set(o.prediction.codes[:15])
            for code in o.gold:
                if code not in seen_codes:
                    unseen += 1
                    hits += code in top
        total = sum(len(o.gold) for o in outcomes)
        metrics["unseen_gold_share"] = unseen / total if total else 0.0
        metrics["unseen_r@15"] = hits / unseen if unseen else 0.0
    return metrics


# --------------------------------------------------------------------------- analysis


def per_chapter(ev: Evaluation) -> list[dict[str, Any]]:
    """Precision, recall and F1 of the selected codes, by ICD-10-CM chapter of the code."""
    occurrences = []
    for o in ev.outcomes:
        gold = set(o.gold)
        selected = {s.code for s in o.suggestions if s.selected}
        occurrences += [(code, int(code in gold and code in selected), int(code in selected and code not in gold),
                         int(code in gold and code not in selected)) for code in gold | selected]
    return chapters_of_counts(occurrences)


def chapters_of_counts(code_counts: Sequence[tuple[str, int, int, int]]) -> list[dict[str, Any]]:
    """Per-chapter precision, recall and F1 from ``(code, tp, fp, fn)`` counts (per chart, or summed by code)."""
    counts: dict[str, list[int]] = {}
    for code, tp, fp, fn in code_counts:
        c = counts.setdefault(chapter_of(code), [0, 0, 0])
        c[0] += tp
        c[1] += fp
        c[2] += fn
    rows = []
    for chapter in sorted(counts):
        tp, fp, fn = counts[chapter]
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        rows.append(
            {
                "chapter": chapter,
                "gold": tp + fn,
                "selected": tp + fp,
                "tp": tp,
                "precision": p,
                "recall": r,
                "f1": 2 * p * r / (p + r) if p + r else 0.0,
            }
        )
    return rows


def snippet(text: str, start: int, end: int, context: int = 60) -> str:
    """The evidence span with some context, on one line, ``[[...]]`` around the span."""
    left = max(0, start - context)
    right = min(len(text), end + context)
    out = ("…" if left else "") + text[left:start] + "[[" + text[start:end] + "]]" + text[end:right]
    out += "…" if right < len(text) else ""
    return " ".join(out.split())


def worst_false_positives(ev: Evaluation, limit: int = 25, *, with_text: bool = True) -> list[dict[str, Any]]:
    """Selected suggestions that are not gold, most confident first (at most 3 per code), with
    evidence snippets (none when ``with_text`` is False)."""
    rows = []
    for o in ev.outcomes:
        gold = set(o.gold)
        for rank, s in enumerate(o.suggestions, start=1):
            if s.selected and s.code not in gold:
                rows.append(
                    {
                        "chart_id": o.chart_id,
                        "code": s.code,
                        "description": s.description,
                        "confidence": float(s.confidence),
                        "rank": rank,
                        "sources": list(s.sources),
                        "evidence": [
                            {"snippet": snippet(o.text, e.start, e.end), "section": e.section, "assertion": dict(e.assertion)}
                            for e in (s.evidence[:3] if with_text else [])
                        ],
                    }
                )
    rows.sort(key=lambda r: -r["confidence"])
    return _diverse(rows, limit)


def _diverse(rows: list[dict[str, Any]], limit: int, per_code: int = 3) -> list[dict[str, Any]]:
    """The first ``limit`` rows keeping at most ``per_code`` examples of each code."""
    seen: Counter[str] = Counter()
    out = []
    for row in rows:
        if seen[row["code"]] < per_code:
            seen[row["code"]] += 1
            out.append(row)
            if len(out) == limit:
                break
    return out


_WORD = re.compile(r"[a-z]{3,}")


def _best_sentence(text: str, description: str) -> str:
    """The sentence of ``text`` sharing most words with ``description`` (a pointer for the reader)."""
    terms = set(_WORD.findall(description.lower())) - {"and", "with", "without", "other", "unspecified", "the"}
    if not terms:
        return ""
    best, best_score = "", 0
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", text):
        score = len(terms & set(_WORD.findall(sentence.lower())))
        if score > best_score:
            best, best_score = sentence, score
    best = " ".join(best.split())
    return best[:240] + ("…" if len(best) > 240 else "")


def _describe(code: str) -> str:
    try:
        from suggest.codeset import load_codeset

        info = load_codeset().get(code)
        return info.description if info else ""
    except Exception:  # the code set is optional for a report: no description is no harm
        return ""


def missed_gold_codes(ev: Evaluation, limit: int = 25, *, with_text: bool = True) -> list[dict[str, Any]]:
    """Gold codes the model did not select: most often missed codes first, then least confident
    (at most 3 examples per code).

    Each row carries the model's rank and confidence for the code (if it ranked it at all)
    and evidence snippets: the model's own evidence when it had some, else the chart
    sentence closest to the code's description.
    """
    missed: list[dict[str, Any]] = []
    for o in ev.outcomes:
        by_code = {s.code: (rank, s) for rank, s in enumerate(o.suggestions, start=1)}
        for code in o.gold:
            rank, s = by_code.get(code, (None, None))
            if s is not None and s.selected:
                continue
            missed.append(
                {
                    "chart_id": o.chart_id,
                    "code": code,
                    "description": s.description if s is not None else "",
                    "rank": rank,
                    "confidence": float(s.confidence) if s is not None else 0.0,
                    "evidence": [
                        {"snippet": snippet(o.text, e.start, e.end), "section": e.section, "assertion": dict(e.assertion)}
                        for e in (s.evidence[:3] if s is not None and with_text else [])
                    ],
                    "_text": o.text,
                }
            )
    frequency = Counter(m["code"] for m in missed)
    missed.sort(key=lambda m: (-frequency[m["code"]], m["confidence"], m["code"], m["chart_id"]))
    rows = _diverse(missed, limit)
    for row in rows:
        text = row.pop("_text")
        row["times_missed"] = frequency[row["code"]]
        if not row["description"]:
            row["description"] = _describe(row["code"])
        if not row["evidence"] and with_text:
            sentence = _best_sentence(text, row["description"])
            if sentence:
                row["evidence"] = [{"snippet": sentence, "section": "", "assertion": {}, "closest_sentence": True}]
    return rows


def paired_bootstrap(
    a: Evaluation, b: Evaluation, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, dict[str, float]]:
    """Paired bootstrap over charts of the differences ``b - a`` in MAP and micro-F1.

    Both evaluations must be on the same charts in the same order. Returns, per metric,
    ``a``, ``b``, ``diff``, ``ci_low``, ``ci_high`` and ``p_not_better`` (share of resamples
    where b does not beat a).
    """
    ids_a = [o.chart_id for o in a.outcomes]
    if ids_a != [o.chart_id for o in b.outcomes]:
        raise SuggestError("paired bootstrap needs both models evaluated on the same charts")
    ap_a, cnt_a = a.chart_scores()
    ap_b, cnt_b = b.chart_scores()
    n = len(ids_a)
    rng = np.random.default_rng(seed)
    has_gold = ~np.isnan(ap_a)
    ap_a0, ap_b0 = np.nan_to_num(ap_a), np.nan_to_num(ap_b)
    map_diffs, f1_diffs = [], []
    for start in range(0, n_boot, 200):
        idx = rng.integers(0, n, size=(min(200, n_boot - start), n))
        weight = has_gold[idx].sum(axis=1)
        weight = np.where(weight == 0, 1, weight)
        map_diffs.append((ap_b0[idx].sum(axis=1) - ap_a0[idx].sum(axis=1)) / weight)
        f1_diffs.append(_micro_f1(cnt_b[idx].sum(axis=1)) - _micro_f1(cnt_a[idx].sum(axis=1)))
    alpha = (1 - level) / 2
    out = {}
    for name, diffs, va, vb in (
        ("map", np.concatenate(map_diffs), a.metrics["map"], b.metrics["map"]),
        ("micro_f1", np.concatenate(f1_diffs), a.metrics["micro_f1"], b.metrics["micro_f1"]),
    ):
        out[name] = {
            "a": float(va),
            "b": float(vb),
            "diff": float(vb - va),
            "ci_low": float(np.quantile(diffs, alpha)),
            "ci_high": float(np.quantile(diffs, 1 - alpha)),
            "p_not_better": float(np.mean(diffs <= 0)),
        }
    return out


def _micro_f1(counts: np.ndarray) -> np.ndarray:
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    denom = 2 * tp + fp + fn
    return np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)


# --------------------------------------------------------------------------- text output


def format_metrics_table(metrics: dict[str, float], title: str = "") -> str:
    """A small aligned table of the headline metrics."""
    rows = [("MAP", metrics.get("map", 0.0))]
    for k in TABLE_KS:
        rows.append((f"P@{k} / R@{k}", (metrics.get(f"p@{k}", 0.0), metrics.get(f"r@{k}", 0.0))))
    rows += [
        ("micro P / R", (metrics.get("micro_precision", 0.0), metrics.get("micro_recall", 0.0))),
        ("micro F1", metrics.get("micro_f1", 0.0)),
        ("macro F1", metrics.get("macro_f1", 0.0)),
        ("ECE", metrics.get("ece", 0.0)),
    ]
    if "unseen_r@15" in metrics:
        rows.append(("unseen codes R@15", metrics["unseen_r@15"]))
    lines = [title] if title else []
    for name, value in rows:
        text = " / ".join(f"{v:.4f}" for v in value) if isinstance(value, tuple) else f"{value:.4f}"
        lines.append(f"  {name:<18} {text}")
    lines.append(f"  {'charts':<18} {int(metrics.get('n_charts', 0))}")
    return "\n".join(lines)


def format_comparison(a: Evaluation, b: Evaluation, boot: dict[str, dict[str, float]], n_boot: int) -> str:
    """Side-by-side metrics of two models with paired bootstrap 95% CIs of the differences B - A."""
    names = ["MAP"] + [f"P@{k}" for k in TABLE_KS] + [f"R@{k}" for k in TABLE_KS] + ["micro F1", "macro F1", "ECE"]
    keys = ["map"] + [f"p@{k}" for k in TABLE_KS] + [f"r@{k}" for k in TABLE_KS] + ["micro_f1", "macro_f1", "ece"]
    lines = [
        f"  A = {a.model}",
        f"  B = {b.model}",
        f"  {'metric':<10} {'A':>8} {'B':>8} {'B - A':>8}   paired bootstrap 95% CI of B - A",
    ]
    for name, key in zip(names, keys, strict=True):
        va, vb = a.metrics.get(key, 0.0), b.metrics.get(key, 0.0)
        line = f"  {name:<10} {va:>8.4f} {vb:>8.4f} {vb - va:>+8.4f}"
        if key in boot:
            ci = boot[key]
            line += f"   [{ci['ci_low']:+.4f}, {ci['ci_high']:+.4f}]"
        lines.append(line)
    lines.append(f"  {len(a.outcomes)} charts, {n_boot} resamples over charts")
    return "\n".join(lines)


# --------------------------------------------------------------------------- plots and report


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def _pairs(ev: Evaluation) -> tuple[np.ndarray, np.ndarray]:
    conf, hit = [], []
    for o in ev.outcomes:
        gold = set(o.gold)
        for s in o.suggestions:
            conf.append(float(s.confidence))
            hit.append(s.code in gold)
    return np.asarray(conf, dtype=float), np.asarray(hit, dtype=bool)


def make_plots(ev: Evaluation, chapters: list[dict[str, Any]] | None = None) -> dict[str, bytes]:
    """PNG bytes of the reliability diagram, precision-recall curve and per-chapter F1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conf, hit = _pairs(ev)
    plots: dict[str, bytes] = {}

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    bins = np.linspace(0, 1, 11)
    which = np.minimum(np.digitize(conf, bins) - 1, 9) if conf.size else np.array([], dtype=int)
    mids, accs, sizes = [], [], []
    for b in range(10):
        mask = which == b
        if mask.any():
            mids.append(conf[mask].mean())
            accs.append(hit[mask].mean())
            sizes.append(int(mask.sum()))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
    if mids:
        ax.plot(mids, accs, marker="o", color="C0", label="model")
        for x, y, s in zip(mids, accs, sizes, strict=True):
            ax.annotate(str(s), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7, color="grey")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="share correct",
           title=f"Reliability (ECE {ev.metrics.get('ece', 0):.3f})")
    ax.legend(loc="upper left", fontsize=8)
    plots["reliability.png"] = _png(fig)

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    n_gold = sum(len(o.gold) for o in ev.outcomes)
    if conf.size and n_gold:
        order = np.argsort(-conf, kind="stable")
        tp = np.cumsum(hit[order])
        precision = tp / np.arange(1, conf.size + 1)
        recall = tp / n_gold
        ax.plot(recall, precision, color="C1")
        threshold = ev.model_info.get("threshold")
        if threshold is not None:
            at = int(np.sum(conf >= threshold))
            if at:
                ax.plot([recall[at - 1]], [precision[at - 1]], "o", color="C3", label=f"threshold {threshold:.2f}")
                ax.legend(loc="upper right", fontsize=8)
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall (of all gold codes)", ylabel="precision",
           title="Precision-recall over confidence")
    plots["precision_recall.png"] = _png(fig)

    rows = chapters if chapters is not None else per_chapter(ev)
    fig, ax = plt.subplots(figsize=(7, max(2.0, 0.3 * len(rows) + 1)))
    if rows:
        labels = [r["chapter"][:40] for r in rows][::-1]
        ax.barh(labels, [r["f1"] for r in rows][::-1], color="C2")
        for y, r in enumerate(rows[::-1]):
            inside = r["f1"] > 0.8
            ax.text(r["f1"] - 0.01 if inside else r["f1"] + 0.01, y, f"{r['f1']:.2f} (n={r['gold']})",
                    va="center", ha="right" if inside else "left", fontsize=7, color="white" if inside else "black")
    ax.set(xlim=(0, 1), xlabel="F1 of selected codes", title="F1 by ICD-10-CM chapter")
    ax.tick_params(axis="y", labelsize=7)
    plots["per_chapter_f1.png"] = _png(fig)
    return plots


def metrics_document(ev: Evaluation, chapters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The content of ``metrics.json``: metrics, model, data and per-chapter results (no chart text)."""
    return {
        "model": ev.model,
        "model_info": ev.model_info,
        "data": ev.data,
        "evaluated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "metrics": {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in ev.metrics.items()},
        "per_chapter": chapters if chapters is not None else per_chapter(ev),
    }


def write_report(ev: Evaluation, output: str | Path, *, plots_dir: bool = True, redact: bool = False) -> dict[str, Path]:
    """Write ``metrics.json``, ``report.html`` (plots inline) and ``plots/*.png`` into ``output``.

    ``redact`` leaves chart text out of the report (for reports that travel with a model or
    into a tracking server); the error tables then show chart ids and codes only.
    """
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    chapters = per_chapter(ev)
    plots = make_plots(ev, chapters)
    written: dict[str, Path] = {}
    (out / "metrics.json").write_text(json.dumps(metrics_document(ev, chapters), indent=2) + "\n", encoding="utf-8")
    written["metrics.json"] = out / "metrics.json"
    if plots_dir:
        (out / "plots").mkdir(exist_ok=True)
        for name, data in plots.items():
            (out / "plots" / name).write_bytes(data)
            written[name] = out / "plots" / name
    (out / "report.html").write_text(render_html(ev, chapters, plots, redact=redact), encoding="utf-8")
    written["report.html"] = out / "report.html"
    return written


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#1b1b1b;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.plots{display:flex;flex-wrap:wrap;gap:1rem}.plots img{border:1px solid #eee;max-width:100%}
.ev{font-family:ui-monospace,monospace;font-size:.8rem;color:#333}.ev mark{background:#ffe58a}
.muted{color:#666;font-size:.85rem}
"""


def _evidence_html(evidence: list[dict[str, Any]]) -> str:
    parts = []
    for e in evidence:
        text = html.escape(e["snippet"]).replace("[[", "<mark>").replace("]]", "</mark>")
        flags = [k for k, v in (e.get("assertion") or {}).items() if v]
        extra = []
        if e.get("section"):
            extra.append(html.escape(e["section"]))
        if flags:
            extra.append(html.escape(", ".join(flags)))
        if e.get("closest_sentence"):
            extra.append("closest sentence, not model evidence")
        note = f' <span class="muted">({"; ".join(extra)})</span>' if extra else ""
        parts.append(f'<div class="ev">{text}{note}</div>')
    return "".join(parts) or '<span class="muted">none</span>'


def render_html(ev: Evaluation, chapters: list[dict[str, Any]], plots: dict[str, bytes], *, redact: bool = False) -> str:
    """The self-contained HTML report (without any chart text when ``redact``)."""
    esc = html.escape
    m = ev.metrics
    info = ev.model_info
    metric_rows = [("MAP", m.get("map"))]
    for k in REPORT_KS:
        metric_rows += [(f"P@{k}", m.get(f"p@{k}")), (f"R@{k}", m.get(f"r@{k}"))]
    metric_rows += [
        ("micro precision", m.get("micro_precision")),
        ("micro recall", m.get("micro_recall")),
        ("micro F1", m.get("micro_f1")),
        ("macro F1", m.get("macro_f1")),
        ("ECE", m.get("ece")),
    ]
    if "unseen_r@15" in m:
        metric_rows += [("gold codes unseen in training", m["unseen_gold_share"]), ("R@15 of unseen codes", m["unseen_r@15"])]
    metrics_html = "".join(
        f"<tr><th>{esc(n)}</th><td class='num'>{v:.4f}</td></tr>" for n, v in metric_rows if v is not None
    )
    chapter_html = "".join(
        f"<tr><td>{esc(r['chapter'])}</td><td class='num'>{r['gold']}</td><td class='num'>{r['selected']}</td>"
        f"<td class='num'>{r['tp']}</td><td class='num'>{r['precision']:.3f}</td><td class='num'>{r['recall']:.3f}</td>"
        f"<td class='num'>{r['f1']:.3f}</td></tr>"
        for r in chapters
    )
    fp_html = "".join(
        f"<tr><td>{esc(r['chart_id'])}</td><td><b>{esc(r['code'])}</b> {esc(r['description'])}</td>"
        f"<td class='num'>{r['confidence']:.3f}</td><td class='num'>{r['rank']}</td>"
        f"<td>{esc(', '.join(r['sources']))}</td><td>{_evidence_html(r['evidence'])}</td></tr>"
        for r in worst_false_positives(ev, with_text=not redact)
    )
    fn_html = "".join(
        f"<tr><td>{esc(r['chart_id'])}</td><td><b>{esc(r['code'])}</b> {esc(r['description'])}</td>"
        f"<td class='num'>{r['times_missed']}</td><td class='num'>{r['rank'] if r['rank'] else '—'}</td>"
        f"<td class='num'>{r['confidence']:.3f}</td><td>{_evidence_html(r['evidence'])}</td></tr>"
        for r in missed_gold_codes(ev, with_text=not redact)
    )
    empty = "<tr><td colspan='6' class='muted'>none</td></tr>"
    fp_html = fp_html or empty
    fn_html = fn_html or empty
    images = "".join(
        f'<figure><img alt="{esc(name)}" src="data:image/png;base64,{base64.b64encode(data).decode()}"></figure>'
        for name, data in plots.items()
    )
    model_line = ", ".join(
        f"{k}: {esc(f'{v:.3f}' if isinstance(v, float) else str(v))}" for k, v in info.items() if v not in ("", None)
    )
    privacy = (
        "Chart text is left out of this report; run `suggest evaluate --output` locally to see evidence."
        if redact
        else "This file quotes chart text in its error tables: keep it where the charts may be kept."
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Evaluation report: {esc(ev.model)}</title>
<style>{_CSS}</style></head><body>
<h1>Evaluation report</h1>
<p>Model <b>{esc(ev.model)}</b> ({model_line})<br>Data <b>{esc(ev.data)}</b>: {len(ev.outcomes)} charts,
{int(m.get('n_gold_codes', 0))} gold codes. Generated {datetime.now(timezone.utc).isoformat(timespec='seconds')}.</p>
<p class="muted">{privacy}</p>
<h2>Metrics</h2><table>{metrics_html}</table>
<p class="muted">MAP and P@k/R@k rank all suggestions; precision, recall and F1 count only selected suggestions
(confidence at or above the model threshold); ECE compares confidence with the share correct.</p>
<h2>Plots</h2><div class="plots">{images}</div>
<h2>By chapter</h2>
<table><tr><th>chapter</th><th>gold</th><th>selected</th><th>correct</th><th>precision</th><th>recall</th><th>F1</th></tr>
{chapter_html}</table>
<h2>Worst false positives</h2><p class="muted">Selected codes that are not gold, most confident first.</p>
<table><tr><th>chart</th><th>code</th><th>confidence</th><th>rank</th><th>sources</th><th>evidence</th></tr>{fp_html}</table>
<h2>Missed gold codes</h2><p class="muted">Gold codes not selected: most often missed first, then least confident.</p>
<table><tr><th>chart</th><th>code</th><th>times missed</th><th>rank</th><th>confidence</th><th>evidence</th></tr>{fn_html}</table>
</body></html>
"""
