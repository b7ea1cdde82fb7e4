"""Draw the code-set probe's fixed sample of billable ICD-10-CM codes (run once; its output is committed).

The sample is 1,000 codes drawn uniformly from every billable code of the FY2026 release,
topped up so that every chapter has at least 20 codes (the top-up rows say so in ``stratum``),
so results can be reported both uniform over billable codes and stratified by chapter.
The synthetic chart generator never reads this folder.

    python bench/data/codeset_probe/make_sample.py > bench/data/codeset_probe/sample.tsv
"""

from __future__ import annotations

import random
import sys

from suggest.codeset import load_codeset

SEED = 20261130
UNIFORM = 1000
MIN_PER_CHAPTER = 20


def main() -> None:
    codeset = load_codeset()
    billable = sorted(codeset.billable_codes())
    rng = random.Random(SEED)
    uniform = rng.sample(billable, UNIFORM)
    chosen = {code: "uniform" for code in uniform}
    by_chapter: dict[str, list[str]] = {}
    for code in billable:
        by_chapter.setdefault(codeset.get(code).chapter, []).append(code)
    for chapter, codes in sorted(by_chapter.items()):
        have = [c for c in chosen if codeset.get(c).chapter == chapter]
        missing = [c for c in codes if c not in chosen]
        for code in rng.sample(missing, max(0, min(MIN_PER_CHAPTER - len(have), len(missing)))):
            chosen[code] = "chapter_topup"
    out = sys.stdout
    out.write("code\tchapter\tstratum\tdescription\n")
    for code in sorted(chosen):
        info = codeset.get(code)
        out.write(f"{code}\t{info.chapter}\t{chosen[code]}\t{info.description}\n")


if __name__ == "__main__":
    main()
