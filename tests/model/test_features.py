"""Candidate generation: the dictionary's codes, their hierarchy and their siblings."""

from __future__ import annotations

import pytest

from suggest.codeset import load_codeset
from suggest.model.analysis import analyse_docs
from suggest.model.dictionary import TermIndex
from suggest.model.features import CodeStats, build_candidates, labels_keep_seventh
from suggest.pipeline import get_nlp
from suggest.pipeline.normalize import default_normalizer


@pytest.fixture(scope="module")
def candidates_of():
    codeset = load_codeset()
    index = TermIndex().fit(codeset, default_normalizer())
    stats = CodeStats.from_labels([["M25.561"]], [None], codeset)

    def run(text: str, seventh_in_labels: bool = True):
        analysis = analyse_docs(get_nlp(), index, [text])[0]
        return build_candidates(analysis, {}, {}, stats, codeset, label_set=frozenset(), specialty=None,
                                classifier_candidates=0, knn_candidates=0, max_candidates=300, prefer_billable=True,
                                seventh_in_labels=seventh_in_labels)

    return run


def test_a_code_matched_in_full_brings_its_siblings(candidates_of):
    cand = candidates_of("Assessment: pain in right knee.")
    assert "M25.561" in cand.codes
    assert {"M25.562", "M25.569"} <= set(cand.codes)


def test_siblings_are_the_other_sides():
    from suggest.model.features import _siblings

    codeset = load_codeset()
    assert set(_siblings(codeset, "M25.561")) == {"M25.562", "M25.569"}
    assert set(_siblings(codeset, "S52.501A")) == {"S52.502A", "S52.509A"}  # the same 7th character
    assert _siblings(codeset, "J18.9") == ()  # other types are not siblings: only sides


def test_injury_siblings_keep_the_seventh_character(candidates_of):
    cand = candidates_of("Assessment: sprain of left ankle, subsequent encounter.")
    assert "S93.402D" in cand.codes
    assert {"S93.401D", "S93.409D"} <= set(cand.codes)


def test_a_category_goes_to_its_unspecified_child(candidates_of):
    cand = candidates_of("Assessment: pneumonia.")
    assert "J18.9" in cand.codes


def test_a_category_goes_to_its_unspecified_child_with_the_7th_character_the_chart_gives(candidates_of):
    cand = candidates_of("Assessment: penetrating wound of orbit, sequela.")
    assert "S05.40XS" in cand.codes and "S05.40XA" not in cand.codes
    assert "S05.40XA" in candidates_of("Assessment: penetrating wound of orbit.").codes


def test_features_kept_across_charts_are_those_computed_for_one_chart():
    from suggest.model.features import CodeFeatures

    codeset = load_codeset()
    index = TermIndex().fit(codeset, default_normalizer())
    stats = CodeStats.from_labels([["M25.561", "J18.9"], ["J18.9"]], ["orthopedics", None], codeset)
    kept = CodeFeatures(stats, codeset)
    texts = ["Assessment: pain in right knee. Pneumonia.", "Assessment: right knee pain, community acquired pneumonia."]
    for text in texts + texts:  # the second round reads the kept features
        analysis = analyse_docs(get_nlp(), index, [text])[0]
        common = dict(label_set=frozenset({"J18"}), specialty="orthopedics", classifier_candidates=0,
                      knn_candidates=0, max_candidates=300, prefer_billable=True)
        alone = build_candidates(analysis, {}, {}, stats, codeset, **common)
        shared = build_candidates(analysis, {}, {}, stats, codeset, code_features=kept, **common)
        assert shared.codes == alone.codes
        assert (shared.X == alone.X).all()
    other = CodeStats.from_labels([["J18.9"]], [None], codeset)  # features of other statistics are not reused
    analysis = analyse_docs(get_nlp(), index, [texts[0]])[0]
    common = dict(label_set=frozenset(), specialty=None, classifier_candidates=0, knn_candidates=0,
                  max_candidates=300, prefer_billable=True)
    assert (build_candidates(analysis, {}, {}, other, codeset, code_features=kept, **common).X
            == build_candidates(analysis, {}, {}, other, codeset, **common).X).all()


def test_the_kept_features_stay_bounded_and_right():
    from suggest.model.features import CodeFeatures

    codeset = load_codeset()
    stats = CodeStats.from_labels([["M25.561", "J18.9"]], [None], codeset)
    bounded, fresh = CodeFeatures(stats, codeset, max_cached=2), CodeFeatures(stats, codeset)
    codes = ["M25.561", "J18.9", "I10", "E11.9", "M25.561", "J18.9"]
    assert [bounded.of(c) for c in codes] == [fresh.of(c) for c in codes]
    assert len(bounded._cache) <= 2


def test_a_mentions_rival_is_the_most_words_another_code_matched_over_its_words():
    import random

    from suggest.model.dictionary import Mention
    from suggest.model.analysis import AssertedMention
    from suggest.model.features import _Rivals

    rng = random.Random(3)
    for _ in range(300):
        mentions = []
        for _ in range(rng.randint(1, 12)):
            start = rng.randint(0, 60)
            mentions.append(Mention(rng.choice("ABCD"), start, start + rng.randint(1, 25), 0, 1.0, 0, 3, 0,
                                    rng.randint(0, 5)))
        rivals = _Rivals([AssertedMention(m, "assessment_plan", {}) for m in mentions])
        for b in mentions:
            expected = max((m.n_matched for m in mentions if m.code != b.code and m.start < b.end and b.start < m.end),
                           default=None)
            assert rivals.of(b) == expected


def test_labels_without_the_7th_character_are_recognised():
    codeset = load_codeset()
    assert not labels_keep_seventh(codeset, ["S42.402", "T81.4XX", "W19.XXX", "S42.402A", "J18.9"])  # CodiEsp's way
    assert labels_keep_seventh(codeset, ["S42.402A", "T81.4XXA", "J18.9"])
    assert labels_keep_seventh(codeset, ["J18.9", "E11.9"])  # nothing to go by: the code set's way


def test_a_model_whose_labels_drop_the_7th_character_suggests_injuries_in_that_form(candidates_of):
    text = "Assessment: sprain of left ankle, subsequent encounter. Seen again for the sprain of left ankle."
    full = candidates_of(text)
    cand = candidates_of(text, seventh_in_labels=False)
    assert "S93.402D" in full.codes and "S93.402" not in full.codes
    assert "S93.402" in cand.codes and not any(len(code) == 8 for code in cand.codes)
    assert {"S93.401", "S93.409"} <= set(cand.codes)  # the other sides, in the same form
    # the mentions (the evidence) of its 7th-character codes (D in the first sentence, A in the second) are the form's
    assert [am.mention.start for am in cand.mentions["S93.402"]] == \
        sorted(am.mention.start for code in ("S93.402D", "S93.402A") for am in full.mentions[code])
    row = cand.X[cand.codes.index("S93.402")]
    from suggest.model.features import FEATURES
    assert row[FEATURES.index("dict_best_coverage")] == full.X[full.codes.index("S93.402D")][FEATURES.index("dict_best_coverage")]
    assert row[FEATURES.index("from_category")] == 0.0
