"""Completeness and consistency checks of a coded chart, for coders before they submit.

Document checks (rules are data: ``resources/completeness.json``): provider signature and document date,
patient identifiers (name, date of birth, MRN), required sections per document type (headers from
``resources/section_headers.json`` plus the extra ones in the rules file), severities per document type; a field
of the coder's form (:class:`ChartForm`) satisfies the check the rules map it to (a date on the form, the date check).

Code checks (against the ICD-10-CM release): each code valid and billable (a non-billable code lists billable
children), missing 7th characters, Excludes1 conflicts among the chosen codes, the code edits of
:mod:`suggest.code_edits` (combination codes, unspecified beside specific, integral symptoms, companions, age and
sex, codes whose only evidence is not affirmed), and "code first", "code also" and "use additional code" notes,
with the code references in the notes parsed (``"(E10.-)"``, ``"(E08-E13)"``).

>>> from suggest.completeness import check_chart
>>> [f.rule for f in check_chart("Assessment: type 2 diabetes.", ["E11.9", "E11.65"])]  # doctest: +SKIP
['signature', 'document_date', ..., 'unspecified_with_specific']
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from suggest.codeset.notes import (  # noqa: F401  (CodeRef and parse_code_refs are part of this API)
    CodeRef,
    excludes1_conflicts,
    group_notes,
    own_notes,
    parse_code_refs,
)

Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}

@dataclass(frozen=True, slots=True)
class Finding:
    """One completeness or consistency problem.

    ``rule`` names the check (``"signature"``, ``"excludes1"``, ...); ``severity`` is ``"error"`` (fix before
    submitting), ``"warning"`` (review) or ``"info"`` (consider). ``code`` is set for code checks; ``start`` and
    ``end`` index the text when the finding points at a span.
    """

    rule: str
    severity: Severity
    message: str
    code: str | None = None
    start: int | None = None
    end: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "severity": self.severity, "message": self.message}
        for name in ("code", "start", "end"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True, slots=True)
class ChartForm:
    """What the coder's form says of the chart besides its text. A field filled in satisfies the document checks
    the rules file maps it to (``form_fields``: a date on the form satisfies "No document date found"); ``sex`` and
    ``age_years`` drive the age and sex edits, before what the text says."""

    patient_id: str | None = None
    encounter_id: str | None = None
    provider: str | None = None
    #: Who authenticated the document (FHIR ``DocumentReference.authenticator``, a Composition's legal attester).
    signed_by: str | None = None
    document_date: dt.date | None = None
    sex: str | None = None
    age_years: float | None = None

    def filled(self) -> set[str]:
        """The names of the fields given (not blank)."""
        return {f.name for f in dataclasses.fields(self)
                if (value := getattr(self, f.name)) is not None and str(value).strip()}


@dataclass(frozen=True)
class CompletenessRules:
    """The rules data file, compiled."""

    data: dict[str, Any]

    @classmethod
    def from_file(cls, path: str | Path) -> CompletenessRules:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    @functools.cached_property
    def document_types(self) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.data["document_types"].items() if not k.startswith("_")}

    @property
    def default_document_type(self) -> str:
        return self.data["default_document_type"]

    @functools.cached_property
    def _compiled(self) -> dict[str, Any]:
        d = self.data
        flags = re.MULTILINE
        date = d["document_date"]["date"]
        labels = "|".join(f"(?:{x})" for x in d["document_date"]["labels"])
        return {
            "signature": [re.compile(p, flags) for p in d["signature"]["patterns"]],
            "date": re.compile(date, flags),
            "labelled_date": re.compile(
                rf"(?i)\b(?:{labels})\b[ \t]*[:#-]?[ \t]*(?:{date.removeprefix('(?i)')})", flags),
            "ids": {kind: [re.compile(p, flags) for p in d["patient_identifiers"][kind]]
                    for kind in ("name", "dob", "mrn")},
        }

    @functools.cached_property
    def section_detector(self):
        from suggest.pipeline.resources import load_json
        from suggest.pipeline.sections import SectionDetector

        headers: dict[str, list[str]] = {k: list(v) for k, v in load_json("section_headers.json")["sections"].items()}
        extra = {k: v for k, v in self.data.get("sections", {}).items() if not k.startswith("_")}
        taken = {h.lower() for v in extra.values() for h in v}
        headers = {k: [h for h in v if h.lower() not in taken] for k, v in headers.items()}
        headers.update(extra)
        return SectionDetector(headers)


@functools.lru_cache(maxsize=1)
def default_rules() -> CompletenessRules:
    """The rules shipped with the package (``suggest/resources/completeness.json``)."""
    text = resources.files("suggest.resources").joinpath("completeness.json").read_text(encoding="utf-8")
    return CompletenessRules(json.loads(text))


def detect_sections(text: str, rules: CompletenessRules | None = None) -> dict[str, tuple[int, int]]:
    """Sections present in ``text``: name -> (start, end) of its first occurrence."""
    rules = rules or default_rules()
    found: dict[str, tuple[int, int]] = {}
    for section in rules.section_detector.find(text):
        found.setdefault(section.name, (section.start, section.end))
    return found


def check_document(text: str, document_type: str | None = None, rules: CompletenessRules | None = None,
                   form: ChartForm | None = None) -> list[Finding]:
    """Document-level findings: signature, date, patient identifiers, required sections; a check that a filled-in
    ``form`` field satisfies (``form_fields`` of the rules) is skipped.

    Raises ``ValueError`` for an unknown ``document_type`` (the message lists the known ones).
    """
    rules = rules or default_rules()
    doc_type = document_type or rules.default_document_type
    if doc_type not in rules.document_types:
        raise ValueError(f"unknown document_type {doc_type!r}; known: {', '.join(sorted(rules.document_types))}")
    c = rules._compiled
    d = rules.data
    spec = rules.document_types[doc_type]
    overrides = spec.get("severity", {})
    satisfied = {rule for name in (form.filled() if form else ()) for rule in d.get("form_fields", {}).get(name, ())}
    out: list[Finding] = []

    def add(rule: str, severity: Severity, message: str) -> None:
        severity = overrides.get(rule, severity)
        if rule not in satisfied and severity is not None:
            out.append(Finding(rule, severity, message))

    signature = next((m for p in c["signature"] if (m := p.search(text))), None)
    if signature is None:
        add("signature", d["signature"]["severity"],
            "No provider signature found (e.g. 'Electronically signed by Jane Doe, MD').")
    dated = c["labelled_date"].search(text)
    if dated is None and signature is not None:
        line_end = text.find("\n", signature.start())
        dated = c["date"].search(text[signature.start(): line_end if line_end >= 0 else len(text)])
    if dated is None:
        add("document_date", d["document_date"]["severity"],
            "No document date found (e.g. 'Date of service: 03/14/2026'), and none on the form.")
    labels = {"name": "patient name", "dob": "date of birth", "mrn": "medical record number (MRN)"}
    for kind, patterns in c["ids"].items():
        if not any(p.search(text) for p in patterns):
            add(f"patient_{kind}", d["patient_identifiers"]["severity"], f"No {labels[kind]} found in the document.")
    present = detect_sections(text, rules)
    for alternatives in spec["required_sections"]:
        if not any(name in present for name in alternatives):
            names = " or ".join(a.replace("_", " ") for a in alternatives)
            add("required_section", "warning", f"{spec.get('label', doc_type)}: missing section {names}.")
    return out


def _short(note: str, limit: int = 140) -> str:
    note = " ".join(note.lstrip(" ,;").split())
    return note if len(note) <= limit else note[: limit - 1] + "…"


def _companion(out: list[Finding], code: str, owner: str, rule: str, verb: str, note: str, chosen: list[str],
               covered: list[CodeRef] = ()) -> None:
    refs = parse_code_refs(note)
    if not refs or any(r.matches(other) for other in chosen if other != code for r in refs):
        return
    if any(c.matches(r.lo) for r in refs for c in covered):  # a curated companion reports it (missing_companion)
        return
    level: Severity = "info" if rule == "use_additional_code" or "applicable" in note.lower() else "warning"
    where = "" if owner == code else f" (note at {owner})"
    out.append(Finding(rule, level, f"{code}: {verb}{where}: {_short(note, 240)}", code=code))


def check_codes(codes: list[str], codeset=None, *, text: str | None = None, form: ChartForm | None = None,
                mentions: list | None = None) -> list[Finding]:
    """Code-level findings: validity, billability, 7th characters, Excludes1 conflicts, the code edits of
    :mod:`suggest.code_edits` (combinations, unspecified beside specific, integral symptoms, companions, age and sex),
    and code-first, code-also and use-additional-code notes.

    ``text`` is the chart's: it gives the patient's sex and age where ``form`` does not, decides whether a
    conditional "use additional code" note applies (tobacco exposure only on a chart that speaks of tobacco), and,
    with ``mentions`` (:func:`suggest.code_edits.code_mentions`), finds codes whose only evidence is negated, a
    relative's, hypothetical or past. Code findings point at the code's first affirmed mention when there is one."""
    from suggest import code_edits
    from suggest.encoder.patient import Patient, read_patient

    if codeset is None:
        from suggest.codeset import load_codeset

        codeset = load_codeset()
    out: list[Finding] = []
    chosen = list(dict.fromkeys(codeset.normalize(c) for c in codes if str(c).strip()))
    valid: list[str] = []
    for code in chosen:
        v = codeset.validate(code)
        if v.status == "invalid":
            near = f" Did you mean {', '.join(v.near_matches[:5])}?" if v.near_matches else ""
            out.append(Finding("invalid_code", "error", f"{code} is not an ICD-10-CM code in this release.{near}",
                               code=code))
            continue
        valid.append(code)
        if v.status == "not_billable":
            out.append(not_billable_finding(codeset, code, v.billable_descendants))
    # Excludes1: the two codes cannot be reported together (checked once per pair).
    excludes1 = excludes1_conflicts(codeset, valid)
    for c in excludes1:
        out.append(Finding("excludes1", "error", f"{c.code} and {c.other} should not be coded together: Excludes1 at "
                                                 f"{c.owner}: {_short(c.note)}", code=c.code))
    edits = code_edits.default_edits()
    out += code_edits.check_code_pairs(valid, codeset, edits, [(c.code, c.other) for c in excludes1])
    form = form or ChartForm()
    given = Patient(form.sex, form.age_years)
    patient = read_patient(text, form.sex, form.age_years) if text else given
    out += code_edits.check_demographics(valid, patient, given, edits)
    if text is not None and mentions is not None:
        out += code_edits.check_evidence(valid, text, mentions, codeset, edits)
    # Companions. "Code first" notes written on one code list alternative underlying conditions: one finding
    # per code that carries them, when none of the cited codes is chosen (warning; info when "if applicable").
    # "Use additional code" and "code also" notes are separate instructions: one finding each (info); an item of a
    # conditional note ("to identify tobacco use (Z72.0)") only when the chart speaks of it.
    silent = edits.unmentioned_families(text, valid)
    for code in valid:
        covered = code_edits.companion_refs(code, edits)
        for owner, notes in own_notes(codeset, code, "code_first"):
            groups = group_notes(notes)
            _companion(out, code, owner, "code_first", "code first", "; ".join(groups), valid)
        for kind, verb in (("use_additional_code", "use additional code"), ("code_also", "code also")):
            for owner, notes in own_notes(codeset, code, kind):
                notes = [n for n in notes if not _silenced(n, silent)]
                for group in group_notes(notes):
                    _companion(out, code, owner, kind, verb, group, valid, covered)
    if mentions:
        out = [_located(f, mentions, codeset) for f in out]
    return out


def not_billable_finding(codeset, code: str, billable_children: list[str]) -> Finding:
    """The finding for a code that is not billable: the 7th character it needs, or its billable children."""
    info = codeset.get(code)
    kids = ", ".join(billable_children[:8])
    if info is not None and info.seventh_characters:
        chars = "; ".join(f"{k} {m}" for k, m in list(info.seventh_characters.items())[:6])
        return Finding("seventh_character", "error", f"{code} needs a 7th character ({chars}); pad with X to 6 "
                                                     f"characters first. Billable codes: {kids}.", code=code)
    return Finding("not_billable", "error", f"{code} is not billable: choose a more specific code ({kids}).",
                   code=code)


def _silenced(note: str, families) -> bool:
    """Whether every code reference of a note item falls in a conditional family that does not apply."""
    refs = parse_code_refs(note)
    return bool(refs) and all(any(f_ref.matches(r.lo) for f in families for f_ref in f.refs) for r in refs)


def _located(finding: Finding, mentions, codeset) -> Finding:
    """The finding pointing at its code's first affirmed mention, when it points nowhere yet."""
    from suggest.code_edits import affirmed_span

    if finding.code is None or finding.start is not None:
        return finding
    span = affirmed_span(finding.code, mentions, codeset)
    return finding if span is None else dataclasses.replace(finding, start=span[0], end=span[1])


def check_chart(text: str, codes: list[str], document_type: str | None = None, codeset=None,
                rules: CompletenessRules | None = None, *, form: ChartForm | None = None,
                mentions: list | None = None) -> list[Finding]:
    """All findings for a chart, errors first (``form`` and ``mentions`` as :func:`check_document` and
    :func:`check_codes` take them)."""
    findings = check_document(text, document_type, rules, form) + check_codes(codes, codeset, text=text, form=form,
                                                                               mentions=mentions)
    return sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity])
