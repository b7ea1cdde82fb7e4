"""Keyword search over code descriptions and inclusion terms (BM25 over an inverted index).

Documents are the terms of tabular codes (description + inclusion terms, one document each) and the clinical
phrases of the curated lexicon (``resources/lexicon.tsv``: "community acquired pneumonia" is J18.9); a code scores
as its best term, times a small prior for codes that are often coded (``resources/common_codes.tsv``). A query
word the index does not know is read as the indexed word nearest to it in spelling (rapidfuzz; "diabtes" is
"diabetes"). 7th-character codes are not indexed separately: a matching stem is turned into the 7th-character code
whose meaning matches the rest of the query.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from suggest.codeset.core import CodeSet, SearchHit

#: Bump when the index layout or scoring inputs change, so stale caches are rebuilt.
INDEX_VERSION = 4

_K1 = 1.2
_B = 0.75
_INCLUSION_WEIGHT = 0.95
_LEXICON_WEIGHT = 1.0
_BILLABLE_BONUS = 1.15
#: The most often coded code's terms weigh up to this much more (log of its rank among the common codes).
_COMMON_BONUS = 0.2
#: Spelling correction: words shorter than this are left alone (abbreviations), and a word is read as an indexed
#: word at most this many edits away (insertions, deletions, substitutions, transpositions), by the word's length.
_MIN_CORRECTED = 4
_MAX_EDITS = ((8, 1), (1000, 2))
_CODE_QUERY = re.compile(r"^[A-Z]\d[0-9A-Z](?:\.?[0-9A-Z]{1,4})?$")
_WORD = re.compile(r"[a-z0-9]+")
_STOP_WORDS = frozenset("a an and as at by for from in into is of on or the to".split())

#: Common clinical abbreviations expanded in queries (lowercase -> words of the code set).
ABBREVIATIONS: dict[str, str] = {
    "afib": "atrial fibrillation",
    "aki": "acute kidney failure",
    "bph": "benign prostatic hyperplasia",
    "cad": "atherosclerotic heart disease coronary artery",
    "chf": "congestive heart failure",
    "ckd": "chronic kidney disease",
    "copd": "chronic obstructive pulmonary disease",
    "cva": "cerebral infarction",
    "dm": "diabetes mellitus",
    "dm2": "type 2 diabetes mellitus",
    "dvt": "deep vein thrombosis",
    "esrd": "end stage renal disease",
    "gerd": "gastro esophageal reflux disease",
    "hld": "hyperlipidemia",
    "htn": "hypertension",
    "mi": "myocardial infarction",
    "osa": "obstructive sleep apnea",
    "pe": "pulmonary embolism",
    "t1dm": "type 1 diabetes mellitus",
    "t2dm": "type 2 diabetes mellitus",
    "uti": "urinary tract infection",
}


def fold(token: str) -> str:
    """Light suffix folding so that plurals and adjective forms meet ("diabetes"/"diabetic" -> "diabet")."""
    if len(token) <= 3 or token.isdigit():
        return token
    if token.endswith("ies") and len(token) > 4:
        token = token[:-3] + "y"
    elif token.endswith("sses"):
        token = token[:-2]
    elif token.endswith(("ches", "shes", "xes", "zes")):
        token = token[:-2]
    elif token.endswith("s") and not token.endswith(("ss", "us", "is")):
        token = token[:-1]
    for suffix in ("ic", "ia", "e"):
        if token.endswith(suffix) and len(token) - len(suffix) >= 4:
            return token[: -len(suffix)]
    return token


def tokenize(text: str) -> list[str]:
    """Lowercase words and numbers, stop words dropped, folded."""
    return [fold(w) for w in _WORD.findall(text.lower().replace("'s", "")) if w not in _STOP_WORDS]


#: Words that say little about a condition: they count less toward a term's length, so that
#: "Heart failure, unspecified" is as complete a match for "heart failure" as "Heart failure".
_LIGHT_WORDS = {"unspecified": 0.25, "nos": 0.25, "other": 0.5, "specified": 0.5, "organism": 0.5}
#: Phrases that mean "not specified" and weigh like "NOS".
_NOS_PHRASES = re.compile(r"\b(?:site not specified|not elsewhere classified|not otherwise specified)\b")
#: Weight of words in parentheses or brackets: ICD-10-CM's nonessential modifiers, which a term
#: does not need ("Hypertension (arterial) (benign) (essential)" is a full match for "hypertension").
_OPTIONAL_WEIGHT = 0.1
_BRACKETED = re.compile(r"[(\[][^)\]]*[)\]]")


def weighted_tokens(text: str) -> dict[str, float]:
    """Folded tokens of an indexed term with their length weight (1 for words that matter)."""
    lowered = _NOS_PHRASES.sub("nos", text.lower().replace("'s", ""))
    weights: dict[str, float] = {}
    for chunk, optional in ((_BRACKETED.sub(" ", lowered), False), (" ".join(_BRACKETED.findall(lowered)), True)):
        for word in _WORD.findall(chunk):
            if word in _STOP_WORDS:
                continue
            weight = _OPTIONAL_WEIGHT if optional else _LIGHT_WORDS.get(word, 1.0)
            token = fold(word)
            weights[token] = max(weights.get(token, 0.0), weight)
    return weights


def query_tokens(query: str) -> list[str]:
    """Tokens of a query, with abbreviations expanded, de-duplicated in order."""
    words: list[str] = []
    for word in _WORD.findall(query.lower()):
        expansion = ABBREVIATIONS.get(word)
        words.extend(expansion.split() if expansion else [word])
    seen: dict[str, None] = {}
    for word in words:
        if word not in _STOP_WORDS:
            seen.setdefault(fold(word), None)
    return list(seen)


@dataclass(slots=True)
class SearchIndex:
    """Inverted index: ``postings[token] = (start, end)`` into the parallel ``doc_ids``/``weights`` arrays."""

    doc_code: list[str]
    doc_term: list[str]
    doc_weight: np.ndarray  # float32: kind weight x billable bonus
    doc_length: np.ndarray  # float32: sum of the length weights of the doc's distinct tokens
    postings: dict[str, tuple[int, int]]
    idf: dict[str, float]
    doc_ids: np.ndarray  # int32
    weights: np.ndarray  # float32: BM25 term weight without idf
    length_weights: np.ndarray  # float32: the token's share of the doc length (see ``weighted_tokens``)
    vocabulary: list[str]  # the indexed tokens, most frequent first (spelling correction picks the first nearest)


def _lexicon_terms(codeset: CodeSet):
    """``(code, phrase, "lexicon")`` for the curated lexicon's phrases of the codes of ``codeset``."""
    from suggest.pipeline.resources import load_lexicon

    for code, phrase in load_lexicon():
        if code in codeset._nodes:
            yield code, phrase, "lexicon"


def _common_priors(codeset: CodeSet) -> dict[str, float]:
    """code -> 1 for the most often coded code down to about 0 for the last of ``common_codes.tsv``."""
    from suggest.pipeline.resources import load_common_ranks

    ranks = load_common_ranks()
    scale = math.log(len(ranks) + 1) if ranks else 1.0
    return {code: 1 - math.log(rank) / scale for code, rank in ranks.items() if code in codeset._nodes}


_KIND_WEIGHT = {"description": 1.0, "inclusion": _INCLUSION_WEIGHT, "lexicon": _LEXICON_WEIGHT}


def build_index(codeset: CodeSet) -> SearchIndex:
    """Index every term of every tabular code of ``codeset``, and the lexicon's phrases of its codes."""
    doc_code: list[str] = []
    doc_term: list[str] = []
    doc_weight: list[float] = []
    doc_tokens: list[dict[str, float]] = []
    priors = _common_priors(codeset)
    for code, term, kind in itertools.chain(codeset.all_terms(), _lexicon_terms(codeset)):
        counts = weighted_tokens(term)
        if not counts:
            continue
        weight = _KIND_WEIGHT[kind] * (1 + _COMMON_BONUS * priors.get(code, 0.0))
        # 7th-character stems count as billable: they become billable codes in results.
        if codeset.is_billable(code) or codeset._nodes[code].seventh_allowed:
            weight *= _BILLABLE_BONUS
        doc_code.append(code)
        doc_term.append(term)
        doc_weight.append(weight)
        doc_tokens.append(counts)
    lengths = np.array([sum(c.values()) for c in doc_tokens], dtype=np.float32)
    average = float(lengths.mean()) if len(lengths) else 1.0
    by_token: dict[str, list[tuple[int, float, float]]] = {}
    for doc, counts in enumerate(doc_tokens):
        norm = _K1 * (1 - _B + _B * lengths[doc] / average)
        for token, share in counts.items():
            by_token.setdefault(token, []).append((doc, (_K1 + 1) / (1 + norm), share))
    postings: dict[str, tuple[int, int]] = {}
    idf: dict[str, float] = {}
    ids: list[int] = []
    weights: list[float] = []
    shares: list[float] = []
    n_docs = len(doc_tokens)
    for token, entries in by_token.items():
        postings[token] = (len(ids), len(ids) + len(entries))
        idf[token] = math.log(1 + (n_docs - len(entries) + 0.5) / (len(entries) + 0.5))
        for doc, weight, share in entries:
            ids.append(doc)
            weights.append(weight)
            shares.append(share)
    vocabulary = sorted(postings, key=lambda token: (postings[token][0] - postings[token][1], token))
    return SearchIndex(
        vocabulary=vocabulary,
        doc_code=doc_code,
        doc_term=doc_term,
        doc_weight=np.array(doc_weight, dtype=np.float32),
        doc_length=lengths,
        postings=postings,
        idf=idf,
        doc_ids=np.array(ids, dtype=np.int32),
        weights=np.array(weights, dtype=np.float32),
        length_weights=np.array(shares, dtype=np.float32),
    )


def search(codeset: CodeSet, index: SearchIndex, query: str, limit: int = 10, billable_only: bool = False) -> list[SearchHit]:
    """Rank codes for a free-text or code query (see :meth:`CodeSet.search`)."""
    from suggest.codeset.core import SearchHit

    if limit <= 0 or not query or not query.strip():
        return []
    code_hits = _code_query(codeset, query, limit, billable_only)
    if code_hits is not None:
        return code_hits
    tokens = [_spelled(index, t) for t in query_tokens(query)]
    known = [t for t in tokens if t in index.postings]
    if not known:
        return []
    max_idf = max(index.idf.values())
    total_idf = sum(index.idf.get(t, max_idf) for t in tokens)
    n_docs = len(index.doc_code)
    bm25 = np.zeros(n_docs, dtype=np.float32)
    covered = np.zeros(n_docs, dtype=np.float32)
    matched = np.zeros(n_docs, dtype=np.float32)
    for token in known:
        start, end = index.postings[token]
        ids = index.doc_ids[start:end]
        idf = index.idf[token]
        bm25[ids] += idf * index.weights[start:end]
        covered[ids] += idf
        matched[ids] += index.length_weights[start:end]
    coverage = covered / total_idf
    completeness = np.minimum(matched / np.maximum(index.doc_length, 0.25), 1.0)
    score = bm25 * (0.2 + 0.8 * coverage * coverage) * (0.8 + 0.2 * completeness) * index.doc_weight
    candidates = np.flatnonzero(score)
    order = candidates[np.argsort(-score[candidates], kind="stable")]

    hits: dict[str, SearchHit] = {}
    wanted = limit * 3
    for doc in order:
        code = index.doc_code[doc]
        term = index.doc_term[doc]
        value = float(score[doc])
        stem_chars = codeset._nodes[code].seventh_allowed
        if stem_chars:
            code, value, description = _pick_seventh(codeset, code, tokens, term, value, billable_only)
        else:
            if billable_only and not codeset.is_billable(code):
                continue
            description = codeset._nodes[code].description
        if code in hits:
            continue
        hits[code] = SearchHit(code=code, description=description, score=round(value, 4), matched_term=term)
        if len(hits) >= wanted:
            break
    ranked = sorted(hits.values(), key=lambda h: -h.score)
    return ranked[:limit]


def _spelled(index: SearchIndex, token: str) -> str:
    """``token``, or the indexed token nearest to it in spelling when the index does not know it (the most frequent
    of the nearest); unchanged when none is close enough."""
    if token in index.postings or len(token) < _MIN_CORRECTED or token.isdigit():
        return token
    from rapidfuzz import process
    from rapidfuzz.distance import OSA

    edits = next(n for length, n in _MAX_EDITS if len(token) <= length)
    nearest = process.extract(token, index.vocabulary, scorer=OSA.distance, score_cutoff=edits, limit=None)
    if not nearest:
        return token
    best = min(distance for _, distance, _ in nearest)
    return min((position, choice) for choice, distance, position in nearest if distance == best)[1]


def _pick_seventh(
    codeset: CodeSet, stem: str, tokens: list[str], term: str, value: float, billable_only: bool
) -> tuple[str, float, str]:
    """Choose the 7th character whose meaning best covers the query words the term did not."""
    node = codeset._nodes[stem]
    rest = set(tokens) - set(tokenize(term))
    definitions = codeset._parsed.seventh_defs[node.seventh]
    best_char, best_overlap = "", 0
    for char in node.seventh_allowed:
        overlap = len(rest & set(tokenize(definitions[char])))
        if overlap > best_overlap:
            best_char, best_overlap = char, overlap
    if not best_char:
        if not billable_only:
            return stem, value, node.description
        best_char = node.seventh_allowed[0]
    code = codeset._with_seventh(stem, best_char)
    return code, value * (1 + 0.1 * best_overlap), f"{node.description}, {definitions[best_char]}"


def _code_query(codeset: CodeSet, query: str, limit: int, billable_only: bool) -> list[SearchHit] | None:
    """Hits for a query that looks like a code, None for a text query."""
    from suggest.codeset.core import SearchHit

    text = query.strip().upper()
    if not _CODE_QUERY.match(text):
        return None
    code = codeset.normalize(text)
    if code in codeset:
        listed = [code] if not billable_only or codeset.is_billable(code) else []
        listed += [c for c in codeset.billable_descendants(code, limit + 1) if c != code]
        return [
            SearchHit(code=c, description=codeset.description(c) or "", score=100.0 if c == code else 50.0, matched_term=c)
            for c in listed[:limit]
        ]
    near = [c for c in codeset.near_matches(code, limit) if not billable_only or codeset.is_billable(c)]
    if not near:
        return None
    return [
        SearchHit(code=c, description=codeset.description(c) or "", score=10.0, matched_term=code) for c in near
    ]
