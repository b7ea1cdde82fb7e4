"""Curating the lexicon: check phrases through the matcher, add new ones, rank the codes it covers.

- ``python -m training.lexicon check [FILE.tsv ...]`` (default: the shipped ``lexicon.tsv``) prints every
  ``(line, code, phrase)`` whose phrase, matched as a sentence on its own, does not give its code, with the
  codes it gives instead; exit status 1 when any fails. Files use the lexicon's format
  (``code<TAB>phrase<TAB>note``, header line; a fourth ``tier`` column is allowed).
- ``python -m training.lexicon add PART.tsv ...`` appends the lines of curators' part files (with a ``tier``
  column: 1 most common ... 4 routinely seen) to ``lexicon.tsv``, skipping pairs it has, and records each new
  code's tier in ``common_codes.tsv``.
- ``python -m training.lexicon rank [--codiesp-train DIR]`` rewrites ``common_codes.tsv``: every code the
  lexicon covers, ranked by its tier (curators' judgement of how often coders assign it), then by its label
  count in CodiEsp train (never dev), then by whether the synthetic charts use it.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class PhraseCheck:
    """One phrase's outcome: the codes the matcher gave for it."""

    line: int
    code: str
    phrase: str
    found: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.code in self.found


def read_lexicon_rows(text: str) -> list[tuple[int, str, str]]:
    """(line, code, phrase) of a lexicon-format TSV text (header skipped)."""
    reader = csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    rows = []
    for row in reader:
        if reader.line_num == 1 or len(row) < 2:
            continue
        rows.append((reader.line_num, row[0].strip().upper(), row[1].strip()))
    return rows


def check_phrases(rows: list[tuple[int, str, str]], index=None) -> list[PhraseCheck]:
    """Match each phrase alone against the dictionary (the shipped lexicon plus these rows)."""
    from suggest.codeset import load_codeset
    from suggest.model.dictionary import TermIndex
    from suggest.pipeline.normalize import default_normalizer

    codeset = load_codeset()
    if index is None:
        extra = [(code, phrase, "lexicon") for _, code, phrase in rows]
        index = TermIndex().fit(codeset, default_normalizer(), extra_terms=extra)
    out = []
    for line, code, phrase in rows:
        found = tuple(dict.fromkeys(m.code for m in index.match(phrase, [0])))
        out.append(PhraseCheck(line, codeset.normalize(code), phrase, found))
    return out


RANKING_HEADER = ("rank", "code", "tier", "codiesp_train", "synthetic", "description")
#: Tier of codes the lexicon covered before tiers were recorded (curated as common outpatient codes):
#: 1 when the synthetic charts use them (the generator's inventory of everyday outpatient codes), else 2.
DEFAULT_TIER = 2


def resources_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "suggest" / "resources"


def read_tiers(path: Path) -> dict[str, int]:
    """code -> tier from a ranking file (empty when it does not exist)."""
    if not path.exists():
        return {}
    with open(path, encoding="utf-8", newline="") as handle:
        return {row["code"]: int(row["tier"]) for row in csv.DictReader(handle, delimiter="\t")}


def add_parts(parts: list[Path], lexicon: Path, ranking: Path) -> tuple[int, int]:
    """Append the parts' new (code, phrase, note) lines to ``lexicon``; returns (lines added, codes added)."""
    from suggest.codeset import load_codeset

    codeset = load_codeset()
    existing_text = lexicon.read_text(encoding="utf-8")
    existing = read_lexicon_rows(existing_text)
    have = {(code, phrase) for _, code, phrase in existing}
    phrase_code = {phrase: code for _, code, phrase in existing}
    covered = {code for code, _ in have}
    tiers = read_tiers(ranking)
    lines, new_codes = [], set()
    for part in parts:
        with open(part, encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                code = codeset.normalize(row["code"])
                phrase = " ".join(row["phrase"].lower().split())
                if not phrase or (code, phrase) in have or phrase_code.get(phrase, code) != code:
                    continue
                if not codeset.is_billable(code):
                    raise SystemExit(f"{part}: {code} is not a billable code")
                have.add((code, phrase))
                phrase_code[phrase] = code
                lines.append(f"{code}\t{phrase}\t{(row.get('note') or '').strip()}\n")
                if code not in covered:
                    new_codes.add(code)
                if row.get("tier"):
                    tiers[code] = min(tiers.get(code, 9), int(row["tier"]))
    with open(lexicon, "a", encoding="utf-8") as handle:
        if not existing_text.endswith("\n"):
            handle.write("\n")
        handle.writelines(lines)
    write_ranking(ranking, tiers)
    return len(lines), len(new_codes)


def write_ranking(ranking: Path, tiers: dict[str, int], codiesp_train: Path | None = None) -> int:
    """Rank every code the lexicon covers and write ``ranking``; returns the number of codes."""
    from collections import Counter

    from suggest.codeset import load_codeset
    from suggest.paths import shared_dir
    from suggest.pipeline.resources import read_text
    from training.synth.inventory import reachable_codes

    codeset = load_codeset()
    codes = {code for _, code, _ in read_lexicon_rows(read_text("lexicon.tsv"))}
    counts: Counter[str] = Counter()
    if codiesp_train is None and shared_dir() is not None:
        codiesp_train = shared_dir() / "data" / "codiesp" / "train"
    if codiesp_train is not None and (codiesp_train / "trainD.tsv").exists():
        for line in (codiesp_train / "trainD.tsv").read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) == 2:
                counts[codeset.normalize(parts[1])] += 1
    synthetic = set(reachable_codes())
    tiers = {c: tiers.get(c, 1 if c in synthetic else DEFAULT_TIER) for c in codes}
    ordered = sorted(codes, key=lambda c: (tiers[c], -counts[c], c not in synthetic, c))
    with open(ranking, "w", encoding="utf-8") as handle:
        handle.write("\t".join(RANKING_HEADER) + "\n")
        for rank, code in enumerate(ordered, 1):
            handle.write(f"{rank}\t{code}\t{tiers[code]}\t{counts[code]}\t"
                         f"{int(code in synthetic)}\t{codeset.description(code) or ''}\n")
    return len(ordered)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.lexicon", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="check that each phrase yields its code")
    check.add_argument("files", nargs="*", type=Path, help="lexicon-format TSV files (default: the shipped lexicon)")
    add = sub.add_parser("add", help="append curators' part files to the lexicon and record their tiers")
    add.add_argument("parts", nargs="+", type=Path)
    rank = sub.add_parser("rank", help="rewrite common_codes.tsv from the lexicon and the recorded tiers")
    rank.add_argument("--codiesp-train", type=Path, help="CodiEsp train folder (default: ../shared's)")
    args = parser.parse_args(argv)
    ranking = resources_dir() / "common_codes.tsv"
    if args.command == "add":
        lines, codes = add_parts(args.parts, resources_dir() / "lexicon.tsv", ranking)
        print(f"added {lines} lines, {codes} codes the lexicon did not cover")
        return 0
    if args.command == "rank":
        print(f"ranked {write_ranking(ranking, read_tiers(ranking), args.codiesp_train)} codes in {ranking}")
        return 0
    from suggest.pipeline.resources import read_text

    sources = [(str(f), f.read_text(encoding="utf-8")) for f in args.files] or [("lexicon.tsv", read_text("lexicon.tsv"))]
    failed = 0
    for name, text in sources:
        results = check_phrases(read_lexicon_rows(text))
        for r in results:
            if not r.ok:
                failed += 1
                print(f"{name}:{r.line}: {r.code} {r.phrase!r} gives {', '.join(r.found[:6]) or 'nothing'}")
        print(f"{name}: {sum(r.ok for r in results)} of {len(results)} phrases yield their code", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
