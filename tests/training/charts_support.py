"""Small coded charts for the training and registry tests: real models train on them in seconds."""

from __future__ import annotations

import json
import random
from pathlib import Path

#: Small settings so that a real model trains in seconds.
FAST = {"cv_folds": 2, "ranker_max_iter": 40, "min_df": 1, "knn_neighbors": 5}

CONDITIONS = [
    ("I10", ["essential hypertension", "high blood pressure", "HTN"]),
    ("E11.9", ["type 2 diabetes mellitus without complications", "type 2 diabetes", "T2DM"]),
    ("J45.909", ["asthma", "reactive airway disease"]),
    ("E78.5", ["hyperlipidemia", "high cholesterol"]),
    ("K21.9", ["gastro-esophageal reflux disease", "GERD", "acid reflux"]),
    ("F32.A", ["depression", "depressed mood"]),
    ("E03.9", ["hypothyroidism", "underactive thyroid"]),
    ("I48.91", ["atrial fibrillation", "afib"]),
    ("N39.0", ["urinary tract infection", "UTI"]),
    ("G43.909", ["migraine", "migraine headaches"]),
]


def write_charts(path: Path, n: int, seed: int, *, meta: bool = False, suffix: str = "") -> Path:
    """Write ``n`` synthetic coded charts (two or three conditions each, one negated distractor)."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        present = rng.sample(CONDITIONS, rng.choice((2, 3)))
        absent = rng.choice([c for c in CONDITIONS if c not in present])
        sentences = [f"Patient presents with {rng.choice(names)}." for _, names in present]
        sentences.append(f"Denies {rng.choice(absent[1])}.")
        rng.shuffle(sentences)
        chart = {
            "id": f"{path.stem}-{i}",
            "text": "ASSESSMENT: " + " ".join(sentences) + suffix,
            "codes": [code for code, _ in present],
        }
        if meta:  # what the chart store's feedback export adds
            chart["meta"] = {"source": "feedback", "accepted": [code for code, _ in present], "reviewer": "coder-1"}
        lines.append(json.dumps(chart))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
