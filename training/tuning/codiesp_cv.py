"""3-fold cross-validation of a config on CodiEsp train (setting 'mentions'): MAP, micro-F1, unseen-code R@15."""

from __future__ import annotations

import json
import sys

import numpy as np
from sklearn.model_selection import KFold

from suggest import Suggester
from suggest.paths import shared_dir
from training.codiesp import read_codiesp
from training.evaluation import evaluate_model


def main(overrides_json: str = "{}") -> None:
    overrides = json.loads(overrides_json)
    root = shared_dir()
    if root is None:
        raise SystemExit("needs the CodiEsp corpus in ../shared (or $SUGGEST_SHARED_DIR)")
    charts, _ = read_codiesp(root / "data" / "codiesp" / "train", "train")
    scores = []
    for k, (tr, te) in enumerate(KFold(3, shuffle=True, random_state=0).split(charts)):
        train, test = [charts[i] for i in tr], [charts[i] for i in te]
        model = Suggester(**{"setting": "mentions", **overrides}).fit([c.text for c in train], [c.codes for c in train])
        seen = {code for c in train for code in c.codes}
        m = evaluate_model(model, test, top_k=50, seen_codes=seen).metrics
        scores.append((m["map"], m["micro_f1"], m["unseen_r@15"]))
        print(k, [round(x, 3) for x in scores[-1]], flush=True)
    mean_map, mean_f1, mean_unseen = np.mean(scores, axis=0)
    print(json.dumps(overrides), f"MAP {mean_map:.3f}  micro-F1 {mean_f1:.3f}  unseen R@15 {mean_unseen:.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
