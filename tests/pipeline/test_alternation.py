"""The trie-compiled phrase patterns find what the plain longest-first alternation finds."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from suggest.encoder.rules import default_rules
from suggest.pipeline.alternation import literal_alternation


def _plain(phrases):
    alternation = "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
    return re.compile(rf"(?<![\w])(?:{alternation})(?![\w])", re.IGNORECASE)


def _trie(phrases):
    return re.compile(rf"(?<![\w]){literal_alternation(phrases)}(?![\w])", re.IGNORECASE)


def _spans(pattern, text):
    return [m.span() for m in pattern.finditer(text)]


def test_longest_phrase_wins_and_shorter_ones_remain_when_the_longer_does_not_fit():
    pattern = _trie(["met", "metformin", "metformin er", "aspirin 81"])
    text = "Metformin ER daily; METFORMIN erx; met; metformins; aspirin 81 mg; aspirin 8"
    assert [text[s:e] for s, e in _spans(pattern, text)] == ["Metformin ER", "METFORMIN", "met", "aspirin 81"]


def test_special_characters_are_literal_and_no_phrase_matches_nothing():
    pattern = _trie(["b12 (oral)", "1+1", "a.b"])
    assert _spans(pattern, "took b12 (oral) and 1+1 not axb but a.b") == [(5, 15), (20, 23), (36, 39)]
    assert _spans(_trie([]), "anything at all") == []


def test_the_rule_data_patterns_match_as_before_on_text_made_of_their_phrases():
    rules = default_rules()
    for phrases in (list(rules.drugs), list(rules.treats)):
        text = " and ".join(p.upper() if i % 3 == 0 else p for i, p in enumerate(phrases)) + " metforminx, insulin."
        assert _spans(_trie(phrases), text) == _spans(_plain(phrases), text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="abAB -.", min_size=1, max_size=6), min_size=1, max_size=12),
       st.text(alphabet="abAB -.x\n", max_size=80))
def test_any_phrases_on_any_text_match_as_the_plain_alternation(phrases, text):
    assert _spans(_trie(phrases), text) == _spans(_plain(phrases), text)
