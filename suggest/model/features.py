"""Candidate generation and the feature row of each (chart, candidate code) pair."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from suggest.model.analysis import AssertedMention, ChartAnalysis

FEATURES = (
    "clf_score", "clf_rank", "knn_score",
    "dict_best_coverage", "dict_best_affirmed_coverage", "dict_n_mentions", "dict_n_affirmed",
    "frac_negated", "frac_family", "frac_historical", "frac_hypothetical",
    "best_kind", "best_n_stems", "best_window_gap",
    "in_assessment", "in_chief_complaint", "in_hpi", "in_past_history", "in_family_history",
    "in_ros_or_exam", "in_results", "first_position", "ambiguity",
    "log_prior", "seen_in_training", "specialty_log_ratio",
    "billable", "code_length", "has_seventh", "ancestor_coverage", "descendant_coverage",
    "sibling_coverage", "category_clf_max", "n_same_category", "log_sentences", "any_lexicon",
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
    """Label statistics of the training charts: code priors, per specialty too."""

    n_charts: int
    counts: dict[str, int]
    specialty_charts: dict[str, int] = field(default_factory=dict)
    specialty_counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def from_labels(cls, codes: list[list[str]], specialties: list[str | None]) -> CodeStats:
        counts: dict[str, int] = defaultdict(int)
        spec_charts: dict[str, int] = defaultdict(int)
        spec_counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for chart_codes, spec in zip(codes, specialties, strict=True):
            for c in set(chart_codes):
                counts[c] += 1
            if spec:
                spec_charts[spec] += 1
                for c in set(chart_codes):
                    spec_counts[spec][c] += 1
        return cls(len(codes), dict(counts), dict(spec_charts), {s: dict(v) for s, v in spec_counts.items()})

    def log_prior(self, code: str) -> float:
        return math.log((self.counts.get(code, 0) + 0.5) / (self.n_charts + 1.0))

    def specialty_log_ratio(self, code: str, specialty: str | None) -> float:
        """log P(code | specialty) - log P(code); 0 when no specialty or an unknown one."""
        if not specialty or specialty not in self.specialty_charts:
            return 0.0
        n_spec = self.specialty_charts[specialty]
        p_spec = (self.specialty_counts[specialty].get(code, 0) + 0.5) / (n_spec + 1.0)
        return math.log(p_spec) - self.log_prior(code)


@dataclass(slots=True)
class CandidateRows:
    """The candidates of one chart, their feature matrix and their evidence."""

    codes: list[str]
    X: np.ndarray
    mentions: dict[str, list[AssertedMention]]
    sources: dict[str, list[str]]


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
) -> CandidateRows:
    """Candidates of one chart (dictionary ∪ classifier top ∪ neighbours ∪ labelled ancestors) and their features."""
    by_code: dict[str, list[AssertedMention]] = defaultdict(list)
    for am in analysis.mentions:
        by_code[am.mention.code].append(am)
    sources: dict[str, list[str]] = defaultdict(list)
    for code in by_code:
        sources[code].append("dictionary")
    ranked_clf = sorted(clf_scores.items(), key=lambda kv: -kv[1])
    clf_rank = {code: r for r, (code, _) in enumerate(ranked_clf)}
    for code, _ in ranked_clf[:classifier_candidates]:
        sources[code].append("classifier")
    for code, _ in sorted(knn_scores.items(), key=lambda kv: -kv[1])[:knn_candidates]:
        if "classifier" not in sources[code]:
            sources[code].append("classifier")
    # Hierarchy: a labelled ancestor of a dictionary code (CodiEsp codes some categories).
    best_cov = {code: max(am.mention.coverage for am in ms) for code, ms in by_code.items()}
    for code in list(by_code):
        for anc in codeset.ancestors(code) if code in codeset else []:
            if anc in label_set:
                sources[anc].append("hierarchy")
    infos = {code: codeset.get(code) for code in sources}
    if prefer_billable:
        for code in list(sources):
            info = infos[code]
            if code not in label_set and (info is None or not info.billable):
                del sources[code]
    codes = list(sources)
    if len(codes) > max_candidates:
        codes.sort(key=lambda c: -(best_cov.get(c, 0.0) + clf_scores.get(c, 0.0) + knn_scores.get(c, 0.0)))
        codes = codes[:max_candidates]
    # Hierarchy agreement among candidates.
    ancestor_lists = {c: (codeset.ancestors(c) if infos.get(c) else []) for c in codes}
    category_of = {c: c[:3] for c in codes}
    cat_members: dict[str, list[str]] = defaultdict(list)
    for c in codes:
        cat_members[category_of[c]].append(c)
    descendant_best: dict[str, float] = defaultdict(float)
    for code, cov in best_cov.items():
        for anc in codeset.ancestors(code) if code in codeset else []:
            descendant_best[anc] = max(descendant_best[anc], cov)

    X = np.zeros((len(codes), len(FEATURES)), dtype=np.float32)
    n_chars = max(analysis.n_chars, 1)
    span_codes: dict[tuple[int, int], set[str]] = defaultdict(set)
    for am in analysis.mentions:
        span_codes[(am.mention.start, am.mention.end)].add(am.mention.code)
    log_sentences = math.log1p(analysis.n_sentences)
    for i, code in enumerate(codes):
        row = X[i]
        info = infos.get(code)
        row[_F["clf_score"]] = clf_scores.get(code, -1.0)
        row[_F["clf_rank"]] = min(clf_rank.get(code, 200), 200)
        row[_F["knn_score"]] = knn_scores.get(code, 0.0)
        ms = by_code.get(code, [])
        if ms:
            best = max(ms, key=lambda am: (am.mention.coverage, am.mention.n_stems))
            affirmed = [am for am in ms if am.affirmed]
            row[_F["dict_best_coverage"]] = best.mention.coverage
            row[_F["dict_best_affirmed_coverage"]] = max((am.mention.coverage for am in affirmed), default=0.0)
            row[_F["dict_n_mentions"]] = len(ms)
            row[_F["dict_n_affirmed"]] = len(affirmed)
            for flag in ("negated", "family", "historical", "hypothetical"):
                row[_F[f"frac_{flag}"]] = sum(am.flags[flag] for am in ms) / len(ms)
            row[_F["best_kind"]] = best.mention.kind
            row[_F["best_n_stems"]] = best.mention.n_stems
            row[_F["best_window_gap"]] = best.mention.window_gap
            for am in ms:
                feat = _SECTION_FEATURE.get(am.section)
                if feat:
                    row[_F[feat]] = 1.0
                if am.mention.kind == 2:
                    row[_F["any_lexicon"]] = 1.0
            row[_F["first_position"]] = min(am.mention.start for am in ms) / n_chars
            row[_F["ambiguity"]] = len(span_codes[(best.mention.start, best.mention.end)])
        else:
            row[_F["best_kind"]] = -1
            row[_F["first_position"]] = 1.0
        row[_F["log_prior"]] = stats.log_prior(code)
        row[_F["seen_in_training"]] = float(code in label_set)
        row[_F["specialty_log_ratio"]] = stats.specialty_log_ratio(code, specialty)
        row[_F["billable"]] = float(bool(info and info.billable))
        row[_F["code_length"]] = len(code.replace(".", ""))
        row[_F["has_seventh"]] = float(bool(info and info.seventh_characters))
        row[_F["ancestor_coverage"]] = max((best_cov.get(a, 0.0) for a in ancestor_lists[code]), default=0.0)
        row[_F["descendant_coverage"]] = descendant_best.get(code, 0.0)
        siblings = [c for c in cat_members[category_of[code]] if c != code]
        row[_F["sibling_coverage"]] = max((best_cov.get(c, 0.0) for c in siblings), default=0.0)
        row[_F["category_clf_max"]] = max((clf_scores.get(c, 0.0) for c in siblings), default=0.0)
        row[_F["n_same_category"]] = len(siblings)
        row[_F["log_sentences"]] = log_sentences
    return CandidateRows(codes, X, {c: by_code.get(c, []) for c in codes}, {c: sources[c] for c in codes})
