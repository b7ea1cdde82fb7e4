"""The intent of a poisoning, read from its sentence."""

from __future__ import annotations

import pytest

from suggest.codeset import load_codeset
from suggest.encoder.intent import default_intent_resolver


@pytest.mark.parametrize(("sentence", "stem"), [
    ("Intentional sertraline overdose.", "T43.222"),
    ("Sertraline overdose in a suicide attempt.", "T43.222"),
    ("Sertraline poisoning, given by an assailant.", "T43.223"),
    ("Sertraline overdose, intent undetermined.", "T43.224"),
    ("Underdosing of sertraline: missed doses for a week.", "T43.226"),
    ("Adverse effect of sertraline taken as prescribed.", "T43.225"),
    ("Unintentional sertraline overdose.", "T43.221"),
    ("Sertraline overdose.", "T43.221"),  # no intent documented: the code keeps the accidental intent
])
def test_the_sentence_gives_the_intent(sentence, stem):
    assert default_intent_resolver().resolve(load_codeset(), "T43.221", sentence) == stem


def test_toxic_effects_have_no_adverse_effect_or_underdosing():
    resolver = default_intent_resolver()
    assert resolver.resolve(load_codeset(), "T60.4X1", "Rat poison ingestion, assault.") == "T60.4X3"
    assert resolver.resolve(load_codeset(), "T60.4X1", "Adverse effect of rat poison.") == "T60.4X1"


def test_codes_outside_poisonings_are_left_alone():
    assert default_intent_resolver().resolve(load_codeset(), "S52.521", "Assault, intentional.") == "S52.521"
