"""Clinician phrasings of 320 random billable codes (a tuning set): is the code first, in the top 3, in the top 10?"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from suggest import load_model

DEV_PARAPHRASES = Path(__file__).resolve().parents[1] / "data" / "dev_paraphrases.tsv"


def main(model_ref: str = "default", verbose: bool = False) -> None:
    model = load_model(model_ref)
    with DEV_PARAPHRASES.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    results = model.suggest_batch([f"Assessment: {r['phrasing'].rstrip('.')}." for r in rows], top_k=10)
    first = top3 = top10 = 0
    for row, result in zip(rows, results, strict=True):
        codes = [s.code for s in result.suggestions]
        first += codes[:1] == [row["code"]]
        top3 += row["code"] in codes[:3]
        top10 += row["code"] in codes
        if verbose and row["code"] not in codes[:3]:
            print("  ", row["code"], "|", row["phrasing"], "|", codes[:3])
    n = len(rows)
    print(f"{n} phrasings: first {first / n:.3f}, top 3 {top3 / n:.3f}, top 10 {top10 / n:.3f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "default", "-v" in sys.argv)
