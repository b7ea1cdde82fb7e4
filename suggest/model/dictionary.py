"""Dictionary candidates: every code of the release, matched through its terms.

A code's terms are its description, its inclusion terms, their rewrites into clinicians' wording
(``resources/term_variants.json``) and the curated lexicon phrases (``resources/lexicon.tsv``). Terms and text
are normalised the same way (:mod:`suggest.pipeline.normalize`). A term matches a sentence by IDF-weighted
coverage of its stems, so word order, inflection and small gaps do not matter;
the evidence is the smallest window of the sentence holding the matched words.
Codes that need a 7th character are indexed under their stem (``S72.001``); a match gets the character its
sentence documents (:class:`suggest.encoder.SeventhCharacterResolver`: ``S72.001D`` for "f/u, healing well"),
else the stem's default (``A``, initial encounter, where there is one).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from suggest.encoder.seventh import SeventhCharacterResolver
from suggest.pipeline.normalize import Normalizer, Word, remember
from suggest.pipeline.resources import load_json, load_lexicon

#: Packs the matched-word count beside the matched weight in one product (weights stay far below it).
_COUNT_UNIT = 1000.0

#: Words that are numbers in code terms ("type one diabetes"); digits are numbers too.
_NUMBER_WORDS = frozenset({"one", "two", "three", "four", "five", "i", "ii", "iii", "iv"})
#: Words a code-set term needs the chart's sentence to say: "Other ..." is the residual category (its specific
#: forms come through inclusion terms and the lexicon, else "diabetes" is E13 too), and "... with unspecified
#: complications" (E11.8) needs a complication named, else "type 2 diabetes" is E11.8 as much as E11.9.
#: A term that names a neoplasm needs the sentence to name one, in any words ("carcinoma", "malignancy",
#: "adenocarcinoma", "tumor"), whatever kind of term it is: its site alone ("right lower lobe infiltrate") is no cancer,
#: nor is a "mass" there (the Alphabetic Index sends a lung mass to R91.8).
#: (what marks such a term, the chart words that satisfy it, a pattern of more such words, whether lexicon
#: phrases need it too); a term's needs are a bit mask over these.
_NEEDED_WORDS: tuple[tuple[re.Pattern, frozenset[str], re.Pattern | None, bool], ...] = (
    (re.compile(r"\bother\b", re.IGNORECASE), frozenset({"other"}), None, False),
    (re.compile(r"\bunspecified complications?\b", re.IGNORECASE),
     frozenset({"complication", "complications", "complicated"}), None, False),
    (re.compile(r"\b(?:cancers?|carcinomas?|malignan\w*|neoplasms?|\w*carcinoma\w*|\w+(?:sarcoma|blastoma|lymphoma|"
                r"melanoma|myeloma|leukemia|leukaemia)s?|lymphomas?|melanomas?|myelomas?|leuka?emias?|sarcomas?|"
                r"metasta\w*)\b", re.IGNORECASE),
     frozenset({"ca", "mets", "tumor", "tumors", "tumour", "tumours"}),
     re.compile(r"(?:cancer|carcinoma|malignan|neoplas|metasta|oma$|omas$|emia$|emias$)"), True),
    # "Subsequent" is a stop word (the 7th-character resolver reads it), but a subsequent myocardial infarction
    # (I22: within four weeks of another) is a code of its own: "NSTEMI" is I21.4, not I22.2.
    (re.compile(r"^subsequent\b|\breinfarction\b", re.IGNORECASE), frozenset({"subsequent", "reinfarction", "recurrent"}),
     None, True),
)

#: Term kinds, in the order of their feature index.
TERM_KINDS = ("description", "inclusion", "lexicon", "learned")

#: The last index of a whole code set with the shipped material: [code set, normaliser, fitted attributes].
_CODESET_INDEX: list = []


@dataclass(slots=True)
class Mention:
    """One dictionary match of a code in a sentence."""

    code: str
    start: int          # character offsets of the evidence window in the text
    end: int
    sentence: int
    coverage: float     # IDF-weighted share of the term's stems found in the sentence
    window_gap: int     # words inside the window that are not part of the term
    n_stems: int        # content stems in the matched term
    kind: int           # index into TERM_KINDS
    n_matched: int = 0  # the term's stems found in the window: how much of the chart's wording the code explains


def load_term_variants() -> list[tuple[re.Pattern, str]]:
    """The rewrites of code-set terms into clinicians' wording shipped in ``resources/term_variants.json``."""
    try:
        rules = load_json("term_variants.json")["variants"]
    except FileNotFoundError:
        return []
    return [(re.compile(pattern, re.IGNORECASE), replacement) for pattern, replacement in rules]


class TermIndex:
    """Sparse term-by-stem matrix over the code set, with the stems' IDF weights.

    Parameters
    ----------
    min_coverage : float
        Smallest weighted coverage for a term to count as matched in a sentence.
    max_window_factor : float
        A match whose evidence window is longer than ``factor * n_stems + 3`` words is dropped.
    """

    def __init__(self, min_coverage: float = 0.6, max_window_factor: float = 2.5):
        self.min_coverage = min_coverage
        self.max_window_factor = max_window_factor

    def fit(self, codeset, normalizer: Normalizer, extra_terms: list[tuple[str, str, str]] | None = None, *,
            lexicon: bool = True, codeset_terms: bool = True) -> TermIndex:
        """Index every code's terms (plus, unless ``lexicon`` is off, their clinicians' variants and the curated
        lexicon) and ``extra_terms`` as (code, phrase, kind); with ``codeset_terms`` off, ``extra_terms`` only.

        The index of the code set and the shipped material alone depends on nothing a fit learns: it is built once
        per process for a code set and normaliser and shared (read-only) by later fits, so that cross-validation and
        grid searches do not rebuild it for every fold."""
        self.__dict__.pop("_word_ids_cache", None)
        shared = not extra_terms and lexicon and codeset_terms
        if shared and _CODESET_INDEX and _CODESET_INDEX[0] is codeset and _CODESET_INDEX[1] is normalizer:
            self.__dict__.update(_CODESET_INDEX[2])
            return self
        self._build(codeset, normalizer, extra_terms, lexicon=lexicon, codeset_terms=codeset_terms)
        if shared:
            fitted = {k: v for k, v in self.__dict__.items() if k.endswith("_")}
            _CODESET_INDEX[:] = [codeset, normalizer, fitted]
        return self

    def _build(self, codeset, normalizer: Normalizer, extra_terms: list[tuple[str, str, str]] | None, *,
               lexicon: bool, codeset_terms: bool) -> None:
        self.normalizer_ = normalizer
        kind_index = {k: i for i, k in enumerate(TERM_KINDS)}
        entries: list[tuple[str, str, int]] = []
        variants = load_term_variants() if lexicon else []
        for code, term, kind in codeset.all_terms() if codeset_terms else ():
            entries.append((code, term, kind_index.get(kind, 0)))
            rewritten, applied = term, 0
            for pattern, replacement in variants:
                if pattern.search(term):
                    entries.append((code, pattern.sub(replacement, term), kind_index.get(kind, 0)))
                if pattern.search(rewritten):
                    rewritten, applied = pattern.sub(replacement, rewritten), applied + 1
            if applied > 1:  # every rewrite in turn: the clinician's shorthand of a long term
                entries.append((code, rewritten, kind_index.get(kind, 0)))
        for code, phrase in load_lexicon() if lexicon and codeset_terms else []:
            entries.append((code, phrase, kind_index["lexicon"]))
        for code, phrase, kind in extra_terms or []:
            entries.append((code, phrase, kind_index.get(kind, kind_index["learned"])))

        vocab: dict[str, int] = {}
        rows, cols = [], []
        term_code, term_kind, term_stems = [], [], []
        term_negated: list[tuple[tuple[int, ...], ...]] = []
        term_needs: list[int] = []
        seen: set[tuple[str, tuple[str, ...]]] = set()
        code_ids: dict[str, int] = {}
        codes: list[str] = []
        for code, term, kind in entries:
            target = self._target_code(codeset, code)
            if target is None:
                continue
            stems, negated = self._polar_stems(normalizer, term)
            needs = sum(1 << i for i, (marks, _, _, every_kind) in enumerate(_NEEDED_WORDS)
                        if (every_kind or kind <= kind_index["inclusion"]) and marks.search(term))
            if not stems or (target, stems, negated, needs) in seen:
                continue
            seen.add((target, stems, negated, needs))
            term_needs.append(needs)
            t = len(term_code)
            if target not in code_ids:
                code_ids[target] = len(codes)
                codes.append(target)
            term_code.append(code_ids[target])
            term_kind.append(kind)
            term_stems.append([vocab.setdefault(s, len(vocab)) for s in stems])
            term_negated.append(tuple(tuple(vocab.setdefault(s, len(vocab)) for s in g) for g in negated))
            rows.extend([t] * len(stems))
            cols.extend(term_stems[-1])
        n_terms, n_vocab = len(term_code), len(vocab)
        binary = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n_terms, n_vocab))
        df = np.asarray(binary.sum(axis=0)).ravel()
        self.idf_ = np.log((n_terms + 1) / (df + 1)).astype(np.float32) + 1.0
        self.term_weight_ = np.asarray(binary.multiply(self.idf_[None, :]).sum(axis=1)).ravel()
        packed = binary.multiply(self.idf_[None, :]) + binary * _COUNT_UNIT
        self.packed_t_ = sp.csr_matrix(packed, dtype=np.float64).T.tocsr()
        n_stems = np.diff(binary.tocsr().indptr)
        self.term_n_stems_ = n_stems.astype(np.int32)
        # Short terms must match whole: one everyday word ("attack", "bp") is not a mention.
        self.term_min_words_ = np.where(n_stems <= 2, n_stems, np.maximum(2, np.ceil(0.6 * n_stems))).astype(np.float32)
        self.vocab_ = vocab
        self.codes_ = codes
        self.term_code_ = np.asarray(term_code, dtype=np.int32)
        self.term_kind_ = np.asarray(term_kind, dtype=np.int8)
        self.term_stems_ = term_stems
        # What a code's own description and inclusion terms rule out ("without coma") holds for every
        # phrase of the code: a lexicon phrase for E11.649 is contradicted by "with coma" too.
        code_negated: list[set[tuple[int, ...]]] = [set() for _ in codes]
        for t, negated in enumerate(term_negated):
            if negated and term_kind[t] <= kind_index["inclusion"]:
                code_negated[term_code[t]].update(negated)
        self.code_negated_ = [tuple(sorted(n)) for n in code_negated]
        self.term_needs_ = np.array(term_needs, dtype=np.int8)
        # Numbers are not optional words: "type 1" is not "type 2", "stage 3" not "stage 4"; nor are the
        # qualifiers of required_qualifiers.json: "kidney function is normal" is no "decreased kidney function".
        required = {v for word in load_json("required_qualifiers.json")["words"]
                    for stem in normalizer.stems(word) if (v := vocab.get(stem)) is not None}
        number_ids = {v for s, v in vocab.items() if s.isdigit() or s in _NUMBER_WORDS} | required
        self.term_numbers_ = [tuple(v for v in stems if v in number_ids) for stems in term_stems]
        # The terms any of these three rules can drop: the only ones the matcher checks one by one.
        self.term_conditional_ = ((self.term_needs_ > 0) | np.array([bool(n) for n in self.term_numbers_], dtype=bool)
                                  | np.array([bool(self.code_negated_[c]) for c in term_code], dtype=bool))
        self.seventh_ = SeventhCharacterResolver()
        self.seventh_stems_ = frozenset(
            c for c in codes if (info := codeset.get(c)) is not None and not info.billable
            and any(codeset.seventh_character_code(c, char) for char in info.seventh_characters)
        )
        self._pack()

    def _pack(self) -> None:
        """Move the per-term and per-code Python lists, tuples and dicts into numpy arrays (CSR-style: ``*_ptr_``
        bounds each row's slice of ``*_ids_``). A request reads these; as Python objects their reference counts are
        written, which copies the pages holding them into every worker of a pre-forking server. Models saved before
        are converted when loaded."""
        if "vocab_" not in self.__dict__:
            return
        stems = sorted(self.vocab_, key=self.vocab_.__getitem__)
        self.stems_ = np.array(stems, dtype=str)
        self.stem_order_ = np.argsort(self.stems_, kind="stable").astype(np.int32)
        self.stems_sorted_ = self.stems_[self.stem_order_]
        self.term_stem_ptr_, self.term_stem_ids_ = _ragged(self.term_stems_)
        self.term_number_ptr_, self.term_number_ids_ = _ragged(self.term_numbers_)
        self.code_group_ptr_ = _bounds(self.code_negated_)
        self.group_stem_ptr_, self.group_stem_ids_ = _ragged([g for groups in self.code_negated_ for g in groups])
        codes = self.codes_
        self.codes_ = np.array(codes, dtype=str)
        self.code_is_seventh_stem_ = np.array([c in self.seventh_stems_ for c in codes], dtype=bool)
        for name in ("vocab_", "term_stems_", "term_numbers_", "code_negated_", "seventh_stems_"):
            del self.__dict__[name]
        self._index_opposites()

    def _index_opposites(self) -> None:
        """Per term, the qualifiers it says, itself or through its code's description (a lexicon phrase "upper
        extremity dvt" of an "acute embolism and thrombosis" code is acute too), and the words that contradict them
        (``resources/opposite_qualifiers.json``): ``term_opposite_ptr_`` bounds each term's rows of
        ``term_opposite_own_`` (the term's qualifier stem) and ``term_opposite_other_`` (its opposite, which the term
        does not also say)."""
        data = load_json("opposite_qualifiers.json")
        self.opposite_reach_ = int(data["reach_words"])
        n_terms = len(self.term_stem_ptr_) - 1
        term_of = np.repeat(np.arange(n_terms, dtype=np.int64), np.diff(self.term_stem_ptr_))
        stems = self.term_stem_ids_.astype(np.int64)
        said: dict[int, np.ndarray] = {}
        rows: list[np.ndarray] = []
        for pair in data["pairs"]:
            ids = [self._word_ids(word) for word in pair]
            if any(len(i) != 1 or i[0] < 0 for i in ids):
                continue
            a, b = ids[0][0], ids[1][0]
            for own, other in ((a, b), (b, a)):
                for v in (own, other):
                    if v not in said:
                        with_word = np.unique(term_of[stems == v])
                        described = np.unique(self.term_code_[with_word[self.term_kind_[with_word] == 0]])
                        said[v] = np.union1d(with_word, np.flatnonzero(np.isin(self.term_code_, described)))
                terms = np.setdiff1d(said[own], said[other], assume_unique=True)
                rows.append(np.stack([terms, np.full(terms.size, own), np.full(terms.size, other)], axis=1))
        table = np.concatenate(rows) if rows else np.zeros((0, 3), dtype=np.int64)
        table = table[np.argsort(table[:, 0], kind="stable")]
        self.term_opposite_ptr_ = np.searchsorted(table[:, 0], np.arange(n_terms + 1)).astype(np.int64)
        self.term_opposite_own_ = table[:, 1].astype(np.int32)
        self.term_opposite_other_ = table[:, 2].astype(np.int32)

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._pack()
        if "term_opposite_ptr_" not in self.__dict__:  # models saved before the opposite qualifiers
            self._index_opposites()

    @staticmethod
    def _target_code(codeset, code: str) -> str | None:
        """The code a term stands for: itself, or the stem of a 7th-character code (a lexicon phrase for
        ``S52.501A`` names the fracture, not the encounter); stems are resolved at match time."""
        info = codeset.get(code)
        if info is None:
            return None
        stem_code = codeset.seventh_character_stem(info.code)
        return stem_code if stem_code and stem_code != info.code and stem_code in codeset else info.code

    @staticmethod
    def _polar_stems(normalizer: Normalizer, term: str) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
        """A term's content stems it asserts, and the phrases it rules out ("without acute cor pulmonale")."""
        positive: dict[str, None] = {}
        groups: dict[int, dict[str, None]] = {}
        for m, group in normalizer.polar_words(term):
            for s in normalizer.word_stems(m.key):
                if group:
                    groups.setdefault(group, {})[s] = None
                else:
                    positive[s] = None
        return tuple(positive), tuple(tuple(g) for g in groups.values() if g)

    def _word_ids(self, word: str) -> tuple[int, ...]:
        """Vocabulary ids of a lowercase word's content stems (-1 for stems no term uses)."""
        return tuple(self._stem_id(stem) for stem in self.normalizer_.word_stems(word))

    def _stem_id(self, stem: str) -> int:
        i = int(self.stems_sorted_.searchsorted(stem))
        return int(self.stem_order_[i]) if i < len(self.stems_sorted_) and self.stems_sorted_[i] == stem else -1

    def _term_stems(self, term: int) -> list[int]:
        return self.term_stem_ids_[self.term_stem_ptr_[term]: self.term_stem_ptr_[term + 1]].tolist()

    def _needed_said(self, word: str) -> tuple[int, ...]:
        """The needed words (indexes into ``_NEEDED_WORDS``) a lowercase word says, itself or through what it
        stands for ("losartan": other antihypertensive drugs)."""
        expansion = self.normalizer_.expansions.get(word, ())
        return tuple(i for i, (_, said, pattern, _) in enumerate(_NEEDED_WORDS)
                     if word in said or not said.isdisjoint(expansion)
                     or (pattern is not None and any(pattern.search(w) for w in (word, *expansion))))

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_word_ids_cache", None)
        return state

    def match(self, text: str, sentence_starts: list[int],
              polar_words: Sequence[tuple[Word, int]] | None = None) -> list[Mention]:
        """All term matches in ``text``; ``sentence_starts`` are the sentences' first characters. ``polar_words``
        are ``self.normalizer_.polar_words(text)`` when the caller has read them already."""
        ids_cache = self.__dict__.setdefault("_word_ids_cache", {})
        ids_list: list[int] = []
        starts: list[int] = []
        ends: list[int] = []
        # A word stands for one stem or, as an abbreviation, several at the same span.
        needed_starts: list[list[int]] = [[] for _ in _NEEDED_WORDS]
        for m, ruled_out in self.normalizer_.polar_words(text) if polar_words is None else polar_words:
            word = m.key
            cached = ids_cache.get(word)
            if cached is None:
                cached = remember(ids_cache, word, (self._word_ids(word), self._needed_said(word)))
            ids, said = cached
            if not ruled_out:  # "without complications" says no complication: E11.8 needs one named
                for i in said:
                    needed_starts[i].append(m.start)
            if ids and not ruled_out:  # words ruled out ("without coma") are no evidence for a term
                start, end = m.start, m.end
                for v in ids:
                    ids_list.append(v)
                    starts.append(start)
                    ends.append(end)
        if not ids_list:
            return []
        tok_vocab = np.asarray(ids_list, dtype=np.int64)
        tok_start = np.asarray(starts, dtype=np.int64)
        tok_sent = np.maximum(np.searchsorted(np.asarray(sentence_starts, dtype=np.int64), tok_start, "right") - 1, 0)
        known = np.flatnonzero(tok_vocab >= 0)
        if known.size == 0:
            return []
        positions: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, s, v in zip(known.tolist(), tok_sent[known].tolist(), tok_vocab[known].tolist()):
            positions[(s, v)].append(i)
        n_sent = int(tok_sent.max()) + 1
        pairs = np.array(list(positions.keys()), dtype=np.int64)
        indicator = sp.csr_matrix(
            (np.ones(len(pairs), dtype=np.float32), (pairs[:, 0], pairs[:, 1])), shape=(n_sent, len(self.stems_))
        )
        # One sparse product gives, per (sentence, term), the matched weight plus 1000 x the matched word count.
        scores = (indicator @ self.packed_t_).tocoo()
        words = np.floor(scores.data / _COUNT_UNIT + 1e-3)
        coverage = (scores.data - words * _COUNT_UNIT) / self.term_weight_[scores.col]
        keep = np.flatnonzero(
            (coverage >= self.min_coverage - 1e-4) & (words >= self.term_min_words_[scores.col])
        )
        if keep.size == 0:
            return []
        to_check = np.flatnonzero(self.term_conditional_[scores.col[keep]])
        if to_check.size:
            bounds = np.asarray(sentence_starts, dtype=np.int64)
            needed_sentences = [set(np.maximum(np.searchsorted(bounds, found, "right") - 1, 0).tolist())
                                for found in needed_starts]
            contradicted = [j for j in to_check.tolist()
                            if self._contradicted(int(scores.row[keep[j]]), int(scores.col[keep[j]]), positions,
                                                  needed_sentences)]
        else:
            contradicted = []
        if contradicted:
            keep = np.delete(keep, contradicted)
            if keep.size == 0:
                return []
        sent_ids = scores.row[keep]
        term_ids = scores.col[keep]
        cov = np.minimum(coverage[keep], 1.0)
        code_ids = self.term_code_[term_ids]
        n_stems = self.term_n_stems_[term_ids]
        # Best term per (sentence, code): highest coverage, then the longest term. Coverage is compared to 4
        # decimals: float32 sums leave a full match of a long term at 0.9999996, which must not lose to a
        # one-word phrase of the same code at 1.0.
        order = np.lexsort((-n_stems, -np.round(cov, 4), code_ids, sent_ids))
        first = np.ones(order.size, dtype=bool)
        first[1:] = (sent_ids[order][1:] != sent_ids[order][:-1]) | (code_ids[order][1:] != code_ids[order][:-1])
        best: dict[tuple[int, int], Mention] = {}
        group_starts = np.flatnonzero(first).tolist()
        group_ends = group_starts[1:] + [order.size]
        ordered = order.tolist()
        opposite_ptr = self.term_opposite_ptr_
        for g, g_end in zip(group_starts, group_ends):
            # The code's best term, or its next best when a qualifier of the best is contradicted next to it.
            window = None
            for k in ordered[g:g_end]:
                s, t = int(sent_ids[k]), int(term_ids[k])
                stems = self._term_stems(t)
                window = _smallest_window([positions.get((s, v), []) for v in stems])
                # A drug's name reads as its class too ("lisinopril": an ACE inhibitor); alone, it is no mention of a
                # longer term that only shares those words ("ACE inhibitor side effect", "Adverse effect of ...").
                if window is not None and window[2] > 1 and starts[window[0]] == starts[window[1]] \
                        and cov[k] < 0.999 and self._reads_as_its_class(text[starts[window[0]]: ends[window[0]]]):
                    window = None
                    continue
                if window is None or opposite_ptr[t] == opposite_ptr[t + 1] \
                        or not self._opposed(s, t, window, positions):
                    break
                window = None
            if window is None:
                continue
            lo, hi, n_found = window
            span_words = hi - lo + 1
            if span_words > self.max_window_factor * len(stems) + 3:
                continue
            code_id = int(code_ids[k])
            best[(s, code_id)] = Mention(
                code=str(self.codes_[code_id]),
                start=starts[lo],
                end=ends[hi],
                sentence=s,
                coverage=float(cov[k]),
                window_gap=max(span_words - n_found, 0),
                n_stems=len(stems),
                kind=int(self.term_kind_[t]),
                n_matched=n_found,
            )
        self._resolve_seventh(text, sentence_starts,
                              [m for (_, code_id), m in best.items() if self.code_is_seventh_stem_[code_id]])
        mentions = sorted(best.values(), key=lambda m: (m.start, m.code))
        return mentions

    def _reads_as_its_class(self, word: str) -> bool:
        """Whether a word of the text reads as itself and more words: a drug and its class (``drug_classes.tsv``)."""
        key = word.lower()
        expansion = self.normalizer_.expansions.get(key, ())
        return len(expansion) > 1 and expansion[0] == key

    def _opposed(self, sentence: int, term: int, window: tuple[int, int, int], positions) -> bool:
        """Whether a qualifier of the term is contradicted next to its evidence window: the chart says the opposite
        ("chronic") there and the qualifier ("acute") nowhere in the sentence."""
        lo, hi = window[0] - self.opposite_reach_, window[1] + self.opposite_reach_
        for r in range(self.term_opposite_ptr_[term], self.term_opposite_ptr_[term + 1]):
            if (sentence, int(self.term_opposite_own_[r])) in positions:
                continue
            if any(lo <= p <= hi for p in positions.get((sentence, int(self.term_opposite_other_[r])), ())):
                return True
        return False

    def _contradicted(self, sentence: int, term: int, positions, needed_sentences: list[set[int]]) -> bool:
        """Whether the sentence rules the term out: a word the term needs (``_NEEDED_WORDS``) not said in it;
        a number of the term missing ("type 1 diabetes" in "type 2 diabetes"); a phrase the code rules out
        ("without coma") asserted in full, unless the matched term itself says it ("white coat hypertension"
        for R03.0)."""
        needs = int(self.term_needs_[term])
        if needs and any(needs >> i & 1 and sentence not in found for i, found in enumerate(needed_sentences)):
            return True
        numbers = self.term_number_ids_[self.term_number_ptr_[term]: self.term_number_ptr_[term + 1]].tolist()
        if any((sentence, v) not in positions for v in numbers):
            return True
        code = self.term_code_[term]
        groups = range(self.code_group_ptr_[code], self.code_group_ptr_[code + 1])
        if not groups:
            return False
        own = set(self._term_stems(term))
        for g in groups:
            group = self.group_stem_ids_[self.group_stem_ptr_[g]: self.group_stem_ptr_[g + 1]].tolist()
            if all((sentence, v) in positions for v in group) and not set(group) <= own:
                return True
        return False

    def _resolve_seventh(self, text: str, sentence_starts: list[int], stems: list[Mention]) -> None:
        """Give the mentions ``stems`` of 7th-character stems the character their sentence documents (in place), and a
        poisoning the intent its sentence documents first ("intentional sertraline overdose": T43.222).

        The context is the sentence without the mention's own words ("dry" in "dry macular degeneration"
        names the condition, not its stage)."""
        if not stems:
            return
        from suggest.codeset import load_codeset
        from suggest.encoder.intent import default_intent_resolver

        codeset = load_codeset()
        intents = default_intent_resolver()
        contexts: dict[tuple[int, int, int], frozenset[str]] = {}
        sentence_intents: dict[int, str | None] = {}
        for m in stems:
            start = sentence_starts[m.sentence] if m.sentence < len(sentence_starts) else 0
            end = sentence_starts[m.sentence + 1] if m.sentence + 1 < len(sentence_starts) else len(text)
            if intents.applies(m.code):
                if m.sentence not in sentence_intents:
                    sentence_intents[m.sentence] = intents.intent(text[start:end])
                m.code = intents.with_intent(codeset, m.code, sentence_intents[m.sentence])
            key = (m.sentence, m.start, m.end)
            if key not in contexts:
                contexts[key] = self.seventh_.context(text[start:m.start] + " ; " + text[m.end:end])
            resolved = self.seventh_.resolve(codeset, m.code, contexts[key])
            if resolved is not None:
                m.code = resolved.code


def _bounds(rows: list) -> np.ndarray:
    """CSR-style bounds of ``rows``: row ``i`` is ``[bounds[i], bounds[i + 1])`` of their concatenation."""
    bounds = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=bounds[1:])
    return bounds


def _ragged(rows: list) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ints as CSR-style bounds and their concatenation."""
    return _bounds(rows), np.array([v for r in rows for v in r], dtype=np.int32)


def _smallest_window(position_lists: list[list[int]]) -> tuple[int, int, int] | None:
    """Smallest token window holding one position of every non-empty list (each ascending): (lo, hi, n_lists_found)."""
    lists = [p for p in position_lists if p]
    if not lists:
        return None
    if len(lists) == 1:
        return lists[0][0], lists[0][0], 1
    if all(len(p) == 1 for p in lists):  # the common case: each word once in the sentence
        firsts = [p[0] for p in lists]
        return min(firsts), max(firsts), len(lists)
    events = sorted((pos, i) for i, plist in enumerate(lists) for pos in plist)
    need = len(lists)
    counts = [0] * need
    have = 0
    best = None
    left = 0
    for right, (pos, i) in enumerate(events):
        if counts[i] == 0:
            have += 1
        counts[i] += 1
        while have == need:
            lo_pos, lo_i = events[left]
            if best is None or pos - lo_pos < best[1] - best[0]:
                best = (lo_pos, pos)
            counts[lo_i] -= 1
            if counts[lo_i] == 0:
                have -= 1
            left += 1
    assert best is not None
    return best[0], best[1], need
