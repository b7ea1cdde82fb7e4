"""Per-chart text analysis: sentences, sections, dictionary mentions and their assertion."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from spacy.language import Language
from spacy.tokens import Doc, Span

from suggest.model.dictionary import Mention, TermIndex
from suggest.pipeline import process
from suggest.pipeline.context import context_of
from suggest.pipeline.extensions import MENTIONS
from suggest.pipeline.normalize import WordSpans

#: Whitespace-free runs longer than this are broken (for spaCy only; offsets stay the same).
_LONG_RUN = re.compile(r"\S{400,}")
#: Lone surrogates (from bytes decoded with "surrogateescape") cannot be encoded; one code point each.
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(slots=True)
class AssertedMention:
    """A dictionary mention with its section and ConText flags."""

    mention: Mention
    section: str
    flags: dict[str, bool]

    @property
    def affirmed(self) -> bool:
        return not any(self.flags.values())


@dataclass(slots=True)
class ChartAnalysis:
    """Everything the engine reads from one chart's text."""

    mentions: list[AssertedMention]
    n_sentences: int
    n_chars: int
    doc: Doc | None = None  # the processed text, kept for evidence of classifier suggestions
    words: WordSpans | None = None  # the chart's words as the term index's normaliser read them (with ``keep_docs``)


def spacy_safe(text: str) -> str:
    """A copy of ``text`` of the same length that spaCy can always process.

    Very long tokens are broken by spaces and lone surrogates replaced.

    spaCy's tokenizer slows down on huge whitespace-free runs; character offsets
    are unchanged, so spans found on the copy index the original text.
    """
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    if len(text) < 400 or not _LONG_RUN.search(text):
        return text

    def breakup(m: re.Match) -> str:
        run = m.group()
        return " ".join(run[i: i + 99] for i in range(0, len(run), 100))[: len(run)]

    return _LONG_RUN.sub(breakup, text)


def analyse_docs(
    nlp: Language, index: TermIndex, texts: list[str], batch_size: int = 64, progress: bool = False,
    keep_docs: bool = False, learned: TermIndex | Sequence[TermIndex | None] | None = None,
) -> list[ChartAnalysis]:
    """Run the clinical pipeline and the dictionary over ``texts``.

    ``learned`` holds the phrases learned from training charts (:mod:`suggest.model.phrases`): one index for all
    texts, or one per text (cross-fitting); a learned mention counts where the dictionary has no better one.
    With ``keep_docs``, each analysis keeps its processed ``Doc``, whose ``doc.spans["mentions"]`` holds the
    dictionary mentions as spans (``span._.codes``, ``span._.is_negated``, ... ``span._.section``).
    """
    per_text = learned if isinstance(learned, Sequence) else [learned] * len(texts)
    out: list[ChartAnalysis] = []
    safe = (spacy_safe(t) for t in texts)
    docs = process(nlp, safe)
    if progress:
        from tqdm import tqdm

        docs = tqdm(docs, total=len(texts), desc="analyse charts", unit="chart")
    for text, doc, learned_index in zip(texts, docs, per_text, strict=True):
        starts = doc._.sentence_starts or [s.start_char for s in doc.sents]
        polar = list(index.normalizer_.polar_words(text))
        mentions = index.match(text, starts, polar)
        if learned_index is not None:
            mentions = _with_learned(mentions, learned_index.match(text, starts))
        context = context_of(doc)
        asserted: list[AssertedMention] = []
        spans: dict[tuple[int, int], list[str]] = {}
        for m in mentions:
            first, last = context.token_range(m.start, m.end)
            asserted.append(AssertedMention(m, context.section_at(m.start), context.flags(first, last)))
            if keep_docs:
                spans.setdefault((first, last), []).append(m.code)
        if keep_docs:
            doc.spans[MENTIONS] = [_mention_span(doc, first, last, codes) for (first, last), codes in spans.items()
                                   if first < last]
        out.append(ChartAnalysis(asserted, len(starts), len(text), doc if keep_docs else None,
                                 WordSpans.of(word for word, _ in polar) if keep_docs else None))
    return out


def _with_learned(mentions: list[Mention], learned: list[Mention]) -> list[Mention]:
    """The dictionary's mentions plus the learned ones for a (sentence, code) the dictionary matched less well."""
    if not learned:
        return mentions
    best = {}
    for m in mentions:
        key = (m.sentence, m.code)
        best[key] = max(best.get(key, 0.0), m.coverage)
    extra = [m for m in learned if m.coverage > best.get((m.sentence, m.code), 0.0)]
    return sorted(mentions + extra, key=lambda m: (m.start, m.code)) if extra else mentions


def _mention_span(doc: Doc, first: int, last: int, codes: list[str]) -> Span:
    span = Span(doc, first, last, label="MENTION")
    span._.codes = tuple(dict.fromkeys(codes))
    return span


def assert_char_span(doc: Doc, start: int, end: int) -> tuple[str, dict[str, bool]]:
    """Section and ConText flags of the characters ``start:end`` of a processed ``doc``."""
    context = context_of(doc)
    return context.section_at(start), dict(context.flags_for_chars(start, end))
