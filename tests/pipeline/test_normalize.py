"""How the matcher reads words: side letters, contextual abbreviations and hyphenated prefixes."""

from __future__ import annotations

import re

import pytest

from suggest.pipeline.normalize import Normalizer
from suggest.pipeline.resources import load_json


@pytest.fixture(scope="module")
def normalizer():
    return Normalizer()


@pytest.mark.parametrize(("text", "expected"), [
    ("R distal radius fx", {"r": "right"}),
    ("pain in L hand", {"l": "left"}),
    ("L AC joint sprain", {"l": "left"}),
    ("R 5th metacarpal fracture", {"r": "right"}),
    ("total 2 L daily", {}),          # litres
    ("L5 radiculopathy", {}),         # a vertebra
    ("r knee", {}),                   # only a capital letter
    ("Vitamin D level", {}),
])
def test_side_letters(normalizer, text, expected):
    found = {w.text: w.key for w in normalizer.words(text) if w.key != w.text}
    assert {k: v for k, v in found.items() if v in ("right", "left")} == expected


@pytest.mark.parametrize(("text", "expected_stems"), [
    ("b/l knee pain", ["bilater", "knee", "pain"]),
    ("EtOH-induced mood d/o", ["alcohol", "induc", "mood", "disorder"]),
    ("SH III fx", ["salter", "harris", "iii", "fractur"]),
    ("L AC jt subluxation", ["left", "acromioclavicular", "joint", "sublux"]),
    ("Cu deficiency", ["copper", "deficiency"]),
    ("disc degeneration at C5-6", ["disc", "degener", "c5", "c6"]),
    ("lac L long finger", ["lacer", "left", "middl", "finger"]),
    ("distal phalanx fx 3rd toe", ["dist", "phalanx", "fractur", "lesser", "toe"]),
    ("crush injury 2nd finger", ["crush", "injury", "index", "finger"]),
    ("intentional OD on methadone", ["intention", "poison", "methadon"]),
    ("gout 2/2 lead exposure", ["gout", "secondary", "lead", "exposur"]),
    ("AIDS", ["acquir", "immun", "deficiency", "syndrom"]),
])
def test_contextual_abbreviations_read_as_their_meaning(normalizer, text, expected_stems):
    assert normalizer.stems(text) == expected_stems


@pytest.mark.parametrize(("text", "absent"), [
    ("SH: lives alone, no tobacco", "salter"),   # social history, not Salter-Harris
    ("cervical os closed", "eye"),               # lowercase os is not the left eye
    ("insulin 10 units ac and hs", "acromioclavicular"),
    ("K 4.1 mmol/L", "potassium"),
    ("discussed nicotine cessation aids", "syndrom"),  # aids, not AIDS
    ("wears hearing aids", "immun"),
])
def test_contextual_abbreviations_need_their_context(normalizer, text, absent):
    assert absent not in normalizer.stems(text)


def test_a_detail_not_documented_is_the_code_sets_unspecified(normalizer):
    text = "talus fx, side not documented"
    spans = {text[w.start:w.end]: w.key for w in normalizer.words(text)}
    assert normalizer.expansions[spans["not documented"]] == ("unspecified",)
    assert "=unspecified" not in {w.key for w in normalizer.words("fracture not displaced")}


@pytest.mark.parametrize(("clinician", "code_set"), [
    ("vulvar leukoplakia", "leukoplakia of vulva"),
    ("penile agenesis", "agenesis of penis"),
    ("corneal ulcer", "ulcer of cornea"),
    ("nondisplaced talar body fx", "nondisplaced fracture of body of talus"),
    ("buckle fx distal radius", "torus fracture of lower end of radius"),
    ("pinky laceration", "laceration of little finger"),
    ("intertroch fx", "intertrochanteric fracture"),
])
def test_clinicians_words_read_as_the_code_sets(normalizer, clinician, code_set):
    content = set(normalizer.stems(code_set)) - {"lower", "end", "of"}
    assert content <= set(normalizer.stems(clinician)) | {"distal"}, (clinician, code_set)


def test_no_before_a_word_the_code_set_composes_with_without_rules_it_out(normalizer):
    ruled_out = {w.text for w, group in normalizer.polar_words("lac L great toe, no FB, gout with no tophi") if group}
    assert ruled_out == {"fb", "tophi"}
    # any other "no" is ConText's to read as a negated mention, not the code set's composition
    assert not any(group for _, group in normalizer.polar_words("no fever, no cough"))


def test_capital_eye_abbreviations(normalizer):
    assert normalizer.stems("cataract OS") == ["cataract", "left", "eye"]
    assert normalizer.stems("cataract OD") == ["cataract", "right", "eye"]


def test_a_hyphenated_prefix_is_one_word_with_its_stem(normalizer):
    assert normalizer.stems("non-palpable testis") == normalizer.stems("nonpalpable testicle")
    assert normalizer.stems("non-Hodgkin lymphoma") == normalizer.stems("NHL")
    assert "displac" not in normalizer.stems("non-displaced fracture")


def test_word_spans_cover_the_whole_abbreviation(normalizer):
    text = "Pain b/l, worse L&D"
    spans = {w.key: text[w.start:w.end] for w in normalizer.words(text)}
    assert spans["=bilateral"] == "b/l" and spans["=labor and delivery"] == "L&D"


def test_contextual_rules_are_well_formed():
    for rule in load_json("abbreviations.json")["contextual"]:
        assert re.fullmatch(r"[a-z0-9]+", rule["word"]), rule
        assert re.compile(rule["match"]).pattern.startswith(rule["word"][:1]), rule
        assert rule["means"].strip() and rule.get("case") in (None, "upper"), rule


@pytest.mark.parametrize("one, other", [
    ("media", "medial"), ("corneal", "corn"), ("aids", "aid"), ("crps", "crp"), ("previa", "previous"),
    ("partial", "part"), ("factory", "factor"), ("status", "stat"), ("uterus", "uter"), ("eyes", "eye"),
    ("ribs", "rib"), ("sensorium", "sensory"),
])
def test_words_of_other_meanings_keep_apart(one, other):
    from suggest.pipeline.normalize import stem

    assert stem(one) != stem(other)


@pytest.mark.parametrize("one, other", [
    ("injuries", "injury"), ("extremities", "extremity"), ("deformities", "deformity"), ("arteries", "artery"),
    ("condylar", "condyle"), ("malleolar", "malleolus"), ("physeal", "physis"), ("epiphyseal", "epiphysis"),
    ("metacarpus", "metacarpal"),
])
def test_plurals_and_adjectives_of_the_code_sets_words_meet(normalizer, one, other):
    """"Other specified injuries of thigh" is a clinician's "injury of thigh"; "condylar process" the "condyle"."""
    assert normalizer.word_stems(one) == normalizer.word_stems(other)


@pytest.mark.parametrize("text, meaning", [
    ("intentional quetiapine OD, f/u", "=poisoning"),  # after a drug: an overdose
    ("tylenol od", "=poisoning"),
    ("OD on heroin", "=poisoning"),
    ("intentional OD clopidogrel, initial", "=poisoning"),  # before a drug's name too
    ("cataract OD", "=right eye"),  # after anything else, a capital OD is the right eye
    ("vision 20/40 OD", "=right eye"),
])
def test_od_reads_as_an_overdose_next_to_a_drug_and_as_the_right_eye_elsewhere(normalizer, text, meaning):
    assert {w.key for w in normalizer.words(text) if w.text == "od"} == {meaning}


@pytest.mark.parametrize(("text", "keys"), [
    ("1. Type 2 diabetes.\n2. Stage 3 CKD.", ["type", "2", "diabetes", "stage", "3", "ckd"]),
    ("Assessment: 1. Type 2 diabetes. 2) Right heel ulcer.", ["assessment", "type", "2", "diabetes", "right", "heel",
                                                              "ulcer"]),
    ("#1. Hypertension", ["hypertension"]),
    # Not list numbers: a decimal, a stage ending its sentence, a count.
    ("HbA1c 7.2. Type 2 diabetes", ["hba1c", "7", "2", "type", "2", "diabetes"]),
    ("CKD stage 2. Hypertension.", ["ckd", "stage", "2", "hypertension"]),
    ("Seen 2 times.", ["seen", "2", "times"]),
])
def test_a_list_items_number_is_no_word_of_the_item(normalizer, text, keys):
    assert [w.key for w in normalizer.words(text)] == keys


def test_a_normaliser_reads_words_like_another_only_with_the_same_word_rules():
    import pickle

    from suggest.pipeline.normalize import default_normalizer

    shipped = default_normalizer()
    assert shipped.reads_words_like(pickle.loads(pickle.dumps(shipped)))  # a model's pickled copy
    other = Normalizer(contextual=[{"word": "zz", "match": r"zz\b", "means": "zebra"}])
    assert not shipped.reads_words_like(other)
    text = "R knee pain, b/l zz."
    assert [w.key for w in other.words(text)] != [w.key for w in shipped.words(text)]


def test_word_spans_keep_each_words_span_and_key():
    from suggest.pipeline.normalize import WordSpans, default_normalizer

    text = "R knee pain; knee pain again, b/l."
    words = list(default_normalizer().words(text))
    spans = WordSpans.of(words)
    assert list(spans) == [(w.start, w.end, w.key) for w in words] and len(spans) == len(words)
    assert spans.keys[2] is spans.keys[4]  # "pain" twice: one string
