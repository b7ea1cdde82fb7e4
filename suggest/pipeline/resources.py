"""Loading of the rule and lexicon data files kept in ``suggest/resources``."""

from __future__ import annotations

import csv
import io
import json
from functools import lru_cache
from importlib import resources
from typing import Any


@lru_cache(maxsize=None)
def load_json(name: str) -> Any:
    """Parse a JSON data file shipped in ``suggest/resources`` (cached)."""
    with resources.files("suggest.resources").joinpath(name).open("r", encoding="utf-8") as fh:
        return json.load(fh)


def read_text(name: str) -> str:
    """Read a text data file shipped in ``suggest/resources``."""
    return resources.files("suggest.resources").joinpath(name).read_text(encoding="utf-8")


def read_tsv(name: str) -> list[dict[str, str]]:
    """The rows of a tab-separated data file shipped in ``suggest/resources`` (none when it is missing)."""
    try:
        text = read_text(name)
    except FileNotFoundError:
        return []
    return list(csv.DictReader(io.StringIO(text), delimiter="\t"))


def load_lexicon() -> list[tuple[str, str]]:
    """(code, phrase) pairs of the curated lexicon shipped in ``resources/lexicon.tsv``."""
    return [(row["code"].strip().upper(), row["phrase"].strip()) for row in read_tsv("lexicon.tsv") if row.get("phrase")]


def load_common_ranks() -> dict[str, int]:
    """code -> rank (1: the most often coded) of ``resources/common_codes.tsv``."""
    return {row["code"].strip().upper(): int(row["rank"]) for row in read_tsv("common_codes.tsv") if row.get("code")}
