"""The 7th character of a code, read from the chart.

The tabular list defines, for each stem that takes a 7th character, what every character means
(``S52.521``: ``A`` initial encounter for closed fracture, ``D`` subsequent encounter for fracture with
routine healing, ...). A chart states it in its own words ("f/u, healing well"). The resolver rewrites
those words into the definitions' vocabulary (rules as data: ``resources/seventh_character_cues.json``),
then picks the character whose *distinguishing* words (those not shared by every definition of the
stem) the context holds most of, leaving out the words of the condition's own description; on a tie the
character listed first wins ("f/u" alone is routine healing, not nonunion). The mention's sentence is
read first, then the whole chart. With no evidence it
takes the stem's default: ``A`` (initial encounter) where there is one, else the "unspecified" or
"not applicable" character, else the first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from suggest.pipeline.normalize import default_normalizer, remember, stem
from suggest.pipeline.resources import load_json

#: Words that carry no meaning in a 7th-character definition.
_STOP = frozenset({"a", "an", "the", "of", "for", "or", "and", "to", "in", "by", "at", "on", "encounter"})
_WORD = re.compile(r"[a-z0-9]+")


def _stems(text: str) -> frozenset[str]:
    return frozenset(stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP)


#: A stem's code, its characters with their distinguishing stems, its own description's stems, its default character.
_StemFacts = tuple[str, tuple[tuple[str, frozenset[str]], ...], frozenset[str], str]


@dataclass(frozen=True, slots=True)
class Resolution:
    """The chosen character, the code it makes, and whether the chart said so (else it is the default)."""

    char: str
    code: str
    documented: bool


class SeventhCharacterResolver:
    """Chooses the 7th character of stems from chart text.

    Parameters
    ----------
    rewrites : list of (pattern, replacement)
        Clinician phrases and the definition words they stand for; default: the shipped cue file.
    """

    def __init__(self, rewrites: list[tuple[str, str]] | None = None):
        rules = rewrites if rewrites is not None else [tuple(r) for r in load_json("seventh_character_cues.json")["rewrites"]]
        self.rewrites = [(re.compile(rf"\b(?:{pattern})\b", re.IGNORECASE), replacement) for pattern, replacement in rules]
        self._any_rewrite = _any_of(self.rewrites)
        self._key_stems: dict[str, tuple[str, ...]] = {}
        self._stem_facts: dict[tuple[str, str], _StemFacts | None] = {}

    def context(self, text: str) -> frozenset[str]:
        """The stems a passage of chart text contributes, after rewriting clinicians' phrases and expanding
        abbreviations ("subseq", "init") as the dictionary does."""
        if self._any_rewrite.search(text):
            for pattern, replacement in self.rewrites:
                text = pattern.sub(f" {replacement} ", text)
        # The normaliser's words, so that a capital "OS" is the left eye and "R" the right side, as in the dictionary.
        normalizer = default_normalizer()
        cache = self._key_stems
        found: set[str] = set()
        for word in normalizer.words(text):
            stems = cache.get(word.key)
            if stems is None:
                stems = remember(cache, word.key, tuple(
                    stem(w) for key in normalizer.expansions.get(word.key, (word.key,))
                    for w in _WORD.findall(key) if w not in _STOP))
            found.update(stems)
        return frozenset(found)

    def resolve(self, codeset, stem_code: str, *contexts: frozenset[str]) -> Resolution | None:
        """The 7th character of ``stem_code`` given context stems, nearest first (e.g. sentence, then chart).

        None when ``stem_code`` takes no 7th character.
        """
        facts = self._facts(codeset, stem_code)
        if facts is None:
            return None
        stem_code, characters, own, default = facts
        for context in contexts:
            context = context - own
            best, best_hits = None, 0
            for char, distinct in characters:
                hits = len(distinct & context)
                if hits > best_hits:
                    best, best_hits = char, hits
            if best is not None:
                code = codeset.seventh_character_code(stem_code, best)
                if code is not None:
                    return Resolution(best, code, True)
        code = codeset.seventh_character_code(stem_code, default)
        return Resolution(default, code, False) if code is not None else None

    def _facts(self, codeset, stem_code: str) -> _StemFacts | None:
        """What :meth:`resolve` reads of a stem in ``codeset`` (None when it takes no 7th character), kept per
        release and code: charts name the same few hundred stems again and again."""
        key = (codeset.release, stem_code)
        if key in self._stem_facts:
            return self._stem_facts[key]
        info = codeset.get(stem_code)
        facts = None
        if info is not None and not info.billable and info.seventh_characters:
            definitions = info.seventh_characters
            words = {char: _stems(definition) for char, definition in definitions.items()}
            common = frozenset.intersection(*words.values())
            # Words of the condition itself ("fracture" in "buckle fracture") say nothing about the character.
            facts = (info.code, tuple((char, w - common) for char, w in words.items()), _stems(info.description),
                     _default_char(definitions))
        return remember(self._stem_facts, key, facts)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_key_stems"], state["_stem_facts"] = {}, {}
        state.pop("_any_rewrite", None)
        return state

    def __setstate__(self, state: dict) -> None:
        stale = ("_stems", "_defaults", "_own")  # per-stem memories of models pickled before _stem_facts held them
        self.__dict__.update({"_key_stems": {}, "_stem_facts": {},
                              **{k: v for k, v in state.items() if k not in stale}})
        self._any_rewrite = _any_of(self.rewrites)


def _any_of(rewrites: list[tuple[re.Pattern, str]]) -> re.Pattern:
    """One search for any of the rewrites' phrases: most passages hold none, and then no substitution runs."""
    return re.compile("|".join(p.pattern for p, _ in rewrites) or "(?!)", re.IGNORECASE)


def _default_char(definitions: dict[str, str]) -> str:
    if "A" in definitions:
        return "A"
    for char, definition in definitions.items():
        if "unspecified" in definition.lower() or "not applicable" in definition.lower():
            return char
    return next(iter(definitions))
