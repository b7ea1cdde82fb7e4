"""Phrases learned from coded charts: the wording that stands for a code in the training data.

A coder's charts (and the chart store's feedback export, which ``suggest train`` reads) say things the code
set and the lexicon do not ("pale" for R23.1 pallor, "smoker" for F17.2-). The miner counts, over the training
charts, the runs of one to ``max_words`` content words of each sentence, and keeps for a code the runs that occur
in at least ``min_charts`` of its charts, in at least ``min_recall`` of them, and rarely without it (more than
``min_precision`` of the charts holding the run carry the code); the shortest such runs first, and no run that
only adds words to one already kept. The phrases are matched like lexicon terms
(:class:`~suggest.model.dictionary.TermIndex`, kind ``"learned"``), so they bring evidence spans as well as a
candidate. :meth:`suggest.Suggester.fit` mines them per cross-fitting fold, so the ranker learns how far a learned
phrase can be trusted on charts it was not learned from.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

from sklearn.base import BaseEstimator

from suggest.pipeline.normalize import Normalizer, default_normalizer

_SENTENCE_BREAK = re.compile(r"[.;:!?\n()\[\]]")


class PhraseMiner(BaseEstimator):
    """Learns (code, phrase) pairs from charts and their codes.

    Parameters
    ----------
    min_charts : int
        Fewest charts of a code a phrase must occur in.
    min_precision : float
        The share of the charts holding the phrase that carry the code must be above this.
    min_recall : float
        Smallest share of the code's charts that hold the phrase.
    max_words : int
        Longest phrase, in content words.
    max_per_code : int
        Most phrases kept per code (best first).
    max_chart_share : float
        Phrases found in more than this share of all charts are boilerplate, never a code's wording.
    """

    def __init__(self, min_charts: int = 2, min_precision: float = 0.5, min_recall: float = 0.2, max_words: int = 3,
                 max_per_code: int = 3, max_chart_share: float = 0.2):
        self.min_charts = min_charts
        self.min_precision = min_precision
        self.min_recall = min_recall
        self.max_words = max_words
        self.max_per_code = max_per_code
        self.max_chart_share = max_chart_share

    def fit(self, texts: list[str], codes: list[list[str]], normalizer: Normalizer | None = None) -> PhraseMiner:
        """Mine the phrases of every code with at least ``min_charts`` charts; ``phrases_`` is [(code, phrase)]."""
        return self.fit_runs(self.chart_runs(texts, normalizer), codes)

    def fit_runs(self, chart_runs: list[dict[tuple[str, ...], str]], codes: list[list[str]]) -> PhraseMiner:
        """:meth:`fit` on the charts' :meth:`chart_runs`, computed once (cross-fitting mines subsets of them)."""
        n_charts = len(chart_runs)
        chart_freq: Counter[tuple[str, ...]] = Counter(run for runs in chart_runs for run in runs)
        code_charts: Counter[str] = Counter(code for chart in codes for code in set(chart))
        wanted = {code for code, n in code_charts.items() if n >= self.min_charts}
        frequent = {run for run, n in chart_freq.items()
                    if n >= self.min_charts and n <= max(self.min_charts, self.max_chart_share * n_charts)}
        together: dict[str, Counter[tuple[str, ...]]] = defaultdict(Counter)
        surface: dict[tuple[str, ...], str] = {}
        for runs, chart in zip(chart_runs, codes, strict=True):
            kept = [run for run in runs if run in frequent]
            for run in kept:
                surface.setdefault(run, runs[run])
            for code in set(chart) & wanted:
                together[code].update(kept)
        phrases: list[tuple[str, str]] = []
        for code, counts in sorted(together.items()):
            scored = []
            for run, both in counts.items():
                precision, recall = both / chart_freq[run], both / code_charts[code]
                if both >= self.min_charts and precision > self.min_precision and recall >= self.min_recall:
                    scored.append((-precision * recall, len(run), run))
            scored.sort()
            chosen: list[tuple[str, ...]] = []
            for _, _, run in scored:
                if any(set(shorter) <= set(run) for shorter in chosen):
                    continue
                chosen.append(run)
                if len(chosen) == self.max_per_code:
                    break
            phrases.extend((code, surface[run]) for run in chosen)
        self.phrases_ = phrases
        return self

    def chart_runs(self, texts: list[str], normalizer: Normalizer | None = None) -> list[dict[tuple[str, ...], str]]:
        """Per text, its distinct runs of 1..max_words content stems of a sentence, with the words they came from."""
        normalizer = normalizer or default_normalizer()
        return [self._runs(normalizer, text) for text in texts]

    def _runs(self, normalizer: Normalizer, text: str) -> dict[tuple[str, ...], str]:
        runs: dict[tuple[str, ...], str] = {}
        for sentence in _SENTENCE_BREAK.split(text):
            words = [(stem, sentence[start:end]) for stem, start, end in normalizer.iter_stems(sentence)]
            for i in range(len(words)):
                for j in range(i + 1, min(i + self.max_words, len(words)) + 1):
                    stems = tuple(s for s, _ in words[i:j])
                    if any(len(s) >= 4 and not s.isdigit() for s in stems):
                        runs.setdefault(stems, " ".join(w for _, w in words[i:j]))
        return runs
