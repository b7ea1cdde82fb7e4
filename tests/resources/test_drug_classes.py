"""The drug classes: each drug's class is written in its category's own words, and a poisoning by the drug
reaches that category through the dictionary."""

from __future__ import annotations

import csv
import io

import pytest

from suggest.codeset import load_codeset
from suggest.model.dictionary import TermIndex
from suggest.pipeline.normalize import default_normalizer
from suggest.pipeline.resources import read_text

ROWS = list(csv.DictReader(io.StringIO(read_text("drug_classes.tsv")), delimiter="\t"))


@pytest.fixture(scope="module")
def index():
    return TermIndex().fit(load_codeset(), default_normalizer())


def test_each_class_is_written_in_its_categorys_words():
    codeset = load_codeset()
    wrong = [(r["drug"], r["category"]) for r in ROWS
             if r["class"].lower() not in (codeset.description(r["category"]) or "").lower()]
    assert not wrong
    assert len({r["drug"] for r in ROWS}) == len(ROWS), "a drug listed twice"


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["drug"])
def test_a_poisoning_by_the_drug_reaches_its_category(index, row):
    text = f"Accidental {row['drug']} poisoning, initial encounter."
    found = {m.code for m in index.match(text, [0]) }
    assert any(code.startswith(row["category"]) for code in found), sorted(found)[:8]
