"""Code edits of a coded chart: the pairs and codes a coder should not submit as they are.

The pairs are the coding engine's own data (``suggest.encoder.rules``: ``coding_rules.json``,
``integral_symptoms.json``, ``demographic_edits.json``), read here as checks on the codes a coder chose instead of
rules that select codes; ``resources/code_edits.json`` gives each finding its severity and holds the cues that make
a "use additional code" note apply. Findings:

- ``combination_conflict``: a code beside the combination code that includes it (I10 with I11.0, E11.9 with
  E11.22); ``combination_missing``: the parts of a combination coded apart (I10 with I50.9, no I11.0).
- ``unspecified_with_specific``: an unspecified code beside a specific code of the same condition (D64.9 with D50.9,
  E11.9 with any other E11 code); ``unspecified_same_subcategory`` for an "unspecified" code of the same subcategory.
- ``integral_symptom``: a symptom that is part of a coded diagnosis (R50.9 with J18.9).
- ``missing_companion``: a code whose curated companion is missing (E11.621 without an L97 site).
- ``demographics``: a code for the other sex or another age (O codes for a male, P codes for an adult).
- ``evidence_status``: a code whose only mentions in the text are negated, a relative's, hypothetical or past
  ("no evidence of pneumonia" for J18.9); the finding points at the mention.

>>> from suggest.code_edits import check_code_pairs
>>> [f.rule for f in check_code_pairs(["I10", "I11.0"], codeset)]  # doctest: +SKIP
['combination_conflict']
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from suggest.codeset.notes import CodeRef
from suggest.completeness import Finding
from suggest.encoder.patient import Patient
from suggest.encoder.rules import CodingRules
from suggest.encoder.rules import default_rules as default_coding_rules
from suggest.pipeline.resources import load_json


@dataclass(frozen=True, slots=True)
class CodeMention:
    """Where the text mentions a code, and the ConText statuses of the mention (``{"negated": True, ...}``)."""

    code: str
    start: int
    end: int
    flags: dict[str, bool]


def code_mentions(text: str, model) -> list[CodeMention]:
    """Every code the dictionary of a fitted ``Suggester`` finds in ``text``, with its span and ConText flags."""
    from suggest.model.analysis import analyse_docs
    from suggest.pipeline import get_nlp

    analysis = analyse_docs(get_nlp(), model.term_index_, [text], learned=getattr(model, "learned_index_", None))[0]
    return [CodeMention(am.mention.code, am.mention.start, am.mention.end,
                        {**am.flags, "family": am.flags.get("family", False) or am.section == "family_history"})
            for am in analysis.mentions]


@dataclass(frozen=True)
class _Family:
    name: str
    refs: tuple[CodeRef, ...]
    cue: re.Pattern


class CodeEdits:
    """The edit settings (``resources/code_edits.json``) over the engine's coding rules. Use :func:`default_edits`."""

    def __init__(self, data: dict, rules: CodingRules):
        self.rules = rules
        self.severity: dict[str, str] = dict(data["severity"])
        self.statuses: list[tuple[str, str, str]] = [tuple(s) for s in data["evidence"]["statuses"]]
        self.families: list[_Family] = []
        for family in data["conditional_notes"]["families"]:
            refs = tuple(CodeRef.parse(c) for c in family["codes"])
            words = list(family["cues"])
            if family.get("drug_names_from_long_term_drugs"):
                words += [re.escape(d.name) for d in rules.drugs.values() if any(r.matches(d.code) for r in refs)]
            cue = re.compile(r"(?<![\w])(?:" + "|".join(words) + r")(?![\w])", re.IGNORECASE)
            self.families.append(_Family(family["name"], refs, cue))

    def unmentioned_families(self, text: str | None, chosen: Sequence[str]) -> list[_Family]:
        """The families of conditional notes that do not apply: the text never names them and no chosen code is one
        of theirs (with no text, every family applies)."""
        if text is None:
            return []
        return [f for f in self.families
                if not f.cue.search(text) and not any(r.matches(c) for r in f.refs for c in chosen)]


@functools.lru_cache(maxsize=1)
def default_edits() -> CodeEdits:
    """The edits shipped in ``suggest/resources`` over the engine's default coding rules."""
    return CodeEdits(load_json("code_edits.json"), default_coding_rules())


def _matches(refs: Iterable[CodeRef], code: str) -> bool:
    return any(r.matches(code) for r in refs)


def _description(codeset, code: str) -> str:
    return codeset.description(code) or ""


def check_code_pairs(codes: Sequence[str], codeset, edits: CodeEdits | None = None,
                     flagged: Iterable[tuple[str, str]] = ()) -> list[Finding]:
    """Combination, unspecified-beside-specific, integral-symptom and companion findings among valid ``codes``; a
    pair in ``flagged`` (``(code, other)``, either way round: an Excludes1 conflict, say) is not reported again."""
    edits = edits or default_edits()
    rules, sev = edits.rules, edits.severity
    out: list[Finding] = []
    seen = {frozenset(p) for p in flagged}

    def pair(rule: str, severity: str, code: str, other: str, message: str) -> None:
        if frozenset((code, other)) not in seen:
            seen.add(frozenset((code, other)))
            out.append(Finding(rule, severity, message, code=code))  # type: ignore[arg-type]

    # The combination code's parts coded beside it; parts coded apart without it.
    explained: set[str] = set()
    for combo in rules.combinations:
        if combo.code is not None and combo.code in codes:
            for code in codes:
                if code != combo.code and _matches(combo.drop, code):
                    pair("combination_conflict", sev["combination_conflict"], code, combo.code,
                         f"{code} and {combo.code} should not be coded together: {combo.code} includes it. {combo.why}")
            continue
        groups = [[c for c in codes if _matches(refs, c)] for refs in combo.when]
        if not all(groups):
            continue
        parts = [g[0] for g in groups]
        if combo.code is None:
            for code in codes:
                if _matches(combo.drop, code) and code != parts[0]:
                    pair("combination_conflict", sev["combination_conflict"], code, parts[0],
                         f"{code} should not be coded beside {parts[0]}: {combo.why}")
        elif not explained.intersection(parts):
            explained.update(parts)
            out.append(Finding("combination_missing", sev["combination_missing"],  # type: ignore[arg-type]
                               f"{' and '.join(parts)} coded apart: {combo.why}. Use {combo.code} "
                               f"({_description(codeset, combo.code)}).", code=parts[0]))
    # An unspecified code beside a specific one of the same condition.
    for code in codes:
        specific = next(((p, o) for p in rules.unspecified_pairs if _matches(p.first, code)
                         for o in codes if o != code and _matches(p.second, o)), None)
        if specific is not None:
            p, other = specific
            pair("unspecified_with_specific", sev["unspecified_with_specific"], code, other,
                 f"{code} beside {other}: {p.why}; code only {other}.")
        elif rules.same_subcategory and "unspecified" in _description(codeset, code).lower():
            other = next((o for o in codes if o != code and len(o) > 5 and o[:5] == code[:5]
                          and "unspecified" not in _description(codeset, o).lower()), None)
            if other is not None:
                pair("unspecified_same_subcategory", sev["unspecified_same_subcategory"], code, other,
                     f"{code} ({_description(codeset, code)}) beside the more specific {other}: code only the "
                     "specific one (I.A.9).")
    # A symptom that is part of a coded diagnosis.
    for code in codes:
        for row in rules.integral_rows_for(code):
            diagnosis = next((o for o in codes if o != code and _matches(row.first, o)
                              and not (row.skip_seventh and codeset.seventh_character_stem(o)
                                       and o[-1] in row.skip_seventh)), None)
            if diagnosis is not None:
                pair("integral_symptom", sev["integral_symptom"], code, diagnosis,
                     f"{code} is part of {diagnosis} {_description(codeset, diagnosis)}: {row.why} (I.B.5).")
                break
    # Curated companions (use additional code) that are missing.
    for code in codes:
        for companion in rules.companions:
            if _matches(companion.first, code) and not any(_matches(companion.second, o) for o in codes):
                wanted = ", ".join(str(r) for r in companion.second)
                out.append(Finding("missing_companion", sev["missing_companion"],  # type: ignore[arg-type]
                                   f"{code} without {wanted}: {companion.why}.", code=code))
    return out


def companion_refs(code: str, edits: CodeEdits | None = None) -> list[CodeRef]:
    """The code references of the curated companions of ``code`` (their notes are reported as missing companions)."""
    edits = edits or default_edits()
    return [r for companion in edits.rules.companions if _matches(companion.first, code) for r in companion.second]


def check_demographics(codes: Sequence[str], patient: Patient, given: Patient,
                       edits: CodeEdits | None = None) -> list[Finding]:
    """Codes for another sex or age than the patient's: an error when the form (``given``) says so, a warning when
    only the text does (``patient``: the form's facts, else the text's)."""
    edits = edits or default_edits()
    out: list[Finding] = []
    for code in codes:
        why = edits.rules.demographic_conflict(code, given)
        severity = edits.severity["demographics_from_form"]
        if why is None:
            why = edits.rules.demographic_conflict(code, patient)
            severity = edits.severity["demographics_from_text"]
        if why is not None:
            out.append(Finding("demographics", severity, f"{code}: {why.replace('.;', ';')}.", code=code))  # type: ignore[arg-type]
    return out


def related_mentions(code: str, mentions: Sequence[CodeMention], codeset) -> list[CodeMention]:
    """The mentions of ``code``, or else of its ancestors and descendants (a mention of C50.9 speaks of C50.911)."""
    own = [m for m in mentions if m.code == code]
    if own:
        return own
    lineage = set(codeset.ancestors(code))
    return [m for m in mentions if m.code in lineage or code in codeset.ancestors(m.code)]


def check_evidence(codes: Sequence[str], text: str, mentions: Sequence[CodeMention], codeset,
                   edits: CodeEdits | None = None) -> list[Finding]:
    """Codes whose every mention in the text is negated, a relative's, hypothetical or past; the finding points at
    the first mention. A code the text does not mention at all is not judged."""
    edits = edits or default_edits()
    out: list[Finding] = []
    for code in codes:
        found = sorted(related_mentions(code, mentions, codeset), key=lambda m: m.start)
        if not found or any(not any(m.flags.get(s) for s, _, _ in edits.statuses) for m in found):
            continue
        for status, severity, why in edits.statuses:
            first = next((m for m in found if m.flags.get(status)), None)
            if first is not None:
                words = " ".join(text[first.start:first.end].split())
                out.append(Finding("evidence_status", severity,  # type: ignore[arg-type]
                                   f"{code}: its only evidence is not affirmed: {why} (\"{words}\").",
                                   code=code, start=first.start, end=first.end))
                break
    return out


def affirmed_span(code: str, mentions: Sequence[CodeMention], codeset) -> tuple[int, int] | None:
    """The first affirmed mention of ``code`` (or of its ancestors and descendants), for a finding to point at."""
    affirmed = [m for m in related_mentions(code, mentions, codeset) if not any(m.flags.values())]
    first = min(affirmed, key=lambda m: m.start, default=None)
    return None if first is None else (first.start, first.end)
