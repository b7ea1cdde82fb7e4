"""The intent of a poisoning, read from the chart.

Codes of poisonings and toxic effects (T36-T65) carry their intent in the 6th character: accidental,
intentional self-harm, assault, undetermined, and for drugs (T36-T50) adverse effect and underdosing
(``T43.222A``: poisoning by SSRIs, intentional self-harm, initial encounter). The dictionary matches the
substance ("sertraline" reads as "selective serotonin reuptake inhibitors"); this resolver then gives the
mention the intent its sentence documents ("intentional sertraline overdose"), from cues kept as data
(``resources/poisoning_intent.json``). With no cue the code keeps the intent it was matched with.
"""

from __future__ import annotations

import functools
import re

from suggest.codeset.notes import CodeRef
from suggest.pipeline.resources import load_json


class PoisoningIntentResolver:
    """Chooses the intent character of poisoning stems from their sentence (rules: ``poisoning_intent.json``)."""

    def __init__(self, rules: dict | None = None):
        rules = rules if rules is not None else load_json("poisoning_intent.json")
        self.refs = tuple(CodeRef.parse(r) for r in rules["codes"])
        self.cues = [(intent, re.compile("|".join(f"(?:{c})" for c in rules["cues"][intent]), re.IGNORECASE))
                     for intent in rules["order"]]
        self.descriptions: dict[str, str] = rules["descriptions"]

    def applies(self, stem: str) -> bool:
        """Whether ``stem`` is a poisoning or toxic-effect stem whose last character is its intent."""
        return stem[-1:] in self.descriptions and any(ref.matches(stem) for ref in self.refs)

    def intent(self, sentence: str) -> str | None:
        """The intent character the sentence documents, None when it says none."""
        return next((intent for intent, cue in self.cues if cue.search(sentence)), None)

    def resolve(self, codeset, stem: str, sentence: str) -> str:
        """``stem`` with the intent ``sentence`` documents, when the code set has that code and its description
        states that intent; else ``stem`` unchanged."""
        return self.with_intent(codeset, stem, self.intent(sentence))

    def with_intent(self, codeset, stem: str, intent: str | None) -> str:
        """``stem`` with ``intent`` (what :meth:`intent` read from its sentence), as :meth:`resolve` gives it."""
        if intent is None or intent == stem[-1] or not self.applies(stem):
            return stem
        other = stem[:-1] + intent
        description = (codeset.description(other) or "").lower()
        return other if self.descriptions[intent] in description else stem


@functools.lru_cache(maxsize=1)
def default_intent_resolver() -> PoisoningIntentResolver:
    """The resolver built from the shipped cue file."""
    return PoisoningIntentResolver()
