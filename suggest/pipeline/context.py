"""ConText-style assertion: is a mention negated, historical, about a family member, or hypothetical?

After Chapman et al. (2007) and medspaCy's ConText, re-implemented on spaCy 3.8 for
speed. Trigger literals with a category and a scope direction are data
(``resources/context_rules.json``). A trigger's scope runs forward or backward
from it inside its sentence and stops at a terminator, at the sentence end, or
after ``max_scope`` word tokens. Pseudo-triggers ("no increase", "gram negative")
block the real triggers they contain. The section a mention is in also counts:
a family-history section makes it ``family``, a past-history section ``historical``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np
from spacy.attrs import IDX, IS_PUNCT, IS_SPACE, LENGTH, SENT_START
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

from suggest.pipeline.resources import load_json
from suggest.pipeline.sections import section_at

FLAGS = ("negated", "historical", "family", "hypothetical")


@dataclass(frozen=True, slots=True)
class Trigger:
    """A matched ConText trigger: tokens ``start:end``, category, direction and scope length."""

    start: int
    end: int
    category: str
    direction: str
    max_scope: int


def no_assertion() -> dict[str, bool]:
    """The flag dict of a plain, affirmed, current mention."""
    return dict.fromkeys(FLAGS, False)


class ConTextComponent:
    """Finds triggers once per document; ``assert_span`` then answers for any token span."""

    def __init__(self, nlp: Language, rules: dict):
        self.max_scope = int(rules.get("max_scope", 10))
        self.category_flags: dict[str, str] = rules["flags"]
        self.section_flags: dict[str, str] = rules.get("section_flags", {})
        self.matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        self._rule_by_key: dict[int, tuple[str, str, int]] = {}
        patterns: dict[str, list] = {}
        for i, rule in enumerate(rules["rules"]):
            key = f"ctx{i}"
            patterns[key] = [nlp.make_doc(rule["literal"])]
            self._rule_by_key[nlp.vocab.strings.add(key)] = (
                rule["category"],
                rule["direction"],
                int(rule.get("max_scope") or self.max_scope),
            )
        for key, docs in patterns.items():
            self.matcher.add(key, docs)
        self.longest_scope = max((scope for _, _, scope in self._rule_by_key.values()), default=self.max_scope)

    def __call__(self, doc: Doc) -> Doc:
        found = sorted(
            (Trigger(start, end, *self._rule_by_key[match_id]) for match_id, start, end in self.matcher(doc)),
            key=lambda t: (t.start, -(t.end - t.start)),
        )
        # Triggers are a few tokens long: only those starting shortly before can contain one.
        longest = max((t.end - t.start for t in found), default=0)
        starts = [t.start for t in found]
        triggers = []
        for t in found:
            if t.category == "PSEUDO":
                continue
            lo = bisect.bisect_left(starts, t.start - longest)
            hi = bisect.bisect_right(starts, t.start)
            contained = False
            for o in found[lo:hi]:
                if o is t or not (o.start <= t.start and t.end <= o.end):
                    continue
                # A pseudo-trigger blocks the triggers inside it; a longer trigger of the same category is the same one.
                if o.category == "PSEUDO" or (o.category == t.category and o.end - o.start > t.end - t.start):
                    contained = True
                    break
            if not contained:
                triggers.append(t)
        arr = doc.to_array([SENT_START, IS_PUNCT, IS_SPACE]).astype(np.int64)
        sent_id = np.maximum(np.cumsum(arr[:, 0] == 1) - 1, 0).astype(np.int32) if len(doc) else np.zeros(0, np.int32)
        # Cumulative count of word tokens: scope lengths count words, not punctuation.
        is_word = ((arr[:, 1] == 0) & (arr[:, 2] == 0)).astype(np.int32) if len(doc) else np.zeros(0, np.int32)
        words = np.concatenate([[0], np.cumsum(is_word)])
        doc.user_data["context_triggers"] = triggers
        doc.user_data["context_trigger_words"] = [int(words[t.start]) for t in triggers]
        doc.user_data["context_sent_id"] = sent_id
        doc.user_data["context_words"] = words
        doc.user_data.pop(_TOKEN_OFFSETS, None)
        return doc

    def assert_chars(self, doc: Doc, start: int, end: int) -> dict[str, bool]:
        """Assertion flags for the characters ``start:end`` of a processed ``doc`` (every token they touch)."""
        first, last = token_range(doc, start, end)
        return self.assert_span(doc, first, last) if first < last else no_assertion()

    def assert_span(self, doc: Doc, start: int, end: int) -> dict[str, bool]:
        """Assertion flags for tokens ``start:end`` of a processed ``doc``."""
        flags = no_assertion()
        if start >= end or end > len(doc):
            return flags
        all_triggers: list[Trigger] = doc.user_data.get("context_triggers", [])
        sent_id = doc.user_data["context_sent_id"]
        words = doc.user_data["context_words"]
        # Only triggers within the longest scope (in words) of the mention can reach it.
        trigger_words = doc.user_data["context_trigger_words"]
        lo = bisect.bisect_left(trigger_words, int(words[start]) - self.longest_scope - 8)
        hi = bisect.bisect_right(trigger_words, int(words[end]) + self.longest_scope + 1)
        sent = sent_id[start]
        triggers = [t for t in all_triggers[lo:hi] if sent_id[t.start] == sent]
        terminators = [t for t in triggers if t.category == "TERMINATE"]
        for t in triggers:
            flag = self.category_flags.get(t.category)
            if flag is None or flags[flag]:
                continue
            if t.start < end and start < t.end:  # the trigger overlaps the mention itself
                continue
            if t.direction in ("FORWARD", "BIDIRECTIONAL") and t.end <= start:
                if words[start] - words[t.end] <= t.max_scope and not any(
                    t.end <= x.start and x.end <= start for x in terminators
                ):
                    flags[flag] = True
                    continue
            if t.direction in ("BACKWARD", "BIDIRECTIONAL") and t.start >= end:
                if words[t.start] - words[end] <= t.max_scope and not any(
                    end <= x.start and x.end <= t.start for x in terminators
                ):
                    flags[flag] = True
        section_flag = self.section_flags.get(section_at(doc, _token_offsets(doc)[0][start]))
        if section_flag:
            flags[section_flag] = True
        return flags


#: user_data key of the tokens' (start, end) character offsets, built once per doc.
_TOKEN_OFFSETS = "token_offsets"


def _token_offsets(doc: Doc) -> tuple[list[int], list[int]]:
    offsets = doc.user_data.get(_TOKEN_OFFSETS)
    if offsets is None:
        arr = doc.to_array([IDX, LENGTH]).astype(np.int64).reshape(-1, 2)
        offsets = doc.user_data[_TOKEN_OFFSETS] = (arr[:, 0].tolist(), (arr[:, 0] + arr[:, 1]).tolist())
    return offsets


def token_range(doc: Doc, start: int, end: int) -> tuple[int, int]:
    """Tokens ``first:last`` of ``doc`` touched by the characters ``start:end``, as
    ``doc.char_span(start, end, alignment_mode="expand")`` would give them, without building tokens."""
    starts, ends = _token_offsets(doc)
    return bisect.bisect_right(ends, start), bisect.bisect_left(starts, end)


@Language.factory(
    "clinical_context",
    assigns=["doc.user_data"],
    requires=["token.is_sent_start", "doc._.sections"],
    default_config={"rules_file": "context_rules.json"},
)
def make_context(nlp: Language, name: str, *, rules_file: str) -> ConTextComponent:
    """Build the ConText assertion component from its rules file."""
    return ConTextComponent(nlp, load_json(rules_file))
