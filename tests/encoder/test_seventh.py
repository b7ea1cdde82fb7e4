"""The 7th character of a code, read from what the chart says."""

import pytest

from suggest.codeset import load_codeset
from suggest.encoder import SeventhCharacterResolver


@pytest.fixture(scope="module")
def resolve():
    codeset, resolver = load_codeset(), SeventhCharacterResolver()

    def run(stem_code: str, text: str):
        return resolver.resolve(codeset, stem_code, resolver.context(text))

    return run


@pytest.mark.parametrize(
    ("stem_code", "text", "code"),
    [
        ("S52.521", "Torus fracture of lower end of right radius, subsequent encounter for fracture with routine "
                    "healing", "S52.521D"),
        ("S52.521", "R distal radius buckle fx, f/u visit, healing as expected", "S52.521D"),
        ("S52.521", "buckle fracture of the right radius, follow-up", "S52.521D"),
        ("S52.521", "R distal radius buckle fx with nonunion", "S52.521K"),
        ("S52.521", "buckle fracture right radius, delayed union", "S52.521G"),
        ("S52.521", "old buckle fracture right radius, malunited", "S52.521P"),
        ("S52.521", "late effect of a buckle fracture of the right radius", "S52.521S"),
        ("S72.411", "displaced R distal femoral condyle fx, open gr II, f/u delayed healing", "S72.411H"),
        ("S06.0X1", "concussion with brief LOC, sequela", "S06.0X1S"),
        ("H40.111", "POAG right eye, moderate stage", "H40.1112"),
        ("M1A.071", "chronic gout of the right ankle with tophi", "M1A.0711"),
        ("M1A.071", "chronic gout of the right ankle w/o tophi", "M1A.0710"),
        ("M1A.071", "chronic tophaceous gout, right ankle", "M1A.0711"),  # tophaceous: with tophi
        ("M1A.071", "chronic gout of the right ankle, no tophi", "M1A.0710"),
        ("E11.355", "DM2 w/ stable proliferative diabetic retinopathy OS", "E11.3552"),  # a capital OS is the left eye
        ("E11.355", "DM2 w/ stable PDR, both eyes", "E11.3553"),
        ("O36.593", "poor fetal growth, fetus 2", "O36.5932"),
        ("O36.593", "poor fetal growth, singleton pregnancy", "O36.5930"),
    ],
)
def test_the_documented_character_is_chosen(resolve, stem_code, text, code):
    resolution = resolve(stem_code, text)
    assert resolution.code == code and resolution.documented


@pytest.mark.parametrize(
    ("stem_code", "text", "code"),
    [
        ("S52.521", "buckle fracture of the right radius", "S52.521A"),  # initial encounter
        ("S52.521", "right distal radius buckle fracture, follow up in 2 weeks", "S52.521A"),  # a plan, not a visit
        ("H40.111", "primary open-angle glaucoma, right eye", "H40.1110"),  # stage unspecified
        ("O36.593", "poor fetal growth", "O36.5930"),  # not applicable or unspecified
    ],
)
def test_without_evidence_the_default_character(resolve, stem_code, text, code):
    resolution = resolve(stem_code, text)
    assert resolution.code == code and not resolution.documented


def test_codes_without_a_seventh_character_are_left_alone(resolve):
    assert resolve("E11.9", "type 2 diabetes, follow-up") is None
    assert resolve("S52.521D", "follow-up") is None  # already complete


def test_dictionary_mentions_of_stems_get_their_character():
    from suggest.model.dictionary import TermIndex
    from suggest.pipeline.normalize import default_normalizer

    index = TermIndex().fit(load_codeset(), default_normalizer())
    text = "Torus fracture of lower end of right radius, subsequent encounter for fracture with routine healing."
    codes = {m.code for m in index.match(text, [0])}
    assert "S52.521D" in codes and "S52.521A" not in codes and "S52.521" not in codes
    plain = {m.code for m in index.match("Torus fracture of lower end of right radius.", [0])}
    assert "S52.521A" in plain
