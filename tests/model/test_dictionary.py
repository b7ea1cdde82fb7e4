"""The dictionary matcher: code-set terms found in text, tolerant to inflection, order and small gaps."""

import pickle

import pytest

from suggest.codeset import load_codeset
from suggest.model.dictionary import TermIndex
from suggest.pipeline import get_nlp, process
from suggest.pipeline.normalize import default_normalizer


@pytest.fixture(scope="module")
def index():
    return TermIndex().fit(load_codeset(), default_normalizer())


def matches(index, text):
    starts = next(process(get_nlp(), [text]))._.sentence_starts
    return {m.code: text[m.start:m.end] for m in index.match(text, starts)}


def test_finds_terms_in_any_order_and_inflection(index):
    found = matches(index, "Fractures of the neck of the left femur. Kidney disease, chronic, stage 3a.")
    assert "N18.31" in found and found["N18.31"].lower().startswith("kidney")
    assert any(code.startswith("S72.0") for code in found)


def test_abbreviations_expand(index):
    found = matches(index, "Known CKD stage 4 and HTN.")
    assert found.get("N18.4") == "CKD stage 4"
    assert "I10" in found


def test_terms_do_not_match_across_sentences(index):
    assert "N18.4" not in matches(index, "Chronic pain in the kidney area. Stage 4 lesion.")


def test_offsets_survive_characters_whose_lowercase_is_longer(index):
    text = "İİ İstanbul resident with hypertension."
    found = matches(index, text)
    assert found["I10"] == "hypertension"


def test_pickled_index_matches_the_same(index):
    text = "Type 2 diabetes mellitus with diabetic chronic kidney disease."
    copy = pickle.loads(pickle.dumps(index))
    assert matches(copy, text) == matches(index, text)
    assert "_word_ids_cache" not in pickle.loads(pickle.dumps(index)).__dict__
