"""Curating the lexicon: check that each phrase, run through the dictionary matcher, yields its code.

``python -m training.lexicon check [FILE.tsv ...]`` (default: the shipped ``lexicon.tsv``) prints every
``(line, code, phrase)`` whose phrase, matched as a sentence on its own, does not give its code, with the
codes it gives instead; exit status 1 when any fails. Files use the lexicon's format
(``code<TAB>phrase<TAB>note``, header line), so a curator checks new lines before adding them.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.lexicon", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="check that each phrase yields its code")
    check.add_argument("files", nargs="*", type=Path, help="lexicon-format TSV files (default: the shipped lexicon)")
    args = parser.parse_args(argv)
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
