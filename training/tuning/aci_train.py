"""The default model on ACI-BENCH train (the development notes): metrics per setting and what the rules did."""

from __future__ import annotations

import collections
import sys

from suggest import load_model
from training.aci_bench import load_aci_bench
from training.evaluation import evaluate_model


def main(model_ref: str = "default") -> None:
    model = load_model(model_ref)
    charts = load_aci_bench("train")
    for setting in ("outpatient", "mentions"):
        ev = evaluate_model(model, charts, top_k=50, setting=setting)
        print(setting, {k: round(ev.metrics[k], 3) for k in ("map", "micro_f1", "micro_precision", "micro_recall", "r@10")})
        if setting != "outpatient":
            continue
        false_codes: collections.Counter[str] = collections.Counter()
        missed: collections.Counter[str] = collections.Counter()
        actions: collections.Counter[str] = collections.Counter()
        right: collections.Counter[str] = collections.Counter()
        for o in ev.outcomes:
            gold = set(o.gold)
            chosen = {s.code for s in o.suggestions if s.selected}
            false_codes.update(chosen - gold)
            missed.update(gold - chosen)
            for s in o.suggestions:
                for r in s.rules:
                    key = f"{r['rule']}/{r['action']}"
                    actions[key] += 1
                    right[key] += (s.code in gold) == (r["action"] in ("added", "selected", "note"))
        print("rule actions (count, share right):", {k: (v, round(right[k] / v, 2)) for k, v in actions.items()})
        print("most frequent false codes:", false_codes.most_common(30))
        print("most frequent missed codes:", missed.most_common(30))


if __name__ == "__main__":
    main(*sys.argv[1:2])
