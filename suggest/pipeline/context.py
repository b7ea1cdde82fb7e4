"""ConText-style assertion: is a mention negated, historical, about a family member, hypothetical (a
condition that may come: "return if fever develops"), or uncertain (a diagnosis not yet confirmed: "possible
pneumonia", "rule out PE", which outpatient coding does not code, Guideline IV.H)?

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

from suggest.pipeline import extensions as _extensions  # noqa: F401  (registers doc._ and span._ attributes)
from suggest.pipeline.resources import load_json
from suggest.pipeline.sections import PREAMBLE

FLAGS = ("negated", "historical", "family", "hypothetical", "uncertain")


@dataclass(frozen=True, slots=True)
class Trigger:
    """A matched ConText trigger: tokens ``start:end``, category, direction and scope length; ``splits`` when
    it is a forward trigger that also asserts a mention spanning it (``splits_mention`` in ``context_rules.json``)."""

    start: int
    end: int
    category: str
    direction: str
    max_scope: int
    splits: bool = False


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
        self._rule_by_key: dict[int, tuple[str, str, int, bool]] = {}
        patterns: dict[str, list] = {}
        for i, rule in enumerate(rules["rules"]):
            key = f"ctx{i}"
            patterns[key] = [nlp.make_doc(rule["literal"])]
            self._rule_by_key[nlp.vocab.strings.add(key)] = (
                rule["category"],
                rule["direction"],
                int(rule.get("max_scope") or self.max_scope),
                bool(rule.get("splits_mention", False)) and rule["direction"] == "FORWARD",
            )
        for key, docs in patterns.items():
            self.matcher.add(key, docs)
        self.longest_scope = max((scope for _, _, scope, _ in self._rule_by_key.values()), default=self.max_scope)

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
        doc._.context = ContextIndex(self, doc, triggers, [int(words[t.start]) for t in triggers], sent_id, words)
        return doc

    def assert_chars(self, doc: Doc, start: int, end: int) -> dict[str, bool]:
        """Assertion flags for the characters ``start:end`` of a processed ``doc`` (every token they touch)."""
        return dict(context_of(doc).flags_for_chars(start, end))

    def assert_span(self, doc: Doc, start: int, end: int) -> dict[str, bool]:
        """Assertion flags for tokens ``start:end`` of a processed ``doc``."""
        return dict(context_of(doc).flags(start, end))


class ContextIndex:
    """The ConText triggers of one document (``doc._.context``), answering for any token span.

    It also holds the document's section index and token offsets, so that the engine's lookups per
    mention are plain attribute reads (``doc._`` costs microseconds a call).
    """

    __slots__ = ("component", "triggers", "trigger_words", "sent_id", "words", "sections", "_offsets", "_cache")

    def __init__(self, component: ConTextComponent, doc: Doc, triggers: list[Trigger], trigger_words: list[int],
                 sent_id: np.ndarray, words: np.ndarray):
        self.component = component
        self.triggers = triggers
        self.trigger_words = trigger_words
        self.sent_id = sent_id
        self.words = words
        self.sections = doc._.section_index
        arr = doc.to_array([IDX, LENGTH]).astype(np.int64).reshape(-1, 2)
        self._offsets = (arr[:, 0].tolist(), (arr[:, 0] + arr[:, 1]).tolist())
        self._cache: dict[tuple[int, int], dict[str, bool]] = {}

    def token_range(self, start: int, end: int) -> tuple[int, int]:
        """Tokens ``first:last`` touched by the characters ``start:end`` (as ``char_span(..., "expand")``)."""
        starts, ends = self._offsets
        return bisect.bisect_right(ends, start), bisect.bisect_left(starts, end)

    def section_at(self, char: int) -> str:
        """Name of the section holding character offset ``char``."""
        return self.sections.at(char) if self.sections is not None else PREAMBLE

    def flags_for_chars(self, start: int, end: int) -> dict[str, bool]:
        """Flags of the tokens the characters ``start:end`` touch (shared: do not modify)."""
        first, last = self.token_range(start, end)
        return self.flags(first, last)

    def flags(self, start: int, end: int) -> dict[str, bool]:
        """Assertion flags of tokens ``start:end``, computed once per span (shared: do not modify)."""
        key = (start, end)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._compute(start, end)
        return found

    def _compute(self, start: int, end: int) -> dict[str, bool]:
        flags = no_assertion()
        if start >= end or end > len(self.sent_id):
            return flags
        component, words = self.component, self.words
        # Only triggers within the longest scope (in words) of the mention can reach it.
        lo = bisect.bisect_left(self.trigger_words, int(words[start]) - component.longest_scope - 8)
        hi = bisect.bisect_right(self.trigger_words, int(words[end]) + component.longest_scope + 1)
        sent = self.sent_id[start]
        triggers = [t for t in self.triggers[lo:hi] if self.sent_id[t.start] == sent]
        terminators = [t for t in triggers if t.category == "TERMINATE"]
        for t in triggers:
            flag = component.category_flags.get(t.category)
            if flag is None or flags[flag]:
                continue
            if t.start < end and start < t.end:  # the trigger overlaps the mention itself
                # A window match across "drinks 2 beers ... denies a history of heavy" ("drinks heavily"): the
                # words after a splitting trigger are denied, and so is the mention.
                if t.splits and start < t.start and t.end < end:
                    flags[flag] = True
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
        section_flag = component.section_flags.get(self.section_at(self._offsets[0][start]))
        if section_flag:
            flags[section_flag] = True
        return flags


def context_of(doc: Doc) -> ContextIndex:
    """The ConText index of a document processed by the pipeline."""
    index = doc._.context
    if index is None:
        raise ValueError("the document was not processed by the clinical_context component")
    return index


def token_range(doc: Doc, start: int, end: int) -> tuple[int, int]:
    """Tokens ``first:last`` of ``doc`` touched by the characters ``start:end``, as
    ``doc.char_span(start, end, alignment_mode="expand")`` would give them, without building tokens."""
    return context_of(doc).token_range(start, end)


@Language.factory(
    "clinical_context_v1",
    assigns=["doc._.context"],
    requires=["token.is_sent_start", "doc._.sections"],
    default_config={"rules_file": "context_rules.json"},
)
def make_context(nlp: Language, name: str, *, rules_file: str) -> ConTextComponent:
    """Build the ConText assertion component from its rules file."""
    return ConTextComponent(nlp, load_json(rules_file))
