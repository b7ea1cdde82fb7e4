"""Clinician phrasings of random billable codes (tuning sets): is the code first, in the top 3, in the top 10?

``dev_paraphrases.tsv``: 320 codes drawn uniformly. ``dev_paraphrases_2.tsv``: 240 codes (120 S, 40 T, 25 V-Y, 55
others), written later by a coder who did not see the engine, its lexicon or the first set. ``dev_paraphrases_3.tsv``: 300
codes drawn uniformly (seed 4242) from the billable codes outside the probe's sample and the first two sets, written
blind to the engine and its lexicon. None is the benchmark's probe (``bench/data``), which is measured only.
"""

from __future__ import annotations

import collections
import csv
import sys
from pathlib import Path

from suggest import load_model

DATA = Path(__file__).resolve().parents[1] / "data"
TUNING_SETS = (DATA / "dev_paraphrases.tsv", DATA / "dev_paraphrases_2.tsv", DATA / "dev_paraphrases_3.tsv",
               DATA / "dev_paraphrases_4.tsv")


def main(model_ref: str = "default", verbose: bool = False) -> None:
    model = load_model(model_ref)
    for path in TUNING_SETS:
        with path.open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        results = model.suggest_batch([f"Assessment: {r['phrasing'].rstrip('.')}." for r in rows], top_k=10)
        first = top3 = top10 = 0
        by_chapter: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
        for row, result in zip(rows, results, strict=True):
            codes = [s.code for s in result.suggestions]
            first += codes[:1] == [row["code"]]
            top3 += row["code"] in codes[:3]
            top10 += row["code"] in codes
            by_chapter[row["code"][0]][0] += 1
            by_chapter[row["code"][0]][1] += row["code"] in codes[:3]
            if verbose and row["code"] not in codes[:3]:
                print("  ", row["code"], "|", row["phrasing"], "|", codes[:3])
        n = len(rows)
        letters = ", ".join(f"{k} {t / m:.2f} ({m})" for k, (m, t) in sorted(by_chapter.items(), key=lambda x: -x[1][0])[:6])
        print(f"{path.name}: {n} phrasings: first {first / n:.3f}, top 3 {top3 / n:.3f}, top 10 {top10 / n:.3f}; "
              f"top 3 by first letter: {letters}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "default", "-v" in sys.argv)
