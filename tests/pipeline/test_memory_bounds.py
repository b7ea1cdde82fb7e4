"""What a long-running server learns from the texts it reads stays bounded: the per-word caches and spaCy's
vocabulary (which adds every new word and never drops one)."""

from __future__ import annotations

import suggest.pipeline as pipeline
import suggest.pipeline.normalize as normalize
from suggest.pipeline import get_nlp, process


def test_a_word_cache_starts_over_when_full_and_answers_the_same(monkeypatch):
    monkeypatch.setattr(normalize, "WORD_CACHE_LIMIT", 10)
    normalizer = normalize.Normalizer()
    words = [f"word{i}x" for i in range(25)] + ["htn", "fractures"]
    first = [normalizer.word_stems(w) for w in words]
    assert len(normalizer._cache) <= 10
    assert [normalizer.word_stems(w) for w in words] == first


def test_the_shared_pipeline_is_built_anew_once_its_vocabulary_has_learned_too_many_words(monkeypatch):
    monkeypatch.setattr(pipeline, "MAX_LEARNED_WORDS", 50)
    pipeline._shared_nlp.cache_clear()
    nlp = get_nlp()
    known = len(nlp.vocab)
    doc = next(process(nlp, [" ".join(f"zq{i}word" for i in range(80))]))
    assert len(nlp.vocab) >= known + 80
    fresh = get_nlp()
    assert fresh is not nlp and len(fresh.vocab) == known
    assert doc[79].text == "zq79word"  # a document keeps the vocabulary it was made with
    assert get_nlp() is fresh
    pipeline._shared_nlp.cache_clear()
