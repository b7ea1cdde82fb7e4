"""The clinical spaCy pipeline: tokenizer, sentences, sections, ConText assertion.

``build_nlp()`` assembles ``spacy.blank("en")`` with the project's registered
components; ``get_nlp()`` returns a shared instance. ``assess`` runs the pipeline on
a text and reports the assertion flags of one character span.
"""

from __future__ import annotations

from functools import lru_cache

import spacy
from spacy.language import Language

from suggest.pipeline import extensions as _extensions  # noqa: F401  (registers doc._ and span._ attributes)
from suggest.pipeline import context as _context  # noqa: F401  (registers the factory)
from suggest.pipeline import sections as _sections  # noqa: F401
from suggest.pipeline import sentences as _sentences  # noqa: F401
from suggest.pipeline.context import FLAGS, no_assertion
from suggest.pipeline.sections import section_at

__all__ = ["FLAGS", "assess", "build_nlp", "doc_text", "get_nlp", "no_assertion", "process", "section_at"]

#: spaCy's default limit is 1M characters; charts can be longer (we bound time elsewhere).
MAX_CHARS = 20_000_000


#: The pipeline's components: (pipe name, registered factory). Factory names carry their version.
COMPONENTS = (
    ("clinical_sentencizer", "clinical_sentencizer_v1"),
    ("clinical_sections", "clinical_sections_v1"),
    ("clinical_context", "clinical_context_v1"),
)


def build_nlp() -> Language:
    """A new clinical pipeline: ``clinical_sentencizer`` → ``clinical_sections`` → ``clinical_context``."""
    nlp = spacy.blank("en")
    nlp.max_length = MAX_CHARS
    for name, factory in COMPONENTS:
        nlp.add_pipe(factory, name=name)
    return nlp


def process(nlp: Language, texts, batch_size: int = 64):
    """Run ``nlp`` over ``texts`` like ``nlp.pipe``, keeping each text in ``doc._.source_text``
    so components read it without rebuilding it from the tokens (``Doc.text`` is slow)."""
    for text in texts:
        doc = nlp.make_doc(text)
        doc._.source_text = text
        for _, component in nlp.pipeline:
            doc = component(doc)
        yield doc


def doc_text(doc) -> str:
    """The text of a document processed by :func:`process` (or rebuilt from its tokens)."""
    text = doc._.source_text
    return text if text is not None else doc.text


#: Words the shared pipeline's vocabulary may learn before it is built anew. spaCy adds a lexeme (and its string)
#: for every word it has not seen and never drops one: a server reading random text grew without bound.
MAX_LEARNED_WORDS = 100_000


@lru_cache(maxsize=1)
def _shared_nlp() -> tuple[Language, int]:
    nlp = build_nlp()
    return nlp, len(nlp.vocab)


def get_nlp() -> Language:
    """The process-wide pipeline instance: built once, and again when its vocabulary has learned
    ``MAX_LEARNED_WORDS`` words (documents made before keep the vocabulary they were made with)."""
    nlp, built_with = _shared_nlp()
    if len(nlp.vocab) - built_with > MAX_LEARNED_WORDS:
        _shared_nlp.cache_clear()
        nlp, _ = _shared_nlp()
    return nlp


def assess(text: str, start: int, end: int) -> dict[str, bool]:
    """Assertion flags for the characters ``text[start:end]``.

    Returns ``{"negated", "historical", "family", "hypothetical", "uncertain"}`` booleans, as
    ConText would assign them to a mention at that span.
    """
    if not isinstance(text, str):
        raise TypeError("text must be a str")
    if not (0 <= start < end <= len(text)):
        raise ValueError(f"span {start}:{end} is outside the text (length {len(text)})")
    nlp = get_nlp()
    doc = next(process(nlp, [text]))
    return nlp.get_pipe("clinical_context").assert_chars(doc, start, end)
