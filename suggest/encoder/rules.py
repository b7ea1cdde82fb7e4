"""Coding rules applied at selection, as a certified coder applies the Official Guidelines.

The ranker scores each candidate code on its own. A coder then reads the codes together: a symptom that is
part of a confirmed diagnosis is not coded (I.B.5), an uncertain diagnosis is not coded in outpatient care
(IV.H), hypertension with heart failure is one combination code (I.C.9.a), two codes in Excludes1 cannot
stand together, a diabetic foot ulcer needs its site code, a patient on insulin gets Z79.4, a vaccine is coded
only when it is given, and a code for the other sex is an error. :class:`CodingRules` does the same on the
ranked candidates of one chart; every code it adds, drops or selects carries a :class:`RuleNote` saying why.

The rules are data: ``resources/coding_rules.json`` (which rules run in which care setting, combination codes,
unspecified-beside-specific pairs, companions, vaccination and examination cues), ``integral_symptoms.json``,
``long_term_drugs.tsv`` and ``demographic_edits.json`` (the age and sex edits, shared with the workspace's
checks). A care setting picks the rules: ``outpatient`` (Section IV), ``inpatient`` (uncertain diagnoses are
kept, as Section II.H codes them at discharge) or ``mentions`` (every coded mention, as CodiEsp's annotators
coded; only the age and sex edits apply).
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from suggest.codeset.notes import CodeRef, CodeRefs, excludes1_conflicts
from suggest.encoder.patient import Patient
from suggest.pipeline.alternation import literal_alternation
from suggest.pipeline.normalize import WordSpans, default_normalizer, load_drug_classes
from suggest.pipeline.resources import load_json, read_text

Setting = Literal["outpatient", "inpatient", "mentions"]
SETTINGS: tuple[Setting, ...] = ("outpatient", "inpatient", "mentions")
Action = Literal["added", "dropped", "selected", "note"]


@dataclass(frozen=True, slots=True)
class RuleNote:
    """What a rule did to a suggestion and why: ``rule`` names it (``"integral_symptom"``), ``action`` is
    ``added`` (the rule proposed the code), ``selected``, ``dropped`` (no longer selected) or ``note`` (a
    reminder, nothing changed)."""

    rule: str
    action: Action
    why: str

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "action": self.action, "why": self.why}


@dataclass(slots=True)
class RuledCode:
    """One candidate code of a chart as the rules see it.

    ``spans`` are the character spans of its evidence, ``assertions`` the ConText flags of each of its
    dictionary mentions (empty for codes proposed by the classifier only)."""

    code: str
    confidence: float
    selected: bool
    spans: list[tuple[int, int]] = field(default_factory=list)
    assertions: list[dict[str, bool]] = field(default_factory=list)
    rules: list[RuleNote] = field(default_factory=list)
    added: bool = False
    demoted: bool = False  # a rule put it below another code: it ranks after the codes of equal confidence
    sections: list[str] = field(default_factory=list)  # the section of each dictionary mention
    coverages: list[float] = field(default_factory=list)  # the share of its term each dictionary mention matched
    matched: list[int] = field(default_factory=list)  # the chart words (stems) each dictionary mention explains


@dataclass(frozen=True, slots=True)
class ChartFacts:
    """What the rules read from the chart besides its candidates: the text, the patient, and a function giving
    the section and the ConText flags of a character span (``None`` when the chart was not analysed)."""

    text: str
    patient: Patient
    assert_span: Callable[[int, int], tuple[str, dict[str, bool]]] | None = None
    words: WordSpans | None = None  # ``default_normalizer().words(text)`` when the caller has read them


def _refs(values: Iterable[str]) -> CodeRefs:
    return CodeRefs(CodeRef.parse(v) for v in values)


def _matches(refs: Sequence[CodeRef], code: str) -> bool:
    if isinstance(refs, CodeRefs):
        return refs.matches(code)
    return any(r.matches(code) for r in refs)


def _letters(refs: Sequence[CodeRef]) -> set[str]:
    """The first letters of the codes ``refs`` can match."""
    out: set[str] = set()
    for ref in refs:
        hi = ref.hi or ref.lo
        out.update(chr(c) for c in range(ord(ref.lo[0]), ord(hi[0]) + 1))
    return out


class _RefIndex:
    """Items (rule rows) found by the codes their references match: grouped by the first letters those references
    can match, and cached per code (a chart tests a few hundred candidates, a batch thousands of codes)."""

    def __init__(self, items: Iterable[Any], refs_of: Callable[[Any], Sequence[CodeRef]], max_cached: int = 200_000):
        self.refs_of = refs_of
        self.by_letter: dict[str, list[Any]] = {}
        for item in items:
            for letter in _letters(refs_of(item)):
                self.by_letter.setdefault(letter, []).append(item)
        self.cache: dict[str, tuple[Any, ...]] = {}
        self.max_cached = max_cached

    def matching(self, code: str) -> tuple[Any, ...]:
        """The items (in their order) with a reference that matches ``code``."""
        found = self.cache.get(code)
        if found is None:
            found = tuple(item for item in self.by_letter.get(code[:1], ()) if _matches(self.refs_of(item), code))
            if len(self.cache) < self.max_cached:
                self.cache[code] = found
        return found


def _phrases(words: Iterable[str]) -> re.Pattern:
    """Any of ``words`` as whole words, in any case, the longest first."""
    return re.compile(rf"(?<![\w]){literal_alternation(words)}(?![\w])", re.IGNORECASE)


@dataclass(frozen=True)
class _Combination:
    name: str
    when: tuple[tuple[CodeRef, ...], ...]
    code: str | None
    drop: tuple[CodeRef, ...]
    why: str
    stated: bool = False  # a part counts when the chart states it in full, selected or not
    past_only: tuple[CodeRef, ...] = ()  # parts that count only from past mentions ("s/p CVA" for I63)


@dataclass(frozen=True)
class _Pair:
    first: tuple[CodeRef, ...]
    second: tuple[CodeRef, ...]
    why: str
    skip_seventh: frozenset[str] = frozenset()  # 7th characters of ``first`` for which the pair does not hold
    min_share: float | None = None  # companions: least confidence, as a share of the threshold
    needs_affirmed: bool = False  # companions: only a code with an affirmed dictionary mention
    note_when_missing: bool = True  # companions: say so when no companion is documented


@dataclass(frozen=True)
class _Unnamed:
    """A code for an unnamed region or substance (T14, T50.90) and the codes that name one."""

    codes: CodeRefs
    named: CodeRefs
    why: str
    hand_over: bool
    query: str | None = None  # when nothing names it: not selected in the coding settings, the coder queries


@dataclass(frozen=True)
class _Drug:
    name: str
    code: str
    drug_class: str


@dataclass(frozen=True)
class _DemographicEdit:
    refs: tuple[CodeRef, ...]
    why: str
    sex: str | None = None
    min_years: float | None = None
    max_years: float | None = None


#: Codes whose description-derived facts the rules keep (per process; bounded for a long-running server).
_CODES_KEPT = 20_000


class CodingRules:
    """The coding rules, compiled from their data files. Use :func:`default_rules`."""

    def __init__(self, rules: dict[str, Any], integral: dict[str, Any], drugs_tsv: str, demographics: dict[str, Any]):
        self.settings: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in rules["settings"].items()}
        self._other_words: dict[str, tuple[int, int, tuple[str, ...]]] = {}
        self._other_words_codeset = None
        unknown = sorted({name for names in self.settings.values() for name in names if not hasattr(_Run, name)})
        if unknown:
            raise ValueError(f"coding rules data: no rule named {', '.join(unknown)}")
        self.combinations = [
            _Combination(c["name"], tuple(_refs(group) for group in c["when"]), c["code"], _refs(c["drop"]), c["why"],
                         bool(c.get("stated", False)), _refs(c.get("past_only", ())))
            for c in rules["combinations"]
        ]
        #: (combination, part) pairs found by the codes that can fill the part.
        self.combination_parts = _RefIndex(
            [(i, g) for i, c in enumerate(self.combinations) for g in range(len(c.when))],
            lambda part: self.combinations[part[0]].when[part[1]])
        unspecified = rules["unspecified_with_specific"]
        self.same_subcategory = bool(unspecified["same_subcategory"])
        self.uncertain_why: str = rules["uncertain"]["why"]
        self.uncertain_certain_part_why: str = rules["uncertain"].get(
            "why_certain_part", "Stated for certain before the uncertain words: coded without them (IV.H)")
        self.unspecified_pairs = [_Pair(_refs(p["unspecified"]), _refs(p["specific"]), p["why"])
                                  for p in unspecified["pairs"]]
        self.integral = [_Pair(_refs(r["diagnoses"]), _refs(r["symptoms"]), r["why"],
                               frozenset(r.get("skip_if_7th_character", ()))) for r in integral["rules"]]
        self._integral_index = _RefIndex(self.integral, lambda pair: pair.second)
        self.companions = [_Pair(_refs(c["code"]), _refs(c["with"]), c["why"], min_share=c.get("min_share_of_threshold"),
                                 needs_affirmed=bool(c.get("needs_affirmed_mention", False)),
                                 note_when_missing=bool(c.get("note_when_missing", True)))
                           for c in rules["companions"]]
        self.history_pairs = [_Pair(_refs(p["history"]), _refs(p["current"]), p["why"])
                              for p in rules["history_beside_current"]["pairs"]]
        self.history_assessed_why: str = rules["history_beside_current"].get(
            "why_assessed", "The assessment states the history, not the condition as current (I.C.21.c.4)")
        self._history_index = _RefIndex(self.history_pairs, lambda pair: pair.second)
        self.companion_share = float(rules["companion_min_share_of_threshold"])
        self.dropped_share = float(rules["dropped_confidence_share_of_threshold"])
        self.vaccination = rules["vaccination"]
        self.vaccine_codes = tuple(self.vaccination["codes"])
        self.vaccine_given = _phrases(self.vaccination["given_cues"])
        self.exam = rules["general_exam"]
        self.exam_visit_sections = frozenset(self.exam["visit_sections"])
        self.exam_item_sections = frozenset(self.exam.get("item_sections", ()))
        self.exam_visit_cues = re.compile(r"\b(?:" + "|".join(self.exam["visit_cues"]) + r")\b", re.IGNORECASE)
        self.exam_named = re.compile(r"\b(?:" + "|".join(self.exam["examination_words"]) + r")\b", re.IGNORECASE)
        plain = rules["plain_statement"]
        self.plain_sections = frozenset(plain["sections"])
        self.plain_bare_max_words = int(plain["bare_statement_max_words"])
        self.plain_min_share = float(plain["min_share_of_threshold"])
        self.plain_line_words = frozenset(plain["whole_line_words"])
        self.plain_excluded = _refs(plain["excluded_codes"])
        self.plain_why: str = plain["why"]
        self.plain_not_alone = frozenset(w.lower() for w in plain["not_alone"])
        self.lone_words = frozenset(w.lower() for w in rules["lone_word"]["words"])
        self.lone_word_why: str = rules["lone_word"]["why"]
        self.findings = rules["findings_only"]
        self.findings_sections = frozenset(self.findings["sections"])
        self.findings_kept = _refs(self.findings["kept_codes"])
        neoplasm = rules["neoplasm_sites"]
        self.primary = _refs(neoplasm["primary"])
        self.secondary = _refs(neoplasm["secondary"])
        self.uncertain_behaviour = _refs(neoplasm["uncertain_behaviour"])
        self.secondary_unspecified: str = neoplasm["secondary_unspecified"]
        self.neoplasm = neoplasm
        drug_rules = rules["long_term_drug"]
        self.drug_why: str = drug_rules["why"]
        self.drug_sections_skipped = frozenset(drug_rules["sections_skipped"])
        self.short_course = _phrases(drug_rules["short_course_cues"])
        self.poisoning = _phrases(drug_rules["poisoning_cues"])
        self.poisoning_why: str = drug_rules["poisoning_why"]
        self.short_course_why: str = drug_rules.get("short_course_why", "Not a long-term use")
        single_dose = drug_rules.get("single_dose_cues")
        self.single_dose = _phrases(single_dose) if single_dose else None
        self.not_the_drug = _phrases(drug_rules["not_the_drug"])
        self.long_term_cues = {code: _phrases(cues) for code, cues in drug_rules.get("long_term_cues", {}).items()}
        self.short_course_by_code = {code: _phrases(cues)
                                     for code, cues in drug_rules.get("short_course_cues_by_code", {}).items()}
        treated = rules["treated_condition"]
        self.treated_why: str = treated["why"]
        self.treated_sections_skipped = frozenset(treated["sections_skipped"])
        self.treats: dict[str, list[tuple[CodeRef, ...]]] = {}
        for indication in treated["indications"]:
            for drug in indication["drugs"]:
                self.treats.setdefault(drug.lower(), []).extend(_refs(group) for group in indication["conditions"])
        self.treated_pattern = _phrases(self.treats)
        self.site_rules = [(_refs(r["code"]), re.compile(r["sentence"], re.IGNORECASE), r["becomes"], r["why"])
                           for r in rules["site_in_findings"]["rules"]]
        specific = rules["specific_over_unspecified"]
        self.specific_min_share = float(specific["min_share_of_threshold"])
        self.specific_why: str = specific["why"]
        self.specific_excluded = _refs(specific["excluded_codes"])
        self.bilateral = rules["bilateral"]
        self.bilateral_inside = re.compile(self.bilateral["inside"], re.IGNORECASE)
        self.bilateral_before = re.compile(self.bilateral["before"], re.IGNORECASE)
        self.bilateral_after = re.compile(self.bilateral["after"], re.IGNORECASE)
        qualifiers = rules["qualifier_only"]
        normalizer = default_normalizer()
        self.qualifier_stems = frozenset(stem for word in qualifiers["words"] for stem in normalizer.word_stems(word))
        self.qualifier_only = qualifiers
        external = rules["external_cause"]
        self.external_causes = _refs(external["codes"])
        self.external_not_assigned = frozenset(external["not_assigned"])
        self.external_optional_in = frozenset(external["optional_in"])
        self.external = external
        self.unnamed = [_Unnamed(_refs(entry["codes"]), _refs(entry["named"]), entry["why"], entry["hand_over"],
                                 entry.get("query")) for entry in rules["unspecified_region"]["entries"]]
        self.drug_category = load_drug_classes("category")
        self.evidence_first_below = float(rules["evidence_first"]["below"])
        self.side_rule = rules["side_from_chart"]
        self.side_not_stated = rules["side_not_stated"]
        self.side_in_mention = rules["side_in_mention"]
        displaced = rules["displaced_default"]
        self.displaced = {"documented": re.compile(displaced["documented"], re.IGNORECASE), "why": displaced["why"],
                          "default_stems": frozenset(default_normalizer().stems(" ".join(displaced["default_words"])))}
        self.uncertain_inside = _phrases(rules["uncertain"]["inside_cues"])
        unstated = rules["unstated_qualifier"]
        self.unstated_why = unstated["why"]
        self.unstated = [(entry["codes"], entry["unspecified"], _phrases(entry["said"])) for entry in unstated["entries"]]
        self.other_or_unspecified = rules["other_or_unspecified"]
        self.two_word_sites = frozenset(self.side_rule["two_word_sites"])
        self.tobacco = rules["tobacco"]
        self.tobacco_current = _phrases(self.tobacco["current_cues"])
        self.tobacco_former = _phrases(self.tobacco["former_cues"])
        self.tobacco_counseling = _phrases(self.tobacco["counseling_cues"])
        self.tobacco_quantity = _phrases(self.tobacco["quantity_cues"])
        self.tobacco_cigarettes = _phrases(self.tobacco["cigarette_cues"])
        self.tobacco_dependence = _refs(self.tobacco["dependence_codes"])
        self.drugs: dict[str, _Drug] = {}
        for line in drugs_tsv.splitlines()[1:]:
            if line.strip() and not line.startswith("#"):
                name, code, drug_class = line.split("\t")[:3]
                self.drugs[name.strip().lower()] = _Drug(name.strip().lower(), code.strip(), drug_class.strip())
        self.drug_pattern = _phrases(self.drugs) if self.drugs else None
        self.demographic_edits: list[_DemographicEdit] = []
        for sex in ("female", "male"):
            for entry in demographics["sex"][sex]:
                self.demographic_edits.append(_DemographicEdit(_refs(entry["codes"]), entry["why"], sex=sex))
        self.sex_exceptions = {sex: _refs(demographics["sex"].get("exceptions", {}).get(sex, []))
                               for sex in ("female", "male")}
        for entry in demographics["age"]:
            self.demographic_edits.append(_DemographicEdit(
                _refs(entry["codes"]), entry["why"], min_years=entry.get("min_years"), max_years=entry.get("max_years")))
        self._edit_index = _RefIndex(self.demographic_edits, lambda edit: edit.refs)

    # ------------------------------------------------------------------ public
    def other_words_of(self, code: str, codeset) -> tuple[int, int, tuple[str, ...]]:
        """:func:`_other_or_unspecified` of ``code``'s description, kept per code (bounded)."""
        if self._other_words_codeset is not codeset:
            self._other_words, self._other_words_codeset = {}, codeset
        found = self._other_words.get(code)
        if found is None:
            if len(self._other_words) >= _CODES_KEPT:
                self._other_words.clear()
            found = self._other_words[code] = _other_or_unspecified(codeset.description(code) or "")
        return found

    def rules_for(self, setting: str) -> tuple[str, ...]:
        """The names of the rules that run in ``setting``."""
        if setting not in self.settings:
            raise ValueError(f"setting must be one of {', '.join(self.settings)}, not {setting!r}")
        return self.settings[setting]

    def integral_rows_for(self, symptom: str) -> tuple[_Pair, ...]:
        """The integral-symptom rows whose symptoms include ``symptom``."""
        return self._integral_index.matching(symptom)

    def history_rows_for(self, current: str) -> tuple[_Pair, ...]:
        """The history-beside-current rows whose current condition includes ``current``."""
        return self._history_index.matching(current)

    def demographic_conflict(self, code: str, patient: Patient) -> str | None:
        """Why ``code`` does not fit the patient's sex or age (``None`` when it fits or they are unknown)."""
        for edit in self._edit_index.matching(code):
            if edit.sex is not None and patient.sex is not None and patient.sex != edit.sex:
                if _matches(self.sex_exceptions[edit.sex], code):
                    continue
                said = f' ("{patient.sex_evidence}")' if patient.sex_evidence else ""
                return f"{edit.why}; the patient is {patient.sex}{said}"
            if edit.sex is None and patient.age_years is not None:
                too_young = edit.min_years is not None and patient.age_years < edit.min_years
                too_old = edit.max_years is not None and patient.age_years > edit.max_years
                if too_young or too_old:
                    said = f' ("{patient.age_evidence}")' if patient.age_evidence else ""
                    return f"{edit.why}; the patient's age is {patient.age_years:g}{said}"
        return None

    def apply(self, codes: list[RuledCode], chart: ChartFacts, setting: str, threshold: float, codeset) -> list[RuledCode]:
        """Apply the rules of ``setting`` to one chart's candidates (best first); returns them re-ranked (a code
        a rule put below another ranks after the codes of its confidence; among the codes of a negligible
        confidence, those read from the chart's words come first), with the codes the rules added.
        ``threshold`` is the model's selection threshold."""
        run = _Run(self, codes, chart, threshold, codeset, setting)
        for name in self.rules_for(setting):
            getattr(run, name)()
        floor = self.evidence_first_below
        # Below the floor the confidences say nothing: a code whose words the chart states goes first there.
        return sorted(run.codes, key=lambda c: (-(c.confidence if c.confidence >= floor else 0.0), c.demoted,
                                                not c.sections, -c.confidence))


#: A category's own unspecified code: its ".9" subdivision with nothing more specific after it (M54.9, M19.90).
_CATEGORY_UNSPECIFIED = re.compile(r"^[A-Z][0-9][0-9A-Z]\.9[09X]*$")

_OTHER_WORDS = re.compile(r"\b(other specified|other|unspecified)\b")


_PLURAL = re.compile(r"(?<=[a-z]{3})(ies|s)\b(?<!ss)(?<!us)(?<!is)")


def _other_or_unspecified(description: str) -> tuple[int, int, tuple[str, ...]]:
    """A description's 'other' words, its 'unspecified' words, and the stems of its other words, singular and
    sorted: "Other specified injuries of unspecified thigh" (1, 1) and "Unspecified injury of unspecified thigh"
    (0, 2) share them, and the first is the 'other' one of the two."""
    lowered = description.lower()
    found = [m.group(1) for m in _OTHER_WORDS.finditer(lowered)]
    unspecified = found.count("unspecified")
    singular = _PLURAL.sub(lambda m: "y" if m.group(1) == "ies" else "", _OTHER_WORDS.sub(" ", lowered))
    return len(found) - unspecified, unspecified, tuple(sorted(set(default_normalizer().stems(singular))))


def _names_other(description: str) -> bool:
    """Whether a description is a residual "Other ..." code's (the word 'other', 'other specified')."""
    return any(m.group(1) != "unspecified" for m in _OTHER_WORDS.finditer(description.lower()))


#: Stems of the words that give a side ("R knee" reads as "right knee").
_SIDE_STEMS = frozenset({"right", "left", "bilater"})

#: Punctuation between two words that puts them in different sentences or list items.
_CLAUSE_BREAK = re.compile(r"[.;:\n]")


class _Run:
    """The rules applied to one chart (state: its candidates by code)."""

    def __init__(self, rules: CodingRules, codes: list[RuledCode], chart: ChartFacts, threshold: float, codeset,
                 setting: str = "outpatient"):
        self.r = rules
        self.setting = setting
        self.codes = codes
        self.by_code = {c.code: c for c in codes}
        self.chart = chart
        self.threshold = threshold
        self.codeset = codeset

    # ---------------------------------------------------------------- helpers
    def selected(self) -> list[RuledCode]:
        return [c for c in self.codes if c.selected]

    def drop(self, c: RuledCode, rule: str, why: str, at_most: float | None = None) -> None:
        """Unselect ``c`` below the threshold; with ``at_most``, also lower it to that and rank it after its equals."""
        c.selected = False
        c.confidence = min(c.confidence, self.r.dropped_share * self.threshold)
        if at_most is not None:
            c.confidence = min(c.confidence, at_most)
            c.demoted = True
        c.rules.append(RuleNote(rule, "dropped", why))

    def replace(self, olds: Sequence[RuledCode], code: str, rule: str, why: str,
                spans: Iterable[tuple[int, int]] = (), drop_why: str | None = None) -> None:
        """Drop ``olds`` (but ``code``) for ``code``, selected at the best of their confidences (and the threshold)."""
        confidence = max(self.threshold, *(o.confidence for o in olds))
        for o in olds:
            if o.code != code:
                self.drop(o, rule, drop_why or why)
        self.select(code, confidence, rule, why, spans)

    @staticmethod
    def dropped(c: RuledCode) -> bool:
        """Whether a rule has dropped ``c``."""
        return bool(c.rules) and any(n.action == "dropped" for n in c.rules)

    @staticmethod
    def full_mentions(c: RuledCode, past_counts: bool = False) -> list[tuple[int, int]]:
        """The dictionary mentions of ``c`` that state its whole term, affirmed (with ``past_counts``, a past or
        problem-list mention counts too)."""
        return [c.spans[i] for i, (flags, coverage) in enumerate(zip(c.assertions, c.coverages))
                if coverage >= 0.999 and not any(flag for name, flag in flags.items()
                                                 if not (past_counts and name == "historical"))]

    def select(self, code: str, confidence: float, rule: str, why: str, spans: Iterable[tuple[int, int]] = ()) -> RuledCode | None:
        """Select ``code`` (adding it when it is not a candidate) at least at ``confidence``."""
        if code not in self.codeset:
            return None
        c = self.by_code.get(code)
        if c is None:
            c = RuledCode(code, confidence, True, sorted(set(spans)), [], [], added=True)
            c.rules.append(RuleNote(rule, "added", why))
            self.codes.append(c)
            self.by_code[code] = c
            return c
        c.rules.append(RuleNote(rule, "note" if c.selected else "selected", why))
        c.selected = True
        c.confidence = max(c.confidence, confidence)
        for span in spans:
            if span not in c.spans:
                c.spans.append(span)
        return c

    def _seventh(self, code: str) -> str | None:
        """The 7th character of ``code`` when it has one."""
        return code[-1] if self.codeset.seventh_character_stem(code) else None

    def _description(self, code: str) -> str:
        return self.codeset.description(code) or ""

    # ------------------------------------------------------------------ rules
    def demographics(self) -> None:
        patient = self.chart.patient
        if patient.sex is None and patient.age_years is None:
            return
        for c in self.codes:
            why = self.r.demographic_conflict(c.code, patient)
            if why is not None:
                self.drop(c, "demographics", why)

    def qualifier_only(self) -> None:
        """A code matched only in part, and only in qualifying words ("late effect", "type I"), is no candidate."""
        rule = self.r.qualifier_only
        for c in self.codes:
            own = self._mention_spans(c)
            if not own or any(coverage >= 0.999 for coverage in c.coverages[:len(own)]):
                continue
            if all(self._only_qualifiers(s, e) for s, e in own):
                s, e = own[0]
                self.drop(c, "qualifier_only", rule["why"].format(words=self.chart.text[s:e]), at_most=rule["confidence"])

    def _only_qualifiers(self, start: int, end: int) -> bool:
        """Whether the chart's words inside ``start:end`` have content stems, all of them qualifiers."""
        found = False
        for _, _, stems in self._words_in(start, end):
            for stem in stems:
                if stem not in self.r.qualifier_stems:
                    return False
                found = True
        return found

    def unspecified_region(self) -> None:
        """A code for an unnamed body region or substance (T14 injury of unspecified region, T50.90 poisoning by an
        unspecified drug) gives way to a code that names it, read from the same words: it is not selected and ranks
        below that code (I.C.19.b; "methadone overdose" is T40.3-, not T50.90-). Where the entry hands over, a
        unnamed code passes its place (and its selection) to the named code when the chart states that code's term in full."""
        for entry in self.r.unnamed:
            with_spans = [c for c in self.codes if c.spans]
            unnamed = [c for c in with_spans if _matches(entry.codes, c.code)]
            if not unnamed:
                continue
            # A substance is named only where its code's term is stated in full ("overdose" alone names none).
            naming = [(c, self.full_mentions(c) if entry.hand_over else c.spans) for c in with_spans
                      if _matches(entry.named, c.code)]
            for c in unnamed:
                named = [o for o, spans in naming if any(s < oe and os < e for s, e in c.spans for os, oe in spans)]
                if not named:
                    continue
                best = max(named, key=lambda o: o.confidence)
                why = entry.why.format(code=best.code)
                if entry.hand_over:
                    self._prefer(best.code, c, "unspecified_region", why)
                if not self.dropped(c):
                    self.drop(c, "unspecified_region", why, at_most=best.confidence * 0.5)

    def region_query(self) -> None:
        """A selected code for an unnamed region (T14) that nothing in the chart names is not selected: the coder
        queries the provider for the site ("hairline fracture" of what?) rather than file an injury of no region."""
        for entry in self.r.unnamed:
            if entry.query is None:
                continue
            for c in self.selected():
                if _matches(entry.codes, c.code):
                    self.drop(c, "region_query", entry.query)

    def lone_word(self) -> None:
        """A code whose every affirmed mention is a lone generic word ("Counseling:") is not selected."""
        for c in self.selected():
            affirmed = [self.chart.text[s:e].lower() for (s, e), flags in zip(c.spans, c.assertions)
                        if not any(flags.values())]
            if affirmed and all(word in self.r.lone_words for word in affirmed):
                self.drop(c, "lone_word", self.r.lone_word_why)

    def plain_statement(self) -> None:
        """A diagnosis stated in full, affirmed, in the assessment, the best-scored code of its category, is
        selected: the coder codes what the provider concluded (IV.C), whatever the ranker thought of its priors."""
        best_in_category: dict[str, RuledCode] = {}
        for c in self.codes:
            held = best_in_category.get(c.code[:3])
            if held is None or c.confidence > held.confidence:
                best_in_category[c.code[:3]] = c
        spans: list[tuple[int, int, RuledCode]] | None = None  # read once a code has a plain mention
        statements: list[tuple[int, int, RuledCode]] = []
        # Only the best-scored code of a category: "back pain" is not M54.9 where the ranker prefers M54.50 (low back
        # pain, its words read loosely), nor "knee problems" M25.569 beside a better-scored knee code.
        for c in list(best_in_category.values()):
            if c.selected or self.dropped(c) or _matches(self.r.plain_excluded, c.code):
                continue
            candidates = self._stated_mentions(c)
            if not candidates:
                continue
            if spans is None:
                spans = [(s, e, o) for o in self.codes for s, e in o.spans[: len(o.sections)]]
                # Only another code's full statement can hold this one: "bilateral breast cysts" is no statement of
                # "cyst of bilateral orbits", so it does not swallow "breast cysts".
                # A code a rule has dropped is no statement, and is not selected again here.
                statements = [(s, e, o) for o in self.codes if not self.dropped(o)
                              for (s, e), coverage in zip(o.spans[: len(o.sections)], o.coverages) if coverage >= 0.999]
            plain = self._plain_spans(c, spans, statements, candidates)
            if plain and (c.confidence >= self.r.plain_min_share * self.threshold
                          or any(self._whole_line(s, e) for s, e in plain)):
                self.select(c.code, self.threshold, "plain_statement", self.r.plain_why)

    def _stated_mentions(self, c: RuledCode) -> list[tuple[int, int]]:
        """The mentions of ``c`` that state its whole term, affirmed, in a listed section, not as a lone generic
        word."""
        sections = self.r.plain_sections | ({"preamble"} if self._bare_statement else frozenset())
        return [c.spans[i] for i, (section, flags) in enumerate(zip(c.sections, c.assertions))
                if section in sections and not any(flags.values()) and c.coverages[i] >= 0.999
                and self.chart.text[c.spans[i][0]: c.spans[i][1]].lower() not in self.r.plain_not_alone]

    def _plain_spans(self, c: RuledCode, spans, statements, plain: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Those of ``plain``, the :meth:`_stated_mentions` of ``c``, that state it plainly: not inside a longer
        statement of another code nor on the words of a code selected already."""
        # A phrase inside a longer statement of another code ("diabetes" in "diabetes insipidus") is not a
        # statement of its own.
        # A history code on the same words ("history of kidney stones" for Z87.442) does not block the current
        # condition: history_beside_current drops it once the current code is selected.
        histories = [pair.first for pair in self.r.history_rows_for(c.code)]
        # Nor does a code that goes with this one ("Hypertensive chronic kidney disease with stage 2 CKD": I12.9 and
        # its use-additional N18.2 on shared words).
        partners = [pair.second for pair in self.r.companions if _matches(pair.first, c.code)]
        return [(s, e) for s, e in plain
                if not any(o is not c and os <= s and e <= oe and oe - os > e - s for os, oe, o in statements)
                and not any(o.selected and os < e and s < oe and not any(_matches(h, o.code) for h in histories)
                            and not self._integral_to(o, c) and not any(_matches(p, o.code) for p in partners)
                            for os, oe, o in spans)]

    def _integral_to(self, symptom: RuledCode, diagnosis: RuledCode) -> bool:
        """Whether ``symptom`` is integral to ``diagnosis`` (I.B.5): a selected "right foot pain" does not keep "Right
        foot pain, due to a Lisfranc fracture" from stating the fracture; integral_symptom then drops the pain."""
        return any(_matches(pair.first, diagnosis.code) and not (pair.skip_seventh and
                                                                 self._seventh(diagnosis.code) in pair.skip_seventh)
                   for pair in self.r.integral_rows_for(symptom.code))

    @functools.cached_property
    def _bare_statement(self) -> bool:
        """Whether the chart is a short text under no section heading ("Community acquired pneumonia."): a problem
        line or a coder's query, read as the provider's statement."""
        return (len(self.chart_words) <= self.r.plain_bare_max_words
                and all(section == "preamble" for c in self.codes for section in c.sections))

    def _starts_line(self, start: int) -> bool:
        """Whether the mention begins its line but for numbering, punctuation and header words ("1. Annual exam",
        "Assessment: Annual physical"): an item of a list, not a clause of a longer sentence."""
        text = self.chart.text
        before = text[text.rfind("\n", 0, start) + 1: start].lower()
        return all(word in self.r.plain_line_words for word in re.findall(r"[a-z]+", before))

    def _whole_line(self, start: int, end: int) -> bool:
        """Whether the mention is the whole of its line, or of the line's first sentence, but for numbering,
        punctuation and side words: an assessment item that is the diagnosis itself ("2. Bilateral medial
        epicondylitis.", "1. Basal cell carcinoma of skin of left cheek. Refer for Mohs surgery.")."""
        text = self.chart.text
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        line_end = len(text) if line_end < 0 else line_end
        sentence_end = text.find(". ", end, line_end)
        if sentence_end >= 0 and not text[line_start:start].strip(" \t0123456789.)#-•*").count(". "):
            line_end = sentence_end
        rest = (text[line_start:start] + " " + text[end:line_end]).lower()
        return all(word in self.r.plain_line_words for word in re.findall(r"[a-z]+", rest))

    def specific_over_unspecified(self) -> None:
        """An unspecified code gives way to a code of its category stated in full on the same words and more."""
        for c in self.selected():
            if "unspecified" not in self._description(c.code).lower() or _matches(self.r.specific_excluded, c.code):
                continue
            own = [c.spans[i] for i in range(len(c.sections))]
            better = []
            for o in self.codes:
                if o is c or o.code[:3] != c.code[:3] or self.dropped(o):
                    continue
                description = self._description(o.code)
                if "unspecified" in description.lower():
                    continue
                # A low score is no bar where the assessment states the code in full ("due to a Lisfranc fracture"),
                # unless it is a residual "Other ..." code ("asthma or COPD" is no J44.89).
                residual = _names_other(description)
                if o.confidence < self.r.specific_min_share * self.threshold and (residual or not any(
                        section in self.r.plain_sections and coverage >= 0.999 and not any(flags.values())
                        for section, coverage, flags in zip(o.sections, o.coverages, o.assertions))):
                    continue
                # Longer words, or the same words read by a term that names more ("Right foot pain, due to a
                # Lisfranc fracture" is the window of both S92.901A and S92.321A; an "Other ..." code names nothing
                # more: other_or_unspecified tells those apart).
                same_words_ok = not residual
                if any(s < ce and cs < e and (e - s > ce - cs or (same_words_ok and e - s == ce - cs))
                       for s, e in self.full_mentions(o) for cs, ce in own):
                    better.append(o)
            if not better:
                continue
            # A specific code selected already takes the unspecified one's place where it states every one of its
            # mentions ("Lisfranc fracture, right foot": S92.321A, and no S92.901A beside it); "chronic abdominal
            # pain, constipation" read across a list as K59.09 does not take the assessment's "Constipation" (K59.00).
            covering = [o for o in better if o.selected
                        and all(any(s < ce and cs < e for s, e in self.full_mentions(o)) for cs, ce in own)]
            if covering:
                best = max(covering, key=lambda o: o.confidence)
                self.drop(c, "specific_over_unspecified", f"{self.r.specific_why} ({best.code})")
                continue
            better = [o for o in better if not o.selected]
            if better:
                best = max(better, key=lambda o: o.confidence)
                self.replace([c], best.code, "specific_over_unspecified", self.r.specific_why,
                             drop_why=f"{self.r.specific_why} ({best.code})")

    def neoplasm_sites(self) -> None:
        """"Metastatic breast cancer" is a breast primary that has spread (C50.- + C79.9), not a secondary of the
        breast; a neoplasm of uncertain or unspecified behaviour is not coded from the words that state a malignancy."""
        chosen = self.selected()
        primaries = [c for c in chosen if _matches(self.r.primary, c.code)]
        if not primaries:
            return
        primary_spans = [span for c in primaries for span in c.spans]

        def same_words(c: RuledCode) -> bool:
            return bool(c.spans) and all(any(ps < e and s < pe for ps, pe in primary_spans) for s, e in c.spans)

        dropped_secondary = False
        for c in chosen:
            if _matches(self.r.secondary, c.code) and c.code != self.r.secondary_unspecified and same_words(c):
                self.drop(c, "neoplasm_sites", self.r.neoplasm["why_secondary"].format(primary=primaries[0].code))
                dropped_secondary = True
            elif _matches(self.r.uncertain_behaviour, c.code) and same_words(c):
                self.drop(c, "neoplasm_sites", self.r.neoplasm["why_behaviour"].format(primary=primaries[0].code))
        if dropped_secondary and not any(o.selected and _matches(self.r.secondary, o.code) for o in self.codes):
            self.select(self.r.secondary_unspecified, self.threshold, "neoplasm_sites",
                        self.r.neoplasm["why_unspecified"], primaries[0].spans)

    def findings_only(self) -> None:
        rule = self.r.findings
        for c in self.selected():
            affirmed = [section for section, flags in zip(c.sections, c.assertions) if not any(flags.values())]
            if affirmed and all(section in self.r.findings_sections for section in affirmed) \
                    and not _matches(self.r.findings_kept, c.code):
                self.drop(c, "findings_only", rule["why"])

    def uncertain(self) -> None:
        """A diagnosis every mention of which is uncertain is not coded in outpatient care (IV.H). A mention is
        uncertain by ConText, or by a cue inside its own words: "Left shoulder pain, likely rotator cuff tendinopathy"
        is one window from the side to the condition, and ConText reads only the words around a window."""
        for c in self.selected():
            if not c.assertions:
                continue
            own_words = self._description(c.code).lower()
            inside = [i < len(c.sections) and self._uncertain_inside(c.spans[i], own_words)
                      for i in range(len(c.assertions))]
            uncertain = [a.get("uncertain") or cue for a, cue in zip(c.assertions, inside)]
            if any(uncertain) and not any(not any(a.values()) and not cue for a, cue in zip(c.assertions, inside)):
                self.drop(c, "uncertain", self.r.uncertain_why)
                for i, cue in enumerate(inside):
                    if cue and not c.assertions[i].get("uncertain"):
                        self._select_certain_part(c, c.spans[i], own_words)

    def _select_certain_part(self, c: RuledCode, span: tuple[int, int], own_words: str) -> None:
        """Code what a mention states before its uncertainty cue ("Type 2 diabetes, possible gastroparesis": E11.9,
        not E11.43; "Left shoulder pain, likely rotator cuff tendinopathy": M25.512): the best code stated in full by
        those words, all of them."""
        text = self.chart.text
        cue = next((m for m in self.r.uncertain_inside.finditer(text, span[0], span[1])
                    if m.group().lower() not in own_words), None)
        end = len(text[: cue.start()].rstrip(" ,;:-(")) if cue is not None else span[0]
        if end <= span[0]:
            return
        stated = [o for o in self.codes if o is not c and not self.dropped(o)
                  and any(s == span[0] and e == end and coverage >= 0.999
                          for (s, e), coverage in zip(o.spans, o.coverages))]
        if stated:
            best = max(stated, key=lambda o: o.confidence)
            self.select(best.code, self.threshold, "uncertain", self.r.uncertain_certain_part_why)

    def _uncertain_inside(self, span: tuple[int, int], own_words: str) -> bool:
        """Whether an uncertainty cue stands inside the mention's window, not as a word of the code's own term."""
        return any(m.group().lower() not in own_words
                   for m in self.r.uncertain_inside.finditer(self.chart.text, span[0], span[1]))

    def combination(self) -> None:
        stated: list[RuledCode] | None = None
        # The selected codes (and with them the stated ones) by the combination parts they can fill: read again
        # only after a combination has selected or dropped codes.
        chosen: list[RuledCode] | None = None
        parts: dict[bool, dict[tuple[int, int], list[RuledCode]]] = {}
        for i, rule in enumerate(self.r.combinations):
            if chosen is None:
                chosen, parts = self.selected(), {}
            pool = chosen
            if rule.stated:  # "history of CVA with residual left hemiparesis": both stated, whatever their scores
                if stated is None:
                    stated = [c for c in self.codes if self.full_mentions(c, past_counts=True)]
                pool = chosen + [c for c in stated if not c.selected and not self.dropped(c)]
            if rule.stated not in parts:
                parts[rule.stated] = by_part = {}
                for c in pool:
                    for part in self.r.combination_parts.matching(c.code):
                        by_part.setdefault(part, []).append(c)
            groups = self._combination_groups(i, rule, parts[rule.stated])
            if groups is None:
                continue
            if rule.code is not None and rule.code in self.by_code and self.by_code[rule.code].selected \
                    and not any(c.code != rule.code and _matches(rule.drop, c.code) for c in chosen):
                continue
            chosen = None  # the rule acts: the next one reads the selection again
            best = [max(g, key=lambda c: c.confidence) for g in groups]
            named = ", ".join(c.code for c in best)
            if rule.code is not None:
                spans = [s for c in best for s in c.spans]
                confidence = min(c.confidence for c in best)
                self.select(rule.code, max(confidence, self.threshold) if rule.stated else confidence, "combination",
                            f"{rule.why} (from {named})", spans)
            for c in pool:
                if c.code != rule.code and _matches(rule.drop, c.code) and (c.selected or not self.dropped(c)):
                    target = f" by {rule.code}" if rule.code else ""
                    self.drop(c, "combination", f"Replaced{target}: {rule.why}")

    def _combination_groups(self, i: int, rule: _Combination,
                            by_part: dict[tuple[int, int], list[RuledCode]]) -> list[list[RuledCode]] | None:
        """The codes that fill each part of combination ``i`` (a past-only part from past mentions only); ``None``
        when a part has none."""
        groups = []
        for g in range(len(rule.when)):
            group = [c for c in by_part.get((i, g), ()) if not _matches(rule.past_only, c.code) or self._only_past(c)]
            if not group:
                return None
            groups.append(group)
        return groups

    def _only_past(self, c: RuledCode) -> bool:
        """Whether every dictionary mention of ``c`` is a past one ("s/p CVA", "history of stroke")."""
        flags = c.assertions[:len(c.sections)]
        return bool(flags) and all(f.get("historical") for f in flags)

    def unspecified_with_specific(self) -> None:
        chosen = self.selected()
        for c in chosen:
            if not c.selected:
                continue
            for pair in self.r.unspecified_pairs:
                if _matches(pair.first, c.code):
                    better = [o for o in chosen if o.selected and o is not c and _matches(pair.second, o.code)]
                    if better:
                        self.drop(c, "unspecified_with_specific", f"{pair.why} ({better[0].code})")
                        break
            else:
                if self.r.same_subcategory and "unspecified" in self._description(c.code).lower():
                    stem = c.code[:5]
                    better = [o for o in chosen if o.selected and o is not c and len(o.code) > 5 and o.code[:5] == stem
                              and "unspecified" not in self._description(o.code).lower()]
                    if not better and _CATEGORY_UNSPECIFIED.match(c.code):  # "Dorsalgia, unspecified" M54.9
                        better = [o for o in chosen if o.selected and o is not c and o.code[:3] == c.code[:3]
                                  and not _CATEGORY_UNSPECIFIED.match(o.code)]
                    if better:
                        self.drop(c, "unspecified_with_specific",
                                  f"An unspecified code beside a more specific code of the same condition ({better[0].code}): "
                                  "only the specific one (I.A.9)")

    def history_beside_current(self) -> None:
        chosen = self.selected()
        for pair in self.r.history_pairs:
            current = [c for c in chosen if c.selected and _matches(pair.second, c.code)]
            if not current:
                continue
            # The assessment that states the history, and nowhere the condition as current, is what is coded
            # ("Personal history of kidney stones" after "passed a stone 2 years ago").
            stated_history = [c for c in self.codes if _matches(pair.first, c.code) and not self.dropped(c)
                              and self._assessed(c)]
            if stated_history and not any(self._assessed(c) for c in current):
                history = max(stated_history, key=lambda c: c.confidence)
                for c in current:
                    self.drop(c, "history_beside_current", self.r.history_assessed_why)
                self.select(history.code, self.threshold, "history_beside_current", self.r.history_assessed_why)
                continue
            for c in chosen:
                if c.selected and _matches(pair.first, c.code):
                    self.drop(c, "history_beside_current", f"{pair.why} ({current[0].code})")

    @staticmethod
    def _assessed(c: RuledCode) -> bool:
        """Whether ``c`` is stated in full, affirmed and not as past, in the assessment."""
        return any(section == "assessment_and_plan" and coverage >= 0.999 and not any(flags.values())
                   for section, coverage, flags in zip(c.sections, c.coverages, c.assertions))

    def excludes1(self) -> None:
        chosen = self.selected()
        conflicts = excludes1_conflicts(self.codeset, [c.code for c in chosen])
        for conflict in conflicts:
            a, b = self.by_code[conflict.code], self.by_code[conflict.other]
            if not (a.selected and b.selected):
                continue
            loser, winner = (a, b) if a.confidence < b.confidence else (b, a)
            self.drop(loser, "excludes1", f"Excludes1 at {conflict.owner}: {conflict.code} and {conflict.other} are "
                                          f"not coded together; {winner.code} has the stronger evidence")

    def integral_symptom(self) -> None:
        chosen = self.selected()
        for c in chosen:
            for pair in self.r.integral_rows_for(c.code):
                diagnoses = [o for o in chosen if o.selected and o is not c and _matches(pair.first, o.code)
                             and not (pair.skip_seventh and self._seventh(o.code) in pair.skip_seventh)]
                if diagnoses:
                    self.drop(c, "integral_symptom", f"Part of {diagnoses[0].code} {self._description(diagnoses[0].code)}: "
                                                     f"{pair.why} (I.B.5)")
                    break

    def long_term_drug(self) -> None:
        if self.r.drug_pattern is None:
            return
        text = self.chart.text
        found: dict[str, list[tuple[int, int, _Drug]]] = {}
        other_uses = self._not_the_drug
        for start, end in self._affirmed_hits(self.r.drug_pattern, other_uses, self.r.drug_sections_skipped,
                                              also_historical=True):
            drug = self.r.drugs[text[start:end].lower()]
            line = self._line(start)
            if self.r.short_course.search(line) or self.r.poisoning.search(line):
                continue
            needs = self.r.long_term_cues.get(drug.code)
            if needs is not None and not needs.search(line):
                continue
            short = self.r.short_course_by_code.get(drug.code)
            if short is not None and short.search(line):
                continue
            found.setdefault(drug.code, []).append((start, end, drug))
        for code, hits in found.items():
            drug = hits[0][2]
            names = ", ".join(dict.fromkeys(h[2].name for h in hits))
            why = self.r.drug_why.format(drug_class=drug.drug_class, drug=names, code=code)
            self.select(code, self.threshold, "long_term_drug", why, [(s, e) for s, e, _ in hits])
        for c in self.selected():
            if not c.code.startswith("Z79") or c.code in found or not c.spans:
                continue
            lines = [self._line(start) for start, _ in c.spans]
            if all(self.r.poisoning.search(line) for line in lines):
                self.drop(c, "long_term_drug", self.r.poisoning_why)
                continue
            # Read in the mention's sentence: a paragraph may also say why a long-term drug is paused for surgery.
            sentences = [self._sentence(start) for start, _ in c.spans]
            short = self.r.short_course_by_code.get(c.code)
            if all((self.r.single_dose is not None and self.r.single_dose.search(sentence))
                   or (short is not None and short.search(sentence)) for sentence in sentences):
                self.drop(c, "long_term_drug", self.r.short_course_why)

    @functools.cached_property
    def _not_the_drug(self) -> list[tuple[int, int]]:
        """Spans where a drug's name is not the drug ("insulin resistance"), read once for the drug rules."""
        return [m.span() for m in self.r.not_the_drug.finditer(self.chart.text)]

    def _sentence(self, position: int) -> str:
        """The sentence of the chart's text holding ``position`` (bounded by a full stop, ? or ! and a space, or a
        line break)."""
        text = self.chart.text
        start = max(text.rfind("\n", 0, position), *(text.rfind(mark, 0, position) for mark in (". ", "? ", "! ")))
        ends = [i for i in (text.find(mark, position) for mark in ("\n", ". ", "? ", "! ")) if i >= 0]
        return text[start + 1: min(ends) if ends else len(text)]

    def _line(self, position: int) -> str:
        """The line of the chart's text holding ``position``."""
        text = self.chart.text
        end = text.find("\n", position)
        return text[text.rfind("\n", 0, position) + 1: end if end >= 0 else len(text)]

    def treated_condition(self) -> None:
        """A documented chronic condition with a drug taken now that treats it is coded (IV.J)."""
        text = self.chart.text
        other_uses = self._not_the_drug
        drugs_for: dict[tuple[CodeRef, ...], list[str]] = {}
        for start, end in self._affirmed_hits(self.r.treated_pattern, other_uses, self.r.treated_sections_skipped,
                                              also_historical=True):
            drug = text[start:end].lower()
            for condition in self.r.treats[drug]:
                drugs_for.setdefault(condition, []).append(drug)
        for condition, drugs in drugs_for.items():
            if any(c.selected and _matches(condition, c.code) for c in self.codes):
                continue
            stated = [c for c in self.codes if _matches(condition, c.code) and self.full_mentions(c, past_counts=True)
                      and not self.dropped(c)]
            if stated:
                best = max(stated, key=lambda c: c.confidence)
                self.select(best.code, self.threshold, "treated_condition",
                            self.r.treated_why.format(drug=", ".join(dict.fromkeys(drugs))))

    def site_in_findings(self) -> None:
        """A site the findings state more precisely than the assessment ("a stone in the proximal right ureter"
        for "kidney stone") takes its code."""
        for refs, sentence, becomes, why in self.r.site_rules:
            chosen = [c for c in self.selected() if _matches(refs, c.code) and c.code != becomes]
            if not chosen:
                continue
            hits = self._affirmed_hits(sentence)
            if not hits:
                continue
            self.replace(chosen, becomes, "site_in_findings", why, hits[:3])

    def _affirmed_hits(self, pattern: re.Pattern, inside: Sequence[tuple[int, int]] = (),
                       sections_skipped: frozenset[str] = frozenset({"family_history"}),
                       also_historical: bool = False) -> list[tuple[int, int]]:
        """Spans of ``pattern`` in the chart that are affirmed (not negated, hypothetical or a relative's; with
        ``also_historical``, not past either), outside ``sections_skipped`` and not inside one of the ``inside``
        spans."""
        hits = []
        for m in pattern.finditer(self.chart.text):
            if any(s <= m.start() < e for s, e in inside):
                continue
            if self.chart.assert_span is not None:
                section, flags = self.chart.assert_span(m.start(), m.end())
                if section in sections_skipped or flags.get("negated") or flags.get("family") \
                        or flags.get("hypothetical") or (also_historical and flags.get("historical")):
                    continue
            hits.append(m.span())
        return hits

    def tobacco(self) -> None:
        rules = self.r.tobacco
        former = self._affirmed_hits(self.r.tobacco_former)
        current = self._affirmed_hits(self.r.tobacco_current, inside=former)
        if not current and not former:
            current = self._affirmed_hits(self.r.tobacco_quantity, inside=former)
        if former and not current:  # a former smoker: the history code, not dependence
            dependence = [c for c in self.selected() if _matches(self.r.tobacco_dependence, c.code)]
            for c in dependence:
                self.drop(c, "tobacco", rules["why_former"])
            if dependence:
                self.select(rules["former_code"], max(c.confidence for c in dependence), "tobacco", rules["why_former"],
                            former[:3])
            return
        if not current:
            return
        product = rules["current_code"] if self.r.tobacco_cigarettes.search(self.chart.text) else rules["current_unstated_code"]
        other = self.by_code.get(rules["current_unstated_code"] if product == rules["current_code"] else rules["current_code"])
        if other is not None and other.selected:
            self.drop(other, "tobacco", rules["why_current"])
        code = self.select(product, self.threshold, "tobacco", rules["why_current"], current[:3])
        history = self.by_code.get(rules["former_code"])
        if code is not None and history is not None and history.selected:
            self.drop(history, "tobacco", rules["why_current"])
        counseling = self._affirmed_hits(self.r.tobacco_counseling)
        if counseling:
            self.select(rules["counseling_code"], self.threshold, "tobacco", rules["why_counseling"], counseling[:3])

    def _called_bilateral(self, c: RuledCode, reach: int = 40) -> list[tuple[int, int]]:
        """The affirmed evidence spans of ``c`` that the chart calls bilateral."""
        text, r = self.chart.text, self.r
        return [(s, e) for (s, e), flags in zip(c.spans, c.assertions) if not any(flags.values())
                and (r.bilateral_inside.search(text, s, e) or r.bilateral_before.search(text[max(0, s - reach): s])
                     or r.bilateral_after.search(text[e: e + reach]))]

    def side_not_stated(self) -> None:
        """A right- or left-side code whose evidence states no side gives way to its family's unspecified-side code
        (I.B.13)."""
        for c in list(self.codes):
            own = self._mention_spans(c)
            if not own or self.dropped(c):
                continue
            family = self.codeset.side_family(c.code)
            if not family or family[c.code] not in ("right", "left"):
                continue
            if any(self._clause_names_a_side(s, e) for s, e in own):
                continue
            unspecified = next((code for code, side in family.items() if side == "unspecified"), None)
            if unspecified is None:
                continue
            self._prefer(unspecified, c, "side_not_stated", self.r.side_not_stated["why"].format(code=c.code))

    @staticmethod
    def _mention_spans(c: RuledCode) -> list[tuple[int, int]]:
        """The spans of ``c``'s dictionary mentions (the words its terms matched; not the classifier's evidence)."""
        return c.spans[:len(c.sections)]

    def _prefer(self, code: str, worse: RuledCode, rule: str, why: str) -> None:
        """Rank ``code`` above ``worse``, and select it instead of ``worse`` when ``worse`` was selected."""
        better = self.by_code.get(code)
        if worse.selected:
            self.replace([worse], code, rule, why)
        elif better is not None and better.confidence <= worse.confidence and not worse.demoted:
            better.confidence, worse.confidence = worse.confidence, better.confidence
            better.demoted, worse.demoted = False, True
            worse.rules.append(RuleNote(rule, "note", why))

    def displaced_default(self) -> None:
        """A fracture not documented as displaced or nondisplaced is coded displaced (I.C.19.c.1): a selected fracture
        code of an unspecified part or type gives way to the displaced fracture of its category whose other words the
        same clause states ("Right middle finger distal phalanx fracture" is S62.632A, not S62.602A "Fracture of
        unspecified phalanx of right middle finger")."""
        rule = self.r.displaced
        normalizer = default_normalizer()
        for c in self.selected():
            description = self._description(self._stem_code(c.code)).lower()
            if not c.code.startswith("S") or "fracture" not in description or "unspecified" not in description:
                continue
            for start, end in self._mention_spans(c):
                lo, hi = self._clause_bounds(start, end)
                if rule["documented"].search(self.chart.text, lo, hi):
                    continue
                said = {stem for _, _, stems in self._words_in(lo, hi) for stem in stems}
                fits = []
                for o in self.codes:
                    # Same category, same 7th character (the encounter the chart gave the fracture).
                    if o is c or o.code[:3] != c.code[:3] or o.code[-1:] != c.code[-1:] or self.dropped(o):
                        continue
                    words = self._description(self._stem_code(o.code))
                    if not words.lower().startswith("displaced "):
                        continue
                    stems = set(normalizer.stems(words)) - rule["default_stems"]
                    if stems <= said:
                        fits.append((len(stems), o.confidence, o))
                if fits:
                    best = max(fits, key=lambda f: f[:2])[2]
                    self.replace([c], best.code, "displaced_default", rule["why"].format(code=best.code))
                    break

    def _stem_code(self, code: str) -> str:
        """The tabular code a 7th character was added to (the code itself when it has none)."""
        return self.codeset.seventh_character_stem(code) or code

    def _clause_bounds(self, start: int, end: int) -> tuple[int, int]:
        """The character bounds of the clause or list item holding ``start:end``."""
        breaks = self._clause_breaks
        k = bisect.bisect_left(breaks, start)
        lo = breaks[k - 1] + 1 if k else 0
        k = bisect.bisect_left(breaks, end)
        return lo, breaks[k] if k < len(breaks) else len(self.chart.text)

    def unstated_qualifier(self) -> None:
        """A code that rules a qualifier out ("Migraine without aura") where the code set also has the code that leaves
        it unspecified (G43.9- "Migraine, unspecified") needs the chart to say so; else the unspecified code is coded,
        as the Alphabetic Index sends "Migraine" to G43.909."""
        for c in self.selected():
            for prefix, unspecified, said in self.r.unstated:
                if not c.code.startswith(prefix) or said.search(self.chart.text):
                    continue
                target = unspecified + c.code[len(prefix):]
                if target in self.codeset and target != c.code:
                    self.replace([c], target, "unstated_qualifier", self.r.unstated_why.format(code=target))
                break

    def other_or_unspecified(self) -> None:
        """'Other' and 'unspecified' siblings are told apart by the word 'other' before or within the evidence
        (I.A.9), or by a named drug that the Table of Drugs classifies under the 'other' code."""
        rule = self.r.other_or_unspecified
        words, text = self.chart_words, self.chart.text
        groups: dict[tuple[str, tuple[str, ...]], list[tuple[int, int, RuledCode]]] = {}
        for c in self.codes:
            if not self._mention_spans(c) or self.dropped(c):
                continue
            n_other, n_unspecified, key = self.r.other_words_of(c.code, self.codeset)
            groups.setdefault((c.code[:3], key), []).append((n_other, n_unspecified, c))
        for group in groups.values():
            if len(group) < 2:
                continue  # no sibling to tell it from
            more_other = max(group, key=lambda g: (g[0], -g[1]))
            less_other = min(group, key=lambda g: (g[0], -g[1]))
            if not (more_other[0] > less_other[0] and less_other[1] > more_other[1]):
                continue  # not an 'other' and an 'unspecified' sibling ("with" and "without" complications)
            other, unspecified = more_other[2], less_other[2]
            # The chart names what the 'other' code includes ("anterior talofibular ligament" under S93.49-, "Sprain
            # of talofibular ligament"): its full term explains more of the words than the unspecified code's.
            explained = said = self._explains_more(other, unspecified)
            for start, end in self._mention_spans(other):
                first = bisect.bisect_left(self._word_starts, start)
                before = words[max(0, first - int(rule["reach"])): first]
                said |= any(text[s:e].lower() == "other" for s, e, _ in before)
                # Within the words, a named drug the Table of Drugs puts under the 'other' code ("quetiapine":
                # T43.59) says 'other' too.
                said |= any(word == "other" or other.code.startswith(self.r.drug_category.get(word, "-"))
                            for word in (text[s:e].lower() for s, e, _ in self._words_in(start, end)))
            if said:
                why = rule.get("why_named", rule["why_other"]) if explained else rule["why_other"]
                self._prefer(other.code, unspecified, "other_or_unspecified", why)
            else:
                self._prefer(unspecified.code, other, "other_or_unspecified", rule["why_unspecified"])

    def _explains_more(self, c: RuledCode, other: RuledCode) -> bool:
        """Whether a full mention of ``c`` explains more of the chart's words than every mention of ``other`` that
        overlaps it, unless an assessment item is ``other`` itself and no more ("• Constipation" beside "chronic
        abdominal pain, constipation" elsewhere): the provider's conclusion is what is coded."""
        if not c.matched or not other.matched:
            return False
        full = [span for span, coverage in zip(c.spans, c.coverages) if coverage >= 0.999]
        if any(section == "assessment_and_plan" and not any(s < fe and fs < e for fs, fe in full)
               and self._whole_line(s, e) for (s, e), section in zip(other.spans, other.sections)):
            return False
        for (start, end), coverage, n in zip(c.spans, c.coverages, c.matched):
            if coverage < 0.999:
                continue
            overlapping = [m for (s, e), m in zip(other.spans, other.matched) if s < end and start < e]
            if overlapping and n > max(overlapping):
                return True
        return False

    def _clause_names_a_side(self, start: int, end: int) -> bool:
        """Whether the clause or list item holding ``start:end`` has a side word."""
        lo, hi = self._clause_bounds(start, end)
        sides = self._side_word_starts
        k = bisect.bisect_left(sides, lo)
        return k < len(sides) and sides[k] < hi

    def bilateral(self) -> None:
        """A condition called bilateral takes the bilateral code, or the right and the left code where the code
        set has none (I.B.13)."""
        rule = self.r.bilateral
        for c in self.selected():
            family = self.codeset.side_family(c.code)
            if not family or family[c.code] == "bilateral":
                continue
            spans = self._called_bilateral(c)
            if not spans:
                continue
            by_side = {side: code for code, side in family.items()}
            if "bilateral" in by_side:
                self.select(by_side["bilateral"], max(c.confidence, self.threshold), "bilateral", rule["why_bilateral"], spans)
                self.drop(c, "bilateral", rule["why_dropped"].format(codes=by_side["bilateral"]))
                continue
            for side in ("right", "left"):
                self.select(by_side[side], max(c.confidence, self.threshold), "bilateral", rule["why_both"], spans)
            if family[c.code] == "unspecified":
                self.drop(c, "bilateral", rule["why_dropped"].format(codes=f"{by_side['right']} and {by_side['left']}"))

    def _site(self, description: str) -> tuple[str, ...]:
        """The stems of the site a side word qualifies in ``description`` ("Pain in right knee" -> ("knee",))."""
        stems = default_normalizer().stems(description)
        for i, stem in enumerate(stems):
            if stem in ("right", "left"):
                width = 2 if stems[i + 1: i + 2] and stems[i + 1] in self.r.two_word_sites else 1
                return tuple(stems[i + 1: i + 1 + width])
        return ()

    @functools.cached_property
    def chart_words(self) -> list[tuple[int, int, tuple[str, ...]]]:
        """The chart's words: span and content stems (read once per chart, when a rule needs them)."""
        normalizer = default_normalizer()
        stems_of = normalizer.word_stems
        if self.chart.words is not None:
            return [(start, end, stems_of(key)) for start, end, key in self.chart.words]
        return [(w.start, w.end, stems_of(w.key)) for w in normalizer.words(self.chart.text)]

    @functools.cached_property
    def _word_starts(self) -> list[int]:
        return [start for start, _, _ in self.chart_words]

    def _words_in(self, start: int, end: int) -> Iterator[tuple[int, int, tuple[str, ...]]]:
        """The chart's words inside ``start:end``, in order."""
        words = self.chart_words
        for k in range(bisect.bisect_left(self._word_starts, start), len(words)):
            if words[k][1] > end:
                return
            yield words[k]

    @functools.cached_property
    def _clause_breaks(self) -> list[int]:
        return [m.start() for m in _CLAUSE_BREAK.finditer(self.chart.text)]

    @functools.cached_property
    def _side_word_starts(self) -> list[int]:
        return [start for start, _, stems in self.chart_words if _SIDE_STEMS.intersection(stems)]

    def _sides_of_site(self, site: tuple[str, ...]) -> dict[str, list[tuple[int, int]]]:
        """Each side the chart gives ``site`` in an affirmed statement, with the spans that say so."""
        words, text, reach = self.chart_words, self.chart.text, int(self.r.side_rule["reach"])
        found: dict[str, list[tuple[int, int]]] = {}
        for i in range(len(words) - len(site) + 1):
            if any(site[k] not in words[i + k][2] for k in range(len(site))):
                continue
            end = words[i + len(site) - 1][1]
            for j in range(i - 1, max(-1, i - reach - 1), -1):
                if _CLAUSE_BREAK.search(text, words[j][1], words[j + 1][0]):
                    break  # another sentence or list item
                side = next((s for s in ("right", "left", "bilateral") if s in words[j][2]), None)
                if side is None:
                    continue
                if self.chart.assert_span is not None:
                    section, flags = self.chart.assert_span(words[j][0], end)
                    if section == "family_history" or any(flags.get(f) for f in ("negated", "family", "hypothetical", "historical")):
                        break
                found.setdefault(side, []).append((words[j][0], end))
                break
        return found

    def side_from_chart(self) -> None:
        """An unspecified-side code takes the side the chart gives its site elsewhere (I.B.13)."""
        for c in self.selected():
            family = self.codeset.side_family(c.code)
            if not family or family[c.code] != "unspecified":
                continue
            by_side = {side: code for code, side in family.items()}
            site = self._site(self._description(by_side["right"]))
            if not site:
                continue
            sides = self._sides_of_site(site)
            if len(sides) != 1 or "bilateral" in sides:
                continue
            side, spans = next(iter(sides.items()))
            s, e = spans[0]
            why = self.r.side_rule["why"].format(site=" ".join(site), words=self.chart.text[s:e])
            self.select(by_side[side], max(c.confidence, self.threshold), "side_from_chart", why, spans[:3])
            self.drop(c, "side_from_chart", why)

    def side_in_mention(self) -> None:
        """An unspecified-side code whose own words the chart gives a side ("left allergic conjunctivitis", "Right leg
        contusion": the side word just before the matched words or among them, in the same clause) takes that side's
        code (I.B.13): the lexicon and the code set name the condition without the side, the chart with it."""
        reach = int(self.r.side_in_mention["reach"])
        for c in self.selected():
            family = self.codeset.side_family(c.code)
            if not family or family[c.code] != "unspecified":
                continue
            by_side = {side: code for code, side in family.items()}
            said: dict[str, list[tuple[int, int]]] = {}
            for (s, e), flags in zip(self._mention_spans(c), c.assertions):
                if any(flags.values()):
                    continue
                side = self._side_at(s, e, reach)
                if side is not None:
                    said.setdefault(side, []).append((s, e))
            if len(said) != 1:
                continue
            side, spans = next(iter(said.items()))
            if side not in by_side:
                continue
            s, e = spans[0]
            why = self.r.side_in_mention["why"].format(words=self.chart.text[s:e], side=side)
            self.select(by_side[side], max(c.confidence, self.threshold), "side_in_mention", why, spans[:3])
            self.drop(c, "side_in_mention", why)

    def _side_at(self, start: int, end: int, reach: int) -> str | None:
        """The one side ("right", "left", "bilateral") said among the words of ``start:end`` or in the ``reach`` words
        before them within their clause, else None."""
        words, starts = self.chart_words, self._word_starts
        lo, _ = self._clause_bounds(start, end)
        k = bisect.bisect_left(starts, start)
        first = max(k - reach, bisect.bisect_left(starts, lo))
        last = bisect.bisect_left(starts, end)
        sides = {side for _, _, stems in words[first:last] for side in ("right", "left", "bilateral") if side in stems}
        return next(iter(sides)) if len(sides) == 1 else None

    def vaccination(self) -> None:
        for code in self.r.vaccine_codes:
            c = self.by_code.get(code)
            if c is not None and c.selected and not self.r.vaccine_given.search(self.chart.text):
                self.drop(c, "vaccination", self.r.vaccination["why"])

    def _is_this_visit(self, c: RuledCode) -> bool:
        """Whether one of ``c``'s affirmed mentions names this visit: in the chief complaint, as an assessment item
        ("1. Annual exam."), or in a sentence that says the patient came for it ("presents for her annual exam"),
        not a past or planned one."""
        text = self.chart.text
        for i, (section, flags) in enumerate(zip(c.sections, c.assertions)):
            if any(flags.values()):
                continue
            if section in self.r.exam_visit_sections:
                return True
            start, end = c.spans[i]
            if section in self.r.exam_item_sections and c.coverages[i] >= 0.999 and self._starts_line(start):
                return True
            before = _CLAUSE_BREAK.split(text[max(0, start - 120): start])[-1]
            if self.r.exam_visit_cues.search(before):
                return True
        return False

    def general_exam(self) -> None:
        """A general adult examination named as this visit's reason is coded, whatever the ranker thought of it: Z00.01
        when other conditions were addressed, else Z00.00; one that is not this visit's reason is not."""
        exam = self.r.exam
        codes = (exam["without_findings"], exam["with_findings"])
        candidates = [self.by_code[c] for c in codes if c in self.by_code]
        this_visit = [c for c in candidates if c.spans and self._is_this_visit(c)]
        # The ranker's doubt is overruled only where the words name an examination ("annual exam", "physical"):
        # an "annual visit" may be the yearly follow-up of chronic conditions, which is no Z00 visit.
        named = [c for c in this_visit
                 if any(self.r.exam_named.search(self.chart.text[s:e]) for s, e in c.spans)]
        current = [c for c in candidates if c.selected or c in named]
        if not current:
            return
        if not this_visit:
            for c in current:
                self.drop(c, "general_exam", exam["why_not_this_visit"])
            return
        findings = [c for c in self.selected() if c.code not in codes and not c.code.startswith("Z")]
        want = exam["with_findings"] if findings else exam["without_findings"]
        why = exam["why_with"] if findings else exam["why_without"]
        if findings:
            why = f"{why} ({', '.join(c.code for c in findings[:4])})"
        self.replace(current, want, "general_exam", why, list(max(current, key=lambda c: c.confidence).spans))

    def external_cause(self) -> None:
        """External causes (V00-Y99) rank after the selected codes of other chapters; unspecified place, activity
        and status are not assigned; in the settings of `optional_in` none is selected (I.C.20)."""
        external = [c for c in self.codes if _matches(self.r.external_causes, c.code)]
        if not external:
            return
        others = [c.confidence for c in self.codes if c.selected and not _matches(self.r.external_causes, c.code)]
        lowest = min(others) if others else None
        for c in external:
            if c.code in self.r.external_not_assigned:
                self.drop(c, "external_cause", self.r.external["why_not_assigned"],
                          at_most=self.r.external["not_assigned_confidence"])
            elif c.selected and self.setting in self.r.external_optional_in:
                self.drop(c, "external_cause", self.r.external["why_optional"])
            if lowest is not None and c.confidence >= lowest:
                c.confidence = lowest
                c.demoted = True
                if not any(n.rule == "external_cause" for n in c.rules):
                    c.rules.append(RuleNote("external_cause", "note", self.r.external["why_sequence"]))

    def companion(self) -> None:
        for c in self.selected():
            for pair in self.r.companions:
                if not _matches(pair.first, c.code):
                    continue
                if any(o.selected and _matches(pair.second, o.code) for o in self.codes):
                    continue
                share = self.r.companion_share if pair.min_share is None else pair.min_share
                options = [o for o in self.codes if _matches(pair.second, o.code)
                           and not self.dropped(o)
                           and o.confidence >= share * self.threshold
                           and (not pair.needs_affirmed or any(not any(a.values()) for a in o.assertions))]
                if options:
                    best = max(options, key=lambda o: o.confidence)
                    self.select(best.code, self.threshold, "companion", f"{pair.why}: coded with {c.code}")
                elif pair.note_when_missing:
                    c.rules.append(RuleNote("companion", "note", f"{pair.why}: no such code is documented clearly"))


@functools.lru_cache(maxsize=1)
def default_rules() -> CodingRules:
    """The coding rules shipped in ``suggest/resources`` (compiled once)."""
    return CodingRules(load_json("coding_rules.json"), load_json("integral_symptoms.json"),
                       read_text("long_term_drugs.tsv"), load_json("demographic_edits.json"))
