"""The code-set probe: ``python -m bench.probe [--model default] [--reference REV] [--limit N]``.

Does the engine know the code set it claims to cover? Each code of the fixed sample in
``bench/data/codeset_probe/`` (1,134 billable codes: 1,000 uniform + a top-up to 20 per chapter) is stated

- (a) in the code set's own words: ``Assessment: <description>.``;
- (b) inside a short clinic note (one of three templates);
- (c) as a clinician would write it (the paraphrases written blind to the engine),

and the engine's suggestions are scored: is the code ranked first, selected, in the top 3? Reported uniform over
billable codes (the ``uniform`` rows) and stratified by chapter (the mean of the per-chapter rates), beside
an **exact-string lookup baseline** (the longest description or inclusion term found verbatim in the text) and,
when ``--reference`` names one, the **reference build** (default ``ce69c3d``) with its own default model, built
once in ``bench/results/reference-<rev>/models`` and reused (``bench.aci_compare`` shares it). Also: 40 texts with no clinical content (``bench/data/nonclinical_texts.json``), where
nothing should be selected.

The probe is a measurement set: it is never used for training or tuning (count every look in the closing note).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
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

PROBE_DIR = PROJECT_ROOT / "bench" / "data" / "codeset_probe"
NONCLINICAL = PROJECT_ROOT / "bench" / "data" / "nonclinical_texts.json"
FORMS = ("own_words", "clinic_note", "paraphrase")
FORM_LABELS = {"own_words": "(a) own words", "clinic_note": "(b) clinic note", "paraphrase": "(c) paraphrase"}
TOP_K = 10
#: Targets of the engine issue.
TARGETS = {"own_words": {"first": 0.90, "selected": 0.85}, "clinic_note": {"first": 0.90, "selected": 0.85},
           "paraphrase": {"top3": 0.75}}

#: Runs in a fresh interpreter importing the build at its cwd: ranked and selected codes of every text.
_SUGGEST_SCRIPT = r"""
import json, sys
model_ref, texts_file, out_file = sys.argv[1], sys.argv[2], sys.argv[3]
import suggest
model = suggest.load_model(model_ref)
texts = json.load(open(texts_file, encoding="utf-8"))
out = []
for start in range(0, len(texts), 256):
    for r in model.suggest_batch(texts[start:start + 256], top_k=10):
        out.append({"ranked": [s.code for s in r.suggestions], "selected": [s.code for s in r.suggestions if s.selected]})
json.dump(out, open(out_file, "w", encoding="utf-8"))
print(json.dumps({"n": len(out)}))
"""


def read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def probe_items(limit: int | None = None) -> list[dict[str, Any]]:
    """One item per sampled code: its chapter, stratum and the three texts that state it."""
    sample = read_tsv(PROBE_DIR / "sample.tsv")
    paraphrases = {row["code"]: row["paraphrase"] for row in read_tsv(PROBE_DIR / "paraphrases.tsv")}
    templates = json.loads((PROBE_DIR / "templates.json").read_text(encoding="utf-8"))
    patients = templates["patient"]
    male = re.compile(r"\b(" + "|".join(map(re.escape, patients["male_words"])) + r")\b", re.I)
    items = []
    for i, row in enumerate(sample[:limit] if limit else sample):
        description = row["description"]
        patient = patients["chapters"].get(row["chapter"]) or (
            patients["male"] if male.search(description) else patients["default"])
        note_template = templates["clinic_notes"][i % len(templates["clinic_notes"])]
        items.append({
            "code": row["code"], "chapter": row["chapter"], "stratum": row["stratum"],
            "own_words": templates["own_words"].format(statement=description),
            "clinic_note": note_template.format(statement=description, patient=patient),
            "paraphrase": templates["paraphrase"].format(statement=paraphrases[row["code"]]),
        })
    return items


class ExactLookup:
    """The baseline: codes whose description or inclusion term occurs verbatim (case and spacing folded)."""

    def __init__(self) -> None:
        from suggest.codeset import load_codeset

        codeset = load_codeset()
        self.terms: dict[str, list[str]] = defaultdict(list)
        self.longest = 1
        for code in codeset.billable_codes():
            info = codeset.get(code)
            for term in (info.description, *info.inclusion_terms):
                key = self._words(term)
                if key:
                    self.terms[" ".join(key)].append(code)
                    self.longest = max(self.longest, len(key))

    @staticmethod
    def _words(text: str) -> list[str]:
        return re.findall(r"[a-z0-9]+", text.lower())

    def suggest(self, text: str) -> dict[str, list[str]]:
        words = self._words(text)
        found: dict[str, int] = {}
        for i in range(len(words)):
            for n in range(min(self.longest, len(words) - i), 0, -1):
                for code in self.terms.get(" ".join(words[i: i + n]), ()):
                    found[code] = max(found.get(code, 0), n)
        ranked = sorted(found, key=lambda c: -found[c])[:TOP_K]
        return {"ranked": ranked, "selected": ranked}


def score(items: list[dict[str, Any]], outputs: dict[str, list[dict[str, list[str]]]]) -> dict[str, Any]:
    """Rates of first / selected / top-3 per form: uniform and per chapter."""
    result: dict[str, Any] = {}
    for form in FORMS:
        hits = []
        for item, out in zip(items, outputs[form], strict=True):
            ranked = out["ranked"]
            hits.append({"first": bool(ranked) and ranked[0] == item["code"], "selected": item["code"] in out["selected"],
                         "top3": item["code"] in ranked[:3], "chapter": item["chapter"], "stratum": item["stratum"]})
        uniform = [h for h in hits if h["stratum"] == "uniform"]
        by_chapter: dict[str, list[dict]] = defaultdict(list)
        for h in hits:
            by_chapter[h["chapter"]].append(h)
        per_chapter = {ch: {m: sum(h[m] for h in hs) / len(hs) for m in ("first", "selected", "top3")} | {"n": len(hs)}
                       for ch, hs in sorted(by_chapter.items(), key=lambda kv: int(kv[0]))}
        result[form] = {
            "uniform": {m: sum(h[m] for h in uniform) / max(len(uniform), 1) for m in ("first", "selected", "top3")},
            "chapter_mean": {m: sum(c[m] for c in per_chapter.values()) / len(per_chapter)
                             for m in ("first", "selected", "top3")},
            "per_chapter": per_chapter, "n_uniform": len(uniform), "n": len(hits),
        }
    return result


def run_build(label: str, root: Path, model_ref: str, texts: list[str], workdir: Path, env: dict[str, str],
              timeout: float) -> list[dict[str, list[str]]]:
    texts_file, out_file = workdir / "texts.json", workdir / f"out-{abs(hash(label))}.json"
    texts_file.write_text(json.dumps(texts), encoding="utf-8")
    note(f"{label}: suggesting for {len(texts)} texts ...")
    proc = subprocess.run([sys.executable, "-c", _SUGGEST_SCRIPT, model_ref, str(texts_file), str(out_file)],
                          cwd=root, env={**os.environ, **env, "PYTHONPATH": str(root)}, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{label} failed: {' | '.join(proc.stderr.strip().splitlines()[-3:])}")
    return json.loads(out_file.read_text(encoding="utf-8"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.probe", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="model of the current build (default: the default model, "
                        "built first when missing)")
    parser.add_argument("--reference", default="ce69c3d", help="git revision of the reference build, or 'none'")
    parser.add_argument("--limit", type=int, help="only the first N sampled codes (a quick look)")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--json", type=Path, help="results file (default bench/results/probe-*.json)")
    args = parser.parse_args(argv)

    items = probe_items(args.limit)
    nonclinical = json.loads(NONCLINICAL.read_text(encoding="utf-8"))["texts"]
    texts = [item[form] for form in FORMS for item in items] + nonclinical

    def split(outputs: list[dict[str, list[str]]]) -> tuple[dict[str, list], list]:
        n = len(items)
        return {form: outputs[k * n: (k + 1) * n] for k, form in enumerate(FORMS)}, outputs[3 * n:]

    if args.model == "default":
        from suggest.model.loading import default_model_state

        if default_model_state() != "ready":
            from suggest.paths import models_dir
            from training.default import build_default_model

            note("no default model: building it first (about two minutes)")
            build_default_model(models_dir())
    lookup = ExactLookup()
    systems: dict[str, tuple[dict[str, list], list]] = {"exact-string lookup": split([lookup.suggest(t) for t in texts])}
    workdir = Path(tempfile.mkdtemp(prefix="bench-probe-"))
    try:
        systems["current"] = split(run_build("current", PROJECT_ROOT, args.model, texts, workdir, {}, args.timeout))
        if args.reference != "none":
            root = reference_checkout(args.reference, workdir / "reference")
            try:
                models = RESULTS_DIR / f"reference-{args.reference}" / "models"
                note(f"reference {args.reference}: its default model lives in {models} (built there on first use)")
                env = {"SUGGEST_MODELS_DIR": str(models), "SUGGEST_DEFAULT_TRACK": "0"}
                systems[f"reference {args.reference}"] = split(
                    run_build(f"reference {args.reference}", root, "default", texts, workdir, env, args.timeout))
            finally:
                remove_checkout(root)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    report: dict[str, Any] = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                              "codes": len(items), "systems": {}}
    rows = []
    for label, (by_form, nonclinical_out) in systems.items():
        scored = score(items, by_form)
        selected_nonclinical = sum(bool(o["selected"]) for o in nonclinical_out)
        report["systems"][label] = {**scored, "nonclinical_with_selection": selected_nonclinical}
        for form in FORMS:
            s = scored[form]
            rows.append([label, FORM_LABELS[form], fmt(s["uniform"]["first"]), fmt(s["uniform"]["selected"]),
                         fmt(s["uniform"]["top3"]), fmt(s["chapter_mean"]["first"]), fmt(s["chapter_mean"]["selected"]),
                         fmt(s["chapter_mean"]["top3"])])
        rows.append([label, "40 non-clinical texts", f"{selected_nonclinical} with a selection", "", "", "", "", ""])
    print_table(f"Code-set probe: {len(items)} billable codes ({report['systems']['current']['own_words']['n_uniform']} "
                "uniform); rates of the code ranked first / selected / in the top 3",
                ["system", "form", "first (unif.)", "selected (unif.)", "top 3 (unif.)", "first (chap.)",
                 "selected (chap.)", "top 3 (chap.)"], rows)
    note("targets: (a) and (b) first >= 0.90 and selected >= 0.85; (c) top 3 >= 0.75; non-clinical: nothing selected")
    current = report["systems"]["current"]
    chapter_rows = [[ch] + [fmt(current[form]["per_chapter"][ch][m]) for form in FORMS for m in ("first", "top3")]
                    + [current["own_words"]["per_chapter"][ch]["n"]]
                    for ch in current["own_words"]["per_chapter"]]
    print_table("Current build by chapter", ["chapter", "(a) first", "(a) top 3", "(b) first", "(b) top 3", "(c) first",
                                             "(c) top 3", "codes"], chapter_rows)
    write_results(report, "probe", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
