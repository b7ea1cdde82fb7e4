"""ACI-BENCH, current build against the reference build: ``python -m bench.aci_compare [--reference REV]``.

Both builds' **default models** (each built from its own project material; the reference's in
``bench/results/reference-<rev>/models``, reused across runs) code the ACI-BENCH notes, and both are scored against
the **current** gold codes (``bench/data/aci_bench_codes.jsonl``) with the same metrics (MAP over ranked lists of
50, micro-F1 of the selected codes, R@10, ECE). The gain on ``valid`` (the measurement set) gets a paired bootstrap
CI over notes, as ``suggest compare`` computes it; ``train`` is the development set. Each build runs in its own
interpreter (the saved-model formats differ), the specialty hint is passed, as in ``bench.engine``'s ``aci``.
``valid`` is measured, never tuned on.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.engine import (
    PROJECT_ROOT,
    RESULTS_DIR,
    fmt,
    note,
    print_table,
    write_results,
)
from bench.scaling import reference_checkout, remove_checkout

#: Runs in a fresh interpreter importing the build at its cwd: ranked suggestions of every chart.
_PREDICT_SCRIPT = r"""
import json, sys
charts_file, out_file = sys.argv[1], sys.argv[2]
import suggest
model = suggest.load_model("default")
charts = json.load(open(charts_file, encoding="utf-8"))
results = model.suggest_batch([c["text"] for c in charts], top_k=50, specialties=[c["specialty"] for c in charts])
out = [[[s.code, float(s.confidence), bool(s.selected)] for s in r.suggestions] for r in results]
json.dump(out, open(out_file, "w", encoding="utf-8"))
print(json.dumps({"n": len(out)}))
"""


@dataclass(frozen=True)
class _Scored:
    """What the evaluation reads of a suggestion."""

    code: str
    confidence: float
    selected: bool


def predict(root: Path, charts: list, workdir: Path, env: dict[str, str], timeout: float) -> list[list[_Scored]]:
    charts_file, out_file = workdir / "charts.json", workdir / "out.json"
    charts_file.write_text(json.dumps([{"text": c.text, "specialty": c.specialty} for c in charts]), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", _PREDICT_SCRIPT, str(charts_file), str(out_file)], cwd=root,
                          env={**os.environ, **env, "PYTHONPATH": str(root)}, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(" | ".join(proc.stderr.strip().splitlines()[-3:]))
    return [[_Scored(*s) for s in chart] for chart in json.loads(out_file.read_text(encoding="utf-8"))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.aci_compare", description=__doc__.splitlines()[0])
    parser.add_argument("--reference", default="ce69c3d", help="git revision of the reference build")
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    from suggest.model.loading import default_model_state
    from suggest.paths import models_dir
    from training.aci_bench import load_aci_bench
    from training.evaluation import (
        ChartOutcome,
        Evaluation,
        compute_metrics,
        paired_bootstrap,
    )

    if default_model_state() != "ready":
        from training.default import build_default_model

        note("no default model: building it first (about two minutes)")
        build_default_model(models_dir())
    splits = {split: load_aci_bench(split) for split in ("valid", "train")}
    reference_dir = RESULTS_DIR / f"reference-{args.reference}"
    workdir = reference_dir / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    builds = {"current": (PROJECT_ROOT, {})}
    root = reference_checkout(args.reference, workdir / "checkout")
    builds[f"reference {args.reference}"] = (root, {"SUGGEST_MODELS_DIR": str(reference_dir / "models"),
                                                     "SUGGEST_DEFAULT_TRACK": "0"})
    evaluations: dict[str, dict[str, Evaluation]] = {}
    try:
        for label, (build_root, env) in builds.items():
            evaluations[label] = {}
            for split, charts in splits.items():
                note(f"{label}: coding ACI-BENCH {split} ({len(charts)} notes) ...")
                suggestions = predict(build_root, charts, workdir, env, args.timeout)
                outcomes = [ChartOutcome(c.id, "", list(c.codes), s) for c, s in zip(charts, suggestions, strict=True)]
                evaluations[label][split] = Evaluation(label, f"aci-bench {split}", compute_metrics(outcomes), outcomes)
    finally:
        remove_checkout(root)
    report: dict[str, Any] = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                              "reference": args.reference, "metrics": {}}
    rows = []
    for label, by_split in evaluations.items():
        report["metrics"][label] = {split: ev.metrics for split, ev in by_split.items()}
        for split, ev in by_split.items():
            m = ev.metrics
            rows.append([label, split, fmt(m["map"]), fmt(m["micro_f1"]), fmt(m.get("micro_precision")),
                         fmt(m.get("micro_recall")), fmt(m.get("r@10")), fmt(m.get("p@1")), fmt(m.get("ece"))])
    print_table("ACI-BENCH, default models, scored against the current gold codes",
                ["build", "split", "MAP", "micro-F1", "P", "R", "R@10", "P@1", "ECE"], rows)
    current, reference = evaluations["current"]["valid"], evaluations[f"reference {args.reference}"]["valid"]
    boot = paired_bootstrap(reference, current, n_boot=args.n_boot)
    report["bootstrap_valid"] = boot
    print_table(f"valid: current - reference, paired bootstrap over notes ({args.n_boot} resamples, 95% CI)",
                ["metric", "reference", "current", "gain", "CI low", "CI high", "P(not better)"],
                [[k, fmt(v["a"]), fmt(v["b"]), fmt(v["diff"]), fmt(v["ci_low"]), fmt(v["ci_high"]),
                  fmt(v["p_not_better"])] for k, v in boot.items()])
    note("targets (engine issue, valid, setting outpatient): micro-F1 >= 0.70, R@10 >= 0.85, MAP >= 0.65")
    write_results(report, "aci-compare", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
