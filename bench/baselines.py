"""Baselines the engine benchmark measures in the same run as the product, on the same charts.

- :class:`NotebookBaseline`: the "notebook baseline" (TF-IDF word 1-2 grams, sublinear tf, ``min_df=2``, then a
  one-vs-rest liblinear logistic regression with ``C=10``). It ranks every training label by ``predict_proba``
  and selects the codes with probability >= 0.5. It can only suggest codes seen in training.
- :class:`DictionaryBaseline`: the product's own dictionary (:class:`suggest.model.dictionary.TermIndex` over the
  whole code set and the curated lexicon) with no learning: every matched code, ranked by the best coverage of
  its terms in one sentence; selected when a term matched whole (coverage >= 0.99).

Both return :class:`suggest.metrics.RankedPrediction` lists, the input of
:func:`suggest.metrics.evaluate_predictions`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from suggest.metrics import RankedPrediction

#: Default depth of every ranked list (the product's ``suggest evaluate`` ranks 20 codes too).
DEFAULT_TOP_K = 20


class NotebookBaseline:
    """TF-IDF + one-vs-rest logistic regression, as in the exploratory notebook.

    Parameters
    ----------
    C : float
        Inverse regularisation strength of each logistic regression.
    threshold : float
        Probability at or above which a code is selected.
    n_jobs : int
        Parallel fits of the one-vs-rest models.

    Attributes
    ----------
    classes_ : list of str
        The training labels (the only codes this baseline can suggest).
    """

    def __init__(self, C: float = 10.0, threshold: float = 0.5, n_jobs: int = 1):
        self.C = C
        self.threshold = threshold
        self.n_jobs = n_jobs

    def fit(self, texts: Sequence[str], codes: Sequence[Sequence[str]]) -> NotebookBaseline:
        """Learn from charts and their gold codes; returns ``self``."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.preprocessing import MultiLabelBinarizer

        self.vectorizer_ = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
        X = self.vectorizer_.fit_transform(list(texts))
        self.binarizer_ = MultiLabelBinarizer()
        Y = self.binarizer_.fit_transform([list(dict.fromkeys(c)) for c in codes])
        self.classes_ = [str(c) for c in self.binarizer_.classes_]
        self.classifier_ = OneVsRestClassifier(
            LogisticRegression(C=self.C, solver="liblinear", dual=True), n_jobs=self.n_jobs
        ).fit(X, Y)
        return self

    def predict(self, texts: Sequence[str], top_k: int = DEFAULT_TOP_K) -> list[RankedPrediction]:
        """The ``top_k`` most probable training labels per chart, best first."""
        proba = self.classifier_.predict_proba(self.vectorizer_.transform(list(texts)))
        k = min(top_k, proba.shape[1])
        top = np.argpartition(-proba, k - 1, axis=1)[:, :k]
        out = []
        for row, cols in zip(proba, top, strict=True):
            cols = cols[np.argsort(-row[cols], kind="stable")]
            confs = [float(row[j]) for j in cols]
            out.append(RankedPrediction([self.classes_[j] for j in cols], confs, [c >= self.threshold for c in confs]))
        return out


class DictionaryBaseline:
    """The product's dictionary matches alone: codes ranked by the best coverage of one of their terms.

    Parameters
    ----------
    min_coverage, max_window_factor : float
        Passed to :class:`~suggest.model.dictionary.TermIndex` (defaults: the product's config).
    select_coverage : float
        Coverage at or above which a code is selected (0.99: a term matched whole).
    """

    def __init__(self, min_coverage: float | None = None, max_window_factor: float | None = None,
                 select_coverage: float = 0.99):
        self.min_coverage = min_coverage
        self.max_window_factor = max_window_factor
        self.select_coverage = select_coverage

    def fit(self) -> DictionaryBaseline:
        """Index the code set's terms (nothing is learned from charts); returns ``self``."""
        from suggest.codeset import load_codeset
        from suggest.model.config import SuggesterConfig
        from suggest.model.dictionary import TermIndex
        from suggest.pipeline.normalize import default_normalizer

        defaults = SuggesterConfig()
        min_coverage = self.min_coverage if self.min_coverage is not None else defaults.min_coverage
        window = self.max_window_factor if self.max_window_factor is not None else defaults.max_window_factor
        self.index_ = TermIndex(min_coverage, window).fit(load_codeset(), default_normalizer())
        return self

    def predict(self, texts: Sequence[str], top_k: int = DEFAULT_TOP_K) -> list[RankedPrediction]:
        """Matched codes per chart, best coverage first (ties: more mentions, then longer terms)."""
        from suggest.model.analysis import analyse_docs
        from suggest.pipeline import get_nlp

        out = []
        for analysis in analyse_docs(get_nlp(), self.index_, list(texts)):
            best: dict[str, tuple[float, int, int]] = {}
            for asserted in analysis.mentions:
                m = asserted.mention
                cov, count, stems = best.get(m.code, (0.0, 0, 0))
                best[m.code] = (max(cov, m.coverage), count + 1, max(stems, m.n_stems))
            ranked = sorted(best.items(), key=lambda item: (-item[1][0], -item[1][1], -item[1][2], item[0]))[:top_k]
            confs = [min(score[0], 1.0) for _, score in ranked]
            out.append(RankedPrediction([code for code, _ in ranked], confs,
                                        [c >= self.select_coverage for c in confs]))
        return out
