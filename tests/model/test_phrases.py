"""Phrases learned from coded charts: the wording a code goes by in the training data."""

from __future__ import annotations

from suggest.codeset import load_codeset
from suggest.model.analysis import analyse_docs
from suggest.model.dictionary import TermIndex
from suggest.model.phrases import PhraseMiner
from suggest.pipeline import get_nlp
from suggest.pipeline.normalize import default_normalizer

FILLER = ["Seen in clinic today.", "Vital signs stable.", "Return in two weeks.", "Labs drawn."]


PALE = ["The child looked very pale on arrival.", "Mother says he has been pale for a week.",
        "Pale and tired since the flu.", "On exam pale conjunctivae.", "Skin pale, cool to touch.",
        "He is pale today."]
ANKLE = ["Sprained ankle playing football.", "Twisted her ankle on the stairs.", "Ankle sprain after a fall.",
         "Injured the left ankle yesterday.", "Ankle swollen after running.", "Rolled ankle at work."]


def _charts():
    texts, codes = [], []
    for i, (pale, ankle) in enumerate(zip(PALE, ANKLE, strict=True)):
        texts += [f"{pale} {FILLER[i % 4]}", f"{ankle} {FILLER[i % 4]}"]
        codes += [["R23.1"], ["S93.409A"]]
    return texts, codes


def test_a_code_learns_the_wording_its_charts_share():
    texts, codes = _charts()
    phrases = PhraseMiner(max_chart_share=0.6).fit(texts, codes).phrases_
    assert any(code == "R23.1" and "pale" in phrase.lower() for code, phrase in phrases)
    # Boilerplate found in charts of every code is nobody's wording.
    assert not any("vital" in phrase.lower() or "clinic" in phrase.lower() for _, phrase in phrases)


def test_wording_found_as_often_without_the_code_is_not_learned():
    texts, codes = _charts()
    texts += ["Pale stools noted." for _ in range(12)]
    codes += [["K83.1"] for _ in range(12)]
    phrases = PhraseMiner(max_chart_share=0.9).fit(texts, codes).phrases_
    assert not any(code == "R23.1" and phrase.lower() == "pale" for code, phrase in phrases)


def test_a_learned_phrase_is_a_mention_where_the_dictionary_has_none():
    texts, codes = _charts()
    phrases = PhraseMiner(max_chart_share=0.6).fit(texts, codes).phrases_
    learned = TermIndex().fit(load_codeset(), default_normalizer(), [(c, p, "learned") for c, p in phrases],
                              lexicon=False, codeset_terms=False)
    base = TermIndex().fit(load_codeset(), default_normalizer())
    text = "Came back about the ankle again."
    without, = analyse_docs(get_nlp(), base, [text])
    with_learned, = analyse_docs(get_nlp(), base, [text], learned=learned)
    assert "S93.409A" not in {am.mention.code for am in without.mentions}
    found = [am for am in with_learned.mentions if am.mention.code == "S93.409A"]
    assert found and found[0].mention.kind == 3 and text[found[0].mention.start:found[0].mention.end] == "ankle"
