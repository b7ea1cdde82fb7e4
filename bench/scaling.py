"""Training at scale: ``python -m bench.scaling [--sizes 10000,30000,100000] [--reference REV] [--skip-accuracy]``.

Two measurements, each in fresh interpreters so that peak memory (VmHWM) is the training's own:

- **scaling**: wall time and peak RSS of ``Suggester().fit`` (default config) on 10k, 30k and 100k synthetic
  charts (``generate_charts(n, 7)``), with the growth exponent between sizes (time ~ n^a, memory ~ n^b; 1 is
  linear, 2 quadratic) and a projection to 1M charts from the two largest sizes. The reference build runs at the
  sizes it can hold in memory (``--reference-sizes``, default 10k), beside the current one.
- **accuracy**: the current build and the reference build trained on CodiEsp train and measured on CodiEsp dev
  (MAP, micro-F1), same run, same machine (needs the shared corpora; skipped with a message when absent).

The reference build (default ``ce69c3d``, the build the groundwork issue names) is checked out with
``git worktree`` into a temporary folder and imported from there with the same virtual environment.
Targets are printed beside the numbers; nothing is asserted. Results also go to ``bench/results/scaling-*.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.engine import (
    _PEAK_RSS,
    PROJECT_ROOT,
    fmt,
    note,
    print_table,
    write_results,
)

DEFAULT_SIZES = (10_000, 30_000, 100_000)
DEFAULT_REFERENCE = "ce69c3d"
SEED = 7
#: Targets of the groundwork issue: 100k charts in at most 30 minutes and 8 GB; dev accuracy within 0.01.
TARGET_100K_SECONDS = 30 * 60
TARGET_100K_MB = 8 * 1024
ACCURACY_TOLERANCE = 0.01

#: Runs in a fresh interpreter (cwd and sys.path at the build under test): fit time and peak RSS.
_FIT_SCRIPT = _PEAK_RSS + r"""
import json, sys, time
n, seed = int(sys.argv[1]), int(sys.argv[2])
from training.synth import generate_charts
charts = generate_charts(n, seed)
texts, codes, specs = [c.text for c in charts], [list(c.codes) for c in charts], [c.specialty for c in charts]
del charts
import suggest
started = time.perf_counter()
model = suggest.Suggester().fit(texts, codes, specs)
fit_s = time.perf_counter() - started
card = model.card_ if isinstance(model.card_, dict) else model.card_.model_dump()
print(json.dumps({"charts": n, "fit_s": fit_s, "peak_rss_mb": peak_rss_mb(),
                  "training_sizes": card.get("training_sizes"), "training_notes": card.get("training_notes", [])}))
"""

#: Runs in a fresh interpreter: train on CodiEsp train, measure on CodiEsp dev.
_ACCURACY_SCRIPT = _PEAK_RSS + r"""
import json, sys, time
shared = sys.argv[1]
from training.codiesp import read_codiesp
from suggest.metrics import RankedPrediction, evaluate_predictions
train, _ = read_codiesp(shared + "/data/codiesp/train", "train")
dev, _ = read_codiesp(shared + "/data/codiesp/dev", "dev")
import suggest
started = time.perf_counter()
model = suggest.Suggester().fit([c.text for c in train], [list(c.codes) for c in train])
fit_s = time.perf_counter() - started
results = model.suggest_batch([c.text for c in dev], top_k=50)
preds = [RankedPrediction([s.code for s in r.suggestions], [s.confidence for s in r.suggestions],
                          [s.selected for s in r.suggestions]) for r in results]
m = evaluate_predictions([c.codes for c in dev], preds)
print(json.dumps({"fit_s": fit_s, "map": m["map"], "micro_f1": m["micro_f1"], "micro_precision": m.get("micro_precision"),
                  "micro_recall": m.get("micro_recall"), "peak_rss_mb": peak_rss_mb()}))
"""


def _run(script: str, args: Sequence[str], root: Path, timeout: float) -> dict[str, Any]:
    """``script`` in a fresh interpreter importing the build at ``root``; the JSON of its last stdout line."""
    env = {**os.environ, "PYTHONPATH": str(root), "SUGGEST_MODELS_DIR": str(Path(tempfile.gettempdir()) / "bench-scaling-models")}
    proc = subprocess.run([sys.executable, "-c", script, *args], cwd=root, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:] or ["no output"]
        raise RuntimeError(f"subprocess failed (exit {proc.returncode}): {' | '.join(tail)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def reference_checkout(rev: str, into: Path) -> Path:
    """A ``git worktree`` of ``rev`` at ``into`` (removed by :func:`remove_checkout`)."""
    subprocess.run(["git", "worktree", "add", "--detach", str(into), rev], cwd=PROJECT_ROOT, check=True,
                   capture_output=True, text=True)
    return into


def remove_checkout(path: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=PROJECT_ROOT, capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


def growth(points: list[tuple[int, float]]) -> list[float | None]:
    """Exponent a of value ~ n^a between consecutive (n, value) points (None where a value is missing)."""
    out: list[float | None] = []
    for (n0, v0), (n1, v1) in zip(points, points[1:]):
        out.append(math.log(v1 / v0) / math.log(n1 / n0) if v0 and v1 else None)
    return out


def project(points: list[tuple[int, float]], n: int) -> float | None:
    """Extrapolate to ``n`` from the last two points with their growth exponent."""
    if len(points) < 2:
        return None
    (n0, v0), (n1, v1) = points[-2:]
    a = math.log(v1 / v0) / math.log(n1 / n0)
    return v1 * (n / n1) ** a


def run_scaling(sizes: Sequence[int], builds: dict[str, tuple[Path, Sequence[int]]], timeout: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, (root, build_sizes) in builds.items():
        rows = out[label] = []
        for n in sizes:
            if n not in build_sizes:
                continue
            note(f"{label}: fitting on {n} synthetic charts ...")
            try:
                result = _run(_FIT_SCRIPT, [str(n), str(SEED)], root, timeout)
            except subprocess.TimeoutExpired:
                result = {"charts": n, "fit_s": None, "peak_rss_mb": None, "error": f"stopped after {timeout:.0f} s"}
            except RuntimeError as exc:
                result = {"charts": n, "fit_s": None, "peak_rss_mb": None, "error": str(exc)}
            note(f"{label}: {n} charts: {fmt(result.get('fit_s'), 1)} s, peak {fmt(result.get('peak_rss_mb'), 0)} MB"
                 + (f" ({result['error']})" if result.get("error") else ""))
            rows.append(result)
    table = []
    for label, rows in out.items():
        times = [(r["charts"], r["fit_s"]) for r in rows if r.get("fit_s")]
        mems = [(r["charts"], r["peak_rss_mb"]) for r in rows if r.get("peak_rss_mb")]
        t_growth, m_growth = growth(times), growth(mems)
        for i, r in enumerate(rows):
            table.append([label, f"{r['charts']:,}", fmt(r.get("fit_s"), 0), fmt(r.get("peak_rss_mb"), 0),
                          fmt(t_growth[i - 1], 2) if 0 < i <= len(t_growth) else "",
                          fmt(m_growth[i - 1], 2) if 0 < i <= len(m_growth) else "",
                          r.get("error") or "; ".join(r.get("training_notes") or [])[:90]])
        out[label] = {"runs": rows, "time_growth": t_growth, "memory_growth": m_growth,
                      "projected_1m_s": project(times, 1_000_000), "projected_1m_mb": project(mems, 1_000_000)}
    print_table("Training time and peak memory by training-set size (synthetic charts, default config)",
                ["build", "charts", "fit s", "peak RSS MB", "time growth", "memory growth", "notes"], table)
    for label, result in out.items():
        big = next((r for r in result["runs"] if r["charts"] == 100_000 and r.get("fit_s")), None)
        if big:
            ok = big["fit_s"] <= TARGET_100K_SECONDS and big["peak_rss_mb"] <= TARGET_100K_MB
            note(f"{label}: 100k charts in {big['fit_s'] / 60:.1f} min and {big['peak_rss_mb'] / 1024:.2f} GB "
                 f"(target <= 30 min and <= 8 GB: {'met' if ok else 'NOT met'})")
        if result["projected_1m_s"]:
            note(f"{label}: projected to 1M charts from the two largest sizes: "
                 f"{result['projected_1m_s'] / 3600:.1f} h, {result['projected_1m_mb'] / 1024:.1f} GB")
    return out


def run_accuracy(builds: dict[str, Path], shared: Path, timeout: float) -> dict[str, Any]:
    out = {}
    for label, root in builds.items():
        note(f"{label}: training on CodiEsp train, measuring on dev ...")
        out[label] = _run(_ACCURACY_SCRIPT, [str(shared)], root, timeout)
    rows = [[label, fmt(r["map"]), fmt(r["micro_f1"]), fmt(r["fit_s"], 0), fmt(r["peak_rss_mb"], 0)]
            for label, r in out.items()]
    print_table("CodiEsp dev, trained on CodiEsp train (default config)", ["build", "MAP", "micro-F1", "fit s",
                                                                           "peak RSS MB"], rows)
    if len(out) == 2:
        current, reference = out["current"], next(r for k, r in out.items() if k != "current")
        d_map, d_f1 = current["map"] - reference["map"], current["micro_f1"] - reference["micro_f1"]
        ok = d_map >= -ACCURACY_TOLERANCE and d_f1 >= -ACCURACY_TOLERANCE
        note(f"current - reference: MAP {d_map:+.4f}, micro-F1 {d_f1:+.4f} (target: within {ACCURACY_TOLERANCE}: "
             f"{'met' if ok else 'NOT met'})")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="comma-separated training-set sizes (default 10000,30000,100000)")
    parser.add_argument("--reference", default=DEFAULT_REFERENCE, help="git revision of the reference build "
                        "(default ce69c3d); 'none' to skip it")
    parser.add_argument("--reference-sizes", default="10000",
                        help="sizes the reference build is fitted at (its memory grows with charts^2; default 10000)")
    parser.add_argument("--skip-accuracy", action="store_true", help="skip the CodiEsp dev comparison")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per fit (default 3600)")
    parser.add_argument("--json", type=Path, help="where to write the results (default bench/results/scaling-*.json)")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
    from suggest.paths import shared_dir

    report: dict[str, Any] = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                              "cpus": os.cpu_count(), "load_average": os.getloadavg(), "sizes": sizes,
                              "reference": args.reference}
    workdir = Path(tempfile.mkdtemp(prefix="bench-scaling-"))
    builds: dict[str, tuple[Path, Sequence[int]]] = {"current": (PROJECT_ROOT, sizes)}
    try:
        if args.reference != "none":
            ref_sizes = [int(s) for s in args.reference_sizes.split(",") if s.strip()]
            builds[f"reference {args.reference}"] = (reference_checkout(args.reference, workdir / "reference"), ref_sizes)
        shared = shared_dir()
        if args.skip_accuracy:
            note("accuracy: skipped (--skip-accuracy)")
        elif shared is None:
            note("accuracy: skipped: the shared CodiEsp corpus is absent")
        else:
            report["accuracy"] = run_accuracy({k: v[0] for k, v in builds.items()}, shared, args.timeout)
        report["scaling"] = run_scaling(sizes, builds, args.timeout)
    finally:
        for label, (root, _) in builds.items():
            if label != "current":
                remove_checkout(root)
        shutil.rmtree(workdir, ignore_errors=True)
    write_results(report, "scaling", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
