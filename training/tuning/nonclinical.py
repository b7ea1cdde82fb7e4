"""Texts with no clinical content (tuning set ``training/data/nonclinical_tuning.json``): which select a code?

The benchmark's own 40 texts (``bench/data``) are measured only; these 60 are for tuning.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from suggest import load_model

TUNING_SET = Path(__file__).resolve().parents[1] / "data" / "nonclinical_tuning.json"


def main(model_ref: str = "default") -> None:
    model = load_model(model_ref)
    texts = json.loads(TUNING_SET.read_text(encoding="utf-8"))["texts"]
    flagged = 0
    for number, result in enumerate(model.suggest_batch(texts, top_k=5), start=1):
        chosen = [(s.code, round(s.confidence, 2)) for s in result.suggestions if s.selected]
        if chosen:
            flagged += 1
            print(f"  text {number}: {chosen}")
    print(f"{TUNING_SET.name}: {flagged} of {len(texts)} texts with a code selected")


if __name__ == "__main__":
    main(*sys.argv[1:2])
