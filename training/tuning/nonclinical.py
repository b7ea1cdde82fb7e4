"""Texts with no clinical content (tuning sets ``training/data/nonclinical_tuning*.json``): which select a code?

The benchmark's own 40 texts (``bench/data``) are measured only; these 60, and 100 more written later blind to the
engine (many with medical-sounding words in other senses: "the market crashed", "a fracture in the glass"), are for
tuning.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from suggest import load_model

DATA = Path(__file__).resolve().parents[1] / "data"
TUNING_SETS = (DATA / "nonclinical_tuning.json", DATA / "nonclinical_tuning_2.json")


def main(model_ref: str = "default") -> None:
    model = load_model(model_ref)
    for path in TUNING_SETS:
        texts = json.loads(path.read_text(encoding="utf-8"))["texts"]
        flagged = 0
        for number, result in enumerate(model.suggest_batch(texts, top_k=5), start=1):
            chosen = [(s.code, round(s.confidence, 2)) for s in result.suggestions if s.selected]
            if chosen:
                flagged += 1
                print(f"  text {number}: {chosen}")
        print(f"{path.name}: {flagged} of {len(texts)} texts with a code selected")


if __name__ == "__main__":
    main(*sys.argv[1:2])
