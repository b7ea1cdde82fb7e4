"""Candidate generation and the feature row of each (chart, candidate code) pair."""

from __future__ import annotations

import bisect
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from suggest.codeset import CodeOutline
from suggest.model.analysis import AssertedMention, ChartAnalysis
from suggest.model.dictionary import Mention

FEATURES = (
    "clf_score", "clf_rank", "knn_score",
    "dict_best_coverage", "dict_best_affirmed_coverage", "dict_n_mentions", "dict_n_affirmed",
    "frac_negated", "frac_family", "frac_historical", "frac_hypothetical",
    "best_kind", "best_n_stems", "best_window_gap",
    "in_assessment", "in_chief_complaint", "in_hpi", "in_past_history", "in_family_history",
    "in_ros_or_exam", "in_results", "first_position", "ambiguity",
    "log_prior", "log_prior_category", "log_prior_block", "log_prior_chapter", "specialty_log_ratio",
    "billable", "code_length", "has_seventh", "ancestor_coverage", "descendant_coverage",
    "sibling_coverage", "category_clf_max", "n_same_category", "log_sentences", "any_lexicon", "from_category",
    "n_matched_margin", "overlap_matched_margin",
)
_F = {name: i for i, name in enumerate(FEATURES)}
_SECTION_FEATURE = {
    "assessment_and_plan": "in_assessment",
    "chief_complaint": "in_chief_complaint",
    "history_of_present_illness": "in_hpi",
    "past_medical_history": "in_past_history",
    "past_surgical_history": "in_past_history",
    "family_history": "in_family_history",
    "review_of_systems": "in_ros_or_exam",
    "physical_exam": "in_ros_or_exam",
    "results": "in_results",
}


@dataclass(slots=True)
class CodeStats:
    """Label statistics of the training charts: code priors, backed off to the code's category, block and
    chapter (so a code never seen in training still gets the prior of its family), per specialty too."""

    n_charts: int
    counts: dict[str, int]
    specialty_charts: dict[str, int] = field(default_factory=dict)
    specialty_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    group_counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_labels(cls, codes: list[list[str]], specialties: list[str | None], codeset=None) -> CodeStats:
        """Count charts per code, per specialty, and (with ``codeset``) per category, block and chapter."""
        counts: dict[str, int] = defaultdict(int)
        groups: dict[str, int] = defaultdict(int)
        spec_charts: dict[str, int] = defaultdict(int)
        spec_counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for chart_codes, spec in zip(codes, specialties, strict=True):
            distinct = set(chart_codes)
            for c in distinct:
                counts[c] += 1
            if codeset is not None:
                for key in {key for c in distinct for key in _group_keys(codeset, c)}:
                    groups[key] += 1
            if spec:
                spec_charts[spec] += 1
                for c in distinct:
                    spec_counts[spec][c] += 1
        return cls(len(codes), dict(counts), dict(spec_charts), {s: dict(v) for s, v in spec_counts.items()},
                   dict(groups))

    def log_prior(self, code: str) -> float:
        return math.log((self.counts.get(code, 0) + 0.5) / (self.n_charts + 1.0))

    def log_group_priors(self, codeset, code: str) -> tuple[float, float, float]:
        """log P(a chart has a code of this category / block / chapter)."""
        keys = _group_keys(codeset, code)
        if len(keys) < 3:
            keys = keys + ("",) * (3 - len(keys))
        return tuple(math.log((self.group_counts.get(k, 0) + 0.5) / (self.n_charts + 1.0)) for k in keys)  # type: ignore[return-value]

    def specialty_log_ratio(self, code: str, specialty: str | None) -> float:
        """log P(code | specialty) - log P(code); 0 when no specialty or an unknown one."""
        if not specialty or specialty not in self.specialty_charts:
            return 0.0
        n_spec = self.specialty_charts[specialty]
        p_spec = (self.specialty_counts[specialty].get(code, 0) + 0.5) / (n_spec + 1.0)
        return math.log(p_spec) - self.log_prior(code)


class CodeFeatures:
    """The features of a code that do not depend on the chart: its priors (code, category, block, chapter) and its
    code-set facts, kept per code (a chart has ~180 candidates, and a server sees the same few thousand codes again
    and again). Bound to one :class:`CodeStats` and one code set."""

    def __init__(self, stats: CodeStats, codeset, max_cached: int = 10_000):
        self.stats = stats
        self.codeset = codeset
        self.max_cached = max_cached
        self._cache: dict[str, tuple[float, ...]] = {}

    def holds(self, stats: CodeStats, codeset) -> bool:
        """Whether these are the features of ``stats`` and ``codeset``."""
        return self.stats is stats and self.codeset is codeset

    def of(self, code: str) -> tuple[float, ...]:
        """``(log_prior, log_prior_category, log_prior_block, log_prior_chapter, billable, code_length,
        has_seventh)`` of ``code``."""
        found = self._cache.get(code)
        if found is None:
            facts = _facts(self.codeset, code)
            found = (self.stats.log_prior(code), *self.stats.log_group_priors(self.codeset, code),
                     _SMALL_FLOATS[facts.billable], _small_float(facts.length), _SMALL_FLOATS[facts.has_seventh])
            if len(self._cache) >= self.max_cached:  # a server's worker keeps its memory bounded: start over
                self._cache.clear()
            self._cache[code] = found
        return found


#: One float object per small number, shared by the kept features of every code (a code's length, 0/1 facts).
_SMALL_FLOATS = tuple(float(i) for i in range(16))


def _small_float(value: int) -> float:
    return _SMALL_FLOATS[value] if 0 <= value < len(_SMALL_FLOATS) else float(value)


_STATIC = ("log_prior", "log_prior_category", "log_prior_block", "log_prior_chapter", "billable", "code_length",
           "has_seventh")


@dataclass(slots=True)
class CandidateRows:
    """The candidates of one chart, their feature matrix and their evidence."""

    codes: list[str]
    X: np.ndarray
    mentions: dict[str, list[AssertedMention]]
    sources: dict[str, list[str]]


def _group_keys(codeset, code: str) -> tuple[str, ...]:
    """Keys of the code's category, block and chapter (just the category for a code not in the code set)."""
    outline = _facts(codeset, code).outline
    if outline is None:
        return ("cat:" + code[:3],)
    return ("cat:" + code[:3], "block:" + outline.block, "chapter:" + outline.chapter)


@dataclass(frozen=True, slots=True)
class _CodeFacts:
    outline: CodeOutline | None
    billable: bool
    length: int
    has_seventh: bool
    ancestors: tuple[str, ...]
    is_seventh_code: bool  # a code with its 7th character (S52.501A), not its stem


_FACTS: dict[tuple[int, str], _CodeFacts] = {}


def _facts(codeset, code: str) -> _CodeFacts:
    """Static code-set facts of a code, cached (the code set is immutable)."""
    key = (id(codeset), code)
    facts = _FACTS.get(key)
    if facts is None:
        outline = codeset.outline(code)
        facts = _CodeFacts(
            outline,
            bool(outline and outline.billable),
            len(code.replace(".", "")),
            bool(outline and outline.takes_seventh),
            tuple(codeset.ancestors(code)) if outline else (),
            codeset.seventh_character_stem(code) not in (None, code),
        )
        if len(_FACTS) < 400_000:
            _FACTS[key] = facts
    return facts


#: Siblings are added only from parents with at most this many billable children (laterality, encounter, type).
_MAX_SIBLINGS = 8
_SIBLINGS: dict[tuple[int, str], tuple[str, ...]] = {}
_SIDE = re.compile(r"\b(right|left|bilateral|unspecified side)\b", re.IGNORECASE)


def _siblings(codeset, code: str) -> tuple[str, ...]:
    """The codes that differ from ``code`` in its side or its 7th character only, when there are few (cached)."""
    key = (id(codeset), code)
    found = _SIBLINGS.get(key)
    if found is None:
        stem = codeset.seventh_character_stem(code)
        if stem is not None and stem != code:  # S52.501A: the same 7th character on the stem's siblings (sides)
            char = code[-1]
            parent = codeset.parent(stem)
            kids = [codeset.seventh_character_code(c, char) for c in codeset.children(parent) if c != stem] \
                if parent else []
            kids = [c for c in kids if c]
        elif _SIDE.search(codeset.description(code) or ""):  # M25.561 right knee: the other sides
            parent = codeset.parent(code)
            kids = [c for c in codeset.children(parent) if c != code and codeset.is_billable(c)] if parent else []
        else:
            kids = []
        found = tuple(kids) if len(kids) < _MAX_SIBLINGS else ()
        if len(_SIBLINGS) < 200_000:
            _SIBLINGS[key] = found
    return found


def _has_seventh(codeset, code: str) -> bool:
    """Whether ``code`` is a 7th-character code."""
    return _facts(codeset, code).is_seventh_code


def _same_seventh(codeset, child: str, mentions: list[AssertedMention],
                  seventh_mentions: dict[str, list[AssertedMention]]) -> str:
    """``child`` (a category's default code) with the 7th character that the chart gave the codes read from the same
    or overlapping words ("Penetrating wound of orbit, sequela": S05.40XS, not the default S05.40XA).
    ``seventh_mentions`` are the mentions of the chart's 7th-character codes."""
    stem = codeset.seventh_character_stem(child)
    if stem is None or stem == child:
        return child
    spans = [(am.mention.start, am.mention.end) for am in mentions]
    chars = {other[-1] for other, ms in seventh_mentions.items()
             if other != child and any(s < am.mention.end and am.mention.start < e for am in ms for s, e in spans)}
    if len(chars) != 1:
        return child
    return codeset.seventh_character_code(stem, chars.pop()) or child


def label_form(codeset, code: str) -> str:
    """``code`` as labels without the 7th character give it (S42.402A -> S42.402, T81.4XXA -> T81.4XX)."""
    return code[:-1] if _has_seventh(codeset, code) else code


def labels_keep_seventh(codeset, labels: Iterable[str]) -> bool:
    """Whether ``labels`` give codes that take a 7th character with it (the code set's way; CodiEsp's labels
    leave it out: S42.402, T81.4XX). True when the labels have no such code."""
    with_seventh = without = 0
    for label in labels:
        if _has_seventh(codeset, label):
            with_seventh += 1
        elif any(_has_seventh(codeset, label + char) for char in "A0"):
            without += 1
    return with_seventh >= without


def _without_seventh(codeset, by_code: dict[str, list[AssertedMention]], sources: dict[str, list[str]]) -> set[str]:
    """Merge each 7th-character candidate into its form without the 7th character (in place); those forms."""
    forms = set()
    for code in [c for c in sources if _has_seventh(codeset, c)]:
        form = label_form(codeset, code)
        merged = sources.setdefault(form, [])
        merged.extend(s for s in sources.pop(code) if s not in merged)
        if code in by_code:
            by_code[form] = sorted(by_code.get(form, []) + by_code.pop(code), key=lambda am: am.mention.start)
        forms.add(form)
    return forms


def build_candidates(
    analysis: ChartAnalysis,
    clf_scores: dict[str, float],
    knn_scores: dict[str, float],
    stats: CodeStats,
    codeset,
    *,
    label_set: frozenset[str],
    specialty: str | None,
    classifier_candidates: int,
    knn_candidates: int,
    max_candidates: int,
    prefer_billable: bool,
    code_features: CodeFeatures | None = None,
    seventh_in_labels: bool = True,
) -> CandidateRows:
    """Candidates of one chart (dictionary ∪ classifier top ∪ neighbours ∪ labelled ancestors) and their features.

    ``code_features`` keeps the chart-independent features of codes across charts (it must hold ``stats`` and
    ``codeset``); without it they are computed for this chart alone. Without ``seventh_in_labels`` (the model's
    training labels leave out the 7th character, as CodiEsp's do), a 7th-character code is a candidate in that
    form: S42.402A as S42.402, T81.4XXA as T81.4XX, with the mentions of all its 7th characters."""
    if code_features is None or not code_features.holds(stats, codeset):
        code_features = CodeFeatures(stats, codeset)
    by_code: dict[str, list[AssertedMention]] = defaultdict(list)
    for am in analysis.mentions:
        by_code[am.mention.code].append(am)
    sources: dict[str, list[str]] = {code: ["dictionary"] for code in by_code}
    # A documented category with nothing more specific goes to its unspecified child ("pneumonia" -> J18.9).
    seventh_mentions = {code: ms for code, ms in by_code.items() if _has_seventh(codeset, code)}
    for code in list(by_code):
        child = codeset.default_child(code) if not _facts(codeset, code).billable else None
        if child is not None:
            child = _same_seventh(codeset, child, by_code[code], seventh_mentions)
        if child is not None and child not in by_code:
            by_code[child] = list(by_code[code])
            sources[child] = ["dictionary", "hierarchy"]
            if _has_seventh(codeset, child):
                seventh_mentions[child] = by_code[child]
    # Siblings: a code matched in full brings the codes for the other sides (for an injury, with the same
    # 7th character), as the Tabular List shows them to a coder: the side is where text and code most often part.
    for code, ms in list(by_code.items()):
        if "hierarchy" in sources[code] or max(am.mention.coverage for am in ms) < 0.999:
            continue
        for sibling in _siblings(codeset, code):
            if sibling not in sources:
                sources[sibling] = ["hierarchy"]
    ranked_clf = sorted(clf_scores.items(), key=lambda kv: -kv[1])
    clf_rank = {code: r for r, (code, _) in enumerate(ranked_clf)}
    for code, _ in ranked_clf[:classifier_candidates]:
        sources.setdefault(code, []).append("classifier")
    for code, _ in sorted(knn_scores.items(), key=lambda kv: -kv[1])[:knn_candidates]:
        src = sources.setdefault(code, [])
        if "classifier" not in src:
            src.append("classifier")
    label_forms = set() if seventh_in_labels else _without_seventh(codeset, by_code, sources)
    best_cov = {code: max(am.mention.coverage for am in ms) for code, ms in by_code.items()}
    # The most specific code is the one whose terms account for most of the chart's words ("displaced fracture
    # of base of fifth metacarpal, right hand" over "... unspecified metacarpal"): a coder codes to the detail.
    best_matched = {code: float(max(am.mention.n_matched for am in ms)) for code, ms in by_code.items()}
    # Hierarchy: a labelled ancestor of a dictionary code (CodiEsp codes some categories), and
    # the best coverage among each ancestor's matched descendants.
    descendant_best: dict[str, float] = {}
    for code, cov in best_cov.items():
        for anc in _facts(codeset, code).ancestors:
            if cov > descendant_best.get(anc, 0.0):
                descendant_best[anc] = cov
            if anc in label_set:
                src = sources.setdefault(anc, [])
                if "hierarchy" not in src:
                    src.append("hierarchy")
    if prefer_billable:
        for code in list(sources):
            if code not in label_set and code not in label_forms and not _facts(codeset, code).billable:
                del sources[code]
    codes = list(sources)
    if len(codes) > max_candidates:
        codes.sort(key=lambda c: -(best_cov.get(c, 0.0) + clf_scores.get(c, 0.0) + knn_scores.get(c, 0.0)))
        codes = codes[:max_candidates]
    cat_members: dict[str, list[str]] = defaultdict(list)
    for c in codes:
        cat_members[c[:3]].append(c)

    n_chars = max(analysis.n_chars, 1)
    span_codes: dict[tuple[int, int], int] = defaultdict(int)
    for am in analysis.mentions:
        span_codes[(am.mention.start, am.mention.end)] += 1
    rivals = _Rivals(analysis.mentions)
    log_sentences = math.log1p(analysis.n_sentences)
    sibling_cov = _best_two_by_category(cat_members, best_cov)
    sibling_clf = _best_two_by_category(cat_members, clf_scores)
    sibling_matched = _best_two_by_category(cat_members, best_matched)
    F = _F
    n_features = len(FEATURES)
    static_columns = [F[name] for name in _STATIC]
    covered = best_cov.keys()
    rows: list[list[float]] = []
    # Rows are plain lists filled by index and converted once: numpy item assignment costs far more.
    for code in codes:
        row = [0.0] * n_features
        facts = _facts(codeset, code)
        row[F["clf_score"]] = clf_scores.get(code, -1.0)
        row[F["clf_rank"]] = min(clf_rank.get(code, 200), 200)
        row[F["knn_score"]] = knn_scores.get(code, 0.0)
        ms = by_code.get(code)
        if ms:
            best = max(ms, key=lambda am: (am.mention.coverage, am.mention.n_stems))
            n_aff = 0
            best_aff = 0.0
            neg = fam = hist = hypo = 0
            first = n_chars
            for am in ms:
                flags = am.flags
                if not (flags["negated"] or flags["family"] or flags["historical"] or flags["hypothetical"]
                        or flags["uncertain"]):
                    n_aff += 1
                    if am.mention.coverage > best_aff:
                        best_aff = am.mention.coverage
                neg += flags["negated"]
                fam += flags["family"]
                hist += flags["historical"]
                hypo += flags["hypothetical"] or flags["uncertain"]  # frac_hypothetical: not (yet) present
                feat = _SECTION_FEATURE.get(am.section)
                if feat:
                    row[F[feat]] = 1.0
                if am.mention.kind == 2:
                    row[F["any_lexicon"]] = 1.0
                if am.mention.start < first:
                    first = am.mention.start
            n = len(ms)
            row[F["dict_best_coverage"]] = best.mention.coverage
            row[F["dict_best_affirmed_coverage"]] = best_aff
            row[F["dict_n_mentions"]] = n
            row[F["dict_n_affirmed"]] = n_aff
            row[F["frac_negated"]] = neg / n
            row[F["frac_family"]] = fam / n
            row[F["frac_historical"]] = hist / n
            row[F["frac_hypothetical"]] = hypo / n
            row[F["best_kind"]] = best.mention.kind
            row[F["best_n_stems"]] = best.mention.n_stems
            row[F["best_window_gap"]] = best.mention.window_gap
            row[F["first_position"]] = first / n_chars
            row[F["ambiguity"]] = span_codes[(best.mention.start, best.mention.end)]
            matched_code = best.mention.code
            row[F["from_category"]] = float(matched_code != code and (
                seventh_in_labels or label_form(codeset, matched_code) != code))
            # Against the other codes read from the same words ("fx" alone is T14.8, "5th MC base fx" S62.31-).
            b = best.mention
            rival = rivals.of(b)
            if rival is not None:  # a lone mention is not more specific than anything
                row[F["overlap_matched_margin"]] = b.n_matched - rival
        else:
            row[F["best_kind"]] = -1
            row[F["first_position"]] = 1.0
        for column, value in zip(static_columns, code_features.of(code)):
            row[column] = value
        if specialty:
            row[F["specialty_log_ratio"]] = stats.specialty_log_ratio(code, specialty)
        if not covered.isdisjoint(facts.ancestors):
            row[F["ancestor_coverage"]] = max(best_cov.get(a, 0.0) for a in facts.ancestors)
        row[F["descendant_coverage"]] = descendant_best.get(code, 0.0)
        category = code[:3]
        n_siblings = len(cat_members[category]) - 1
        if n_siblings:
            row[F["sibling_coverage"]] = _best_other(sibling_cov[category], code)
            row[F["category_clf_max"]] = _best_other(sibling_clf[category], code)
            row[F["n_matched_margin"]] = best_matched.get(code, 0.0) - _best_other(sibling_matched[category], code)
        row[F["n_same_category"]] = n_siblings
        row[F["log_sentences"]] = log_sentences
        rows.append(row)
    X = np.array(rows, dtype=np.float32).reshape(len(codes), n_features)
    return CandidateRows(codes, X, {c: by_code.get(c, []) for c in codes}, {c: sources[c] for c in codes})


class _Rivals:
    """For a mention, the most words another code's mention matched over its words (``None`` when none overlaps
    it). Each sentence's mentions are sorted by start once, with its longest span, so that only those that can
    reach a mention are read; and each span keeps its best two overlapping mentions of different codes, which the
    codes read from the same words share."""

    def __init__(self, mentions: list[AssertedMention]):
        self._by_sentence: dict[int, list[tuple[int, int, str, int]]] = defaultdict(list)
        for am in mentions:
            m = am.mention
            self._by_sentence[m.sentence].append((m.start, m.end, m.code, m.n_matched))
        self._sorted: dict[int, tuple[list[int], list[tuple[int, int, str, int]], int]] = {}
        self._best: dict[tuple[int, int, int], tuple[int, str | None, int]] = {}

    def of(self, b: Mention) -> int | None:
        """The rival of ``b``, one of the mentions given."""
        key = (b.sentence, b.start, b.end)
        best = self._best.get(key)
        if best is None:
            best = self._best[key] = self._best_two(b)
        n1, code1, n2 = best
        n = n1 if code1 != b.code else n2
        return n if n >= 0 else None

    def _best_two(self, b: Mention) -> tuple[int, str | None, int]:
        """The most words matched over ``b``'s span, by which code, and the most by another code (-1: none)."""
        found = self._sorted.get(b.sentence)
        if found is None:
            entries = sorted(self._by_sentence[b.sentence])
            found = self._sorted[b.sentence] = ([e[0] for e in entries], entries, max(e[1] - e[0] for e in entries))
        starts, entries, longest = found
        lo, hi = bisect.bisect_left(starts, b.start - longest + 1), bisect.bisect_left(starts, b.end)
        n1, code1, n2 = -1, None, -1
        for _, end, code, n in entries[lo:hi]:
            if b.start < end:
                if n > n1:
                    if code != code1:
                        n2 = n1
                    n1, code1 = n, code
                elif n > n2 and code != code1:
                    n2 = n
        return n1, code1, n2


def _best_two_by_category(members: dict[str, list[str]], values: dict[str, float]) -> dict[str, tuple[str, float, float]]:
    """Per category: its member with the largest value, that value, and the second-largest value (0 when absent)."""
    out = {}
    for category, codes in members.items():
        best_code, best, second = "", float("-inf"), float("-inf")
        for c in codes:
            v = values.get(c, 0.0)
            if v > best:
                best_code, best, second = c, v, best
            elif v > second:
                second = v
        out[category] = (best_code, best, second)
    return out


def _best_other(best_two: tuple[str, float, float], code: str) -> float:
    """The largest value among the other members of ``code``'s category."""
    best_code, best, second = best_two
    return second if code == best_code else best
