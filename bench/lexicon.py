"""Recall of the lexicon on phrasings written apart from it: ``python -m bench.lexicon``.

Each phrasing of ``bench/data/lexicon_heldout.tsv`` (written blind to the lexicon) is matched alone, as a
sentence, by the dictionary matcher; it is *recalled* when its code is among the codes matched, and *first*
when its code has the best coverage (ties: any tied code counts). Two matchers in the same run: the code
set's own terms plus the curated lexicon (the product's), and the code set's own terms alone (the baseline).
Reported overall and by the code's first letter. The held-out set is measured, never tuned on.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from bench.engine import (
    PROJECT_ROOT,
    fmt,
    print_table,
    write_results,
)

HELDOUT = PROJECT_ROOT / "bench" / "data" / "lexicon_heldout.tsv"


def measure(index, rows: list[dict[str, str]]) -> list[dict]:
    from suggest.codeset import load_codeset

    codeset = load_codeset()
    out = []
    for row in rows:
        code = codeset.normalize(row["code"])
        mentions = index.match(row["phrase"], [0])
        best = max((m.coverage for m in mentions), default=0.0)
        out.append({"letter": code[0], "recalled": any(m.code == code for m in mentions),
                    "first": any(m.code == code and m.coverage >= best - 1e-6 for m in mentions)})
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lexicon", description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    from suggest.codeset import load_codeset
    from suggest.model.dictionary import TermIndex
    from suggest.pipeline.normalize import default_normalizer

    with open(HELDOUT, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    codeset, normalizer = load_codeset(), default_normalizer()
    systems = {
        "code set terms + lexicon": measure(TermIndex().fit(codeset, normalizer), rows),
        "code set terms only": measure(TermIndex().fit(codeset, normalizer, lexicon=False), rows),
    }
    report = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "phrasings": len(rows),
              "codes": len({r["code"] for r in rows}), "systems": {}}
    table = []
    for label, results in systems.items():
        by_letter = defaultdict(list)
        for r in results:
            by_letter[r["letter"]].append(r)
        recall = sum(r["recalled"] for r in results) / len(results)
        first = sum(r["first"] for r in results) / len(results)
        report["systems"][label] = {"recall": recall, "first": first, "by_letter": {
            k: {"n": len(v), "recall": sum(r["recalled"] for r in v) / len(v)} for k, v in sorted(by_letter.items())}}
        table.append([label, fmt(recall), fmt(first)])
    print_table(f"Lexicon held-out phrasings ({len(rows)} phrasings of {report['codes']} codes), matched alone",
                ["matcher", "code recalled", "code first"], table)
    letters = sorted(report["systems"]["code set terms + lexicon"]["by_letter"])
    print_table("Recall by the code's first letter", ["letter", "n", *systems],
                [[k, report["systems"]["code set terms + lexicon"]["by_letter"][k]["n"],
                  *[fmt(report["systems"][s]["by_letter"][k]["recall"]) for s in systems]] for k in letters])
    write_results(report, "lexicon", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
