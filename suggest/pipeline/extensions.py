"""The custom attributes the clinical pipeline sets on spaCy objects, registered in one place.

On a :class:`~spacy.tokens.Doc` processed by :func:`suggest.pipeline.process`:

- ``doc._.source_text`` (str): the text as given, kept so components need not rebuild it from tokens.
- ``doc._.sentence_starts`` (list of int): character offsets where sentences start (``clinical_sentencizer``).
- ``doc._.sections`` (list of ``Section``): the note's sections, covering the whole text (``clinical_sections``).
- ``doc._.context`` (``ContextIndex``): the ConText triggers of the document (``clinical_context``).
- ``doc.spans["mentions"]``: the dictionary's mentions of codes (set by the engine's analysis, see
  :func:`suggest.model.analysis.analyse_docs`), each with ``span._.codes``.

On any :class:`~spacy.tokens.Span` of such a document, as medspaCy names them (computed on demand from the
ConText triggers and the section the span starts in):

- ``span._.is_negated``, ``span._.is_historical``, ``span._.is_family``, ``span._.is_hypothetical``,
  ``span._.is_uncertain`` (bool);
- ``span._.section`` (str): the section name, e.g. ``"assessment_and_plan"``;
- ``span._.codes`` (tuple of str): the codes a mention was matched to (empty for other spans).
"""

from __future__ import annotations

from spacy.tokens import Doc, Span

#: ConText flags and the span attribute that carries each.
FLAG_ATTRIBUTES = {
    "negated": "is_negated",
    "historical": "is_historical",
    "family": "is_family",
    "hypothetical": "is_hypothetical",
    "uncertain": "is_uncertain",
}
MENTIONS = "mentions"


def _flag_getter(flag: str):
    def get(span: Span) -> bool:
        context = span.doc._.context
        return bool(context is not None and context.flags(span.start, span.end)[flag])

    get.__name__ = f"get_{FLAG_ATTRIBUTES[flag]}"
    return get


def _section_getter(span: Span) -> str:
    from suggest.pipeline.sections import section_at

    return section_at(span.doc, span.start_char)


def register_extensions() -> None:
    """Register every attribute above (idempotent; done when :mod:`suggest.pipeline` is imported)."""
    for name in ("source_text", "sentence_starts", "sections", "context", "section_index", "token_offsets"):
        if not Doc.has_extension(name):
            Doc.set_extension(name, default=None)
    for flag, attribute in FLAG_ATTRIBUTES.items():
        if not Span.has_extension(attribute):
            Span.set_extension(attribute, getter=_flag_getter(flag))
    if not Span.has_extension("section"):
        Span.set_extension("section", getter=_section_getter)
    if not Span.has_extension("codes"):
        Span.set_extension("codes", default=())


register_extensions()
