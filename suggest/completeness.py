"""Completeness and consistency checks of a coded chart, for coders before they submit.

Document checks (rules are data: ``resources/completeness.json``): provider signature and document date,
patient identifiers (name, date of birth, MRN), required sections per document type (headers from
``resources/section_headers.json`` plus the extra ones in the rules file).

Code checks (against the ICD-10-CM release): each code valid and billable (a non-billable code lists billable
children), missing 7th characters, Excludes1 conflicts among the chosen codes, and missing "code first" /
"use additional code" companions, with the code references in the notes parsed (``"(E10.-)"``, ``"(E08-E13)"``).

>>> from suggest.completeness import check_chart
>>> [f.rule for f in check_chart("Assessment: type 2 diabetes.", ["E11.9", "E10.9"])]  # doctest: +SKIP
['signature', 'document_date', ..., 'excludes1']
"""

from __future__ import annotations

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


def check_document(text: str, document_type: str | None = None,
                   rules: CompletenessRules | None = None) -> list[Finding]:
    """Document-level findings: signature, date, patient identifiers, required sections.

    Raises ``ValueError`` for an unknown ``document_type`` (the message lists the known ones).
    """
    rules = rules or default_rules()
    doc_type = document_type or rules.default_document_type
    if doc_type not in rules.document_types:
        raise ValueError(f"unknown document_type {doc_type!r}; known: {', '.join(sorted(rules.document_types))}")
    c = rules._compiled
    d = rules.data
    out: list[Finding] = []
    signature = next((m for p in c["signature"] if (m := p.search(text))), None)
    if signature is None:
        out.append(Finding("signature", d["signature"]["severity"],
                           "No provider signature found (e.g. 'Electronically signed by Jane Doe, MD')."))
    dated = c["labelled_date"].search(text)
    if dated is None and signature is not None:
        line_end = text.find("\n", signature.start())
        dated = c["date"].search(text[signature.start(): line_end if line_end >= 0 else len(text)])
    if dated is None:
        out.append(Finding("document_date", d["document_date"]["severity"],
                           "No document date found (e.g. 'Date of service: 03/14/2026')."))
    labels = {"name": "patient name", "dob": "date of birth", "mrn": "medical record number (MRN)"}
    for kind, patterns in c["ids"].items():
        if not any(p.search(text) for p in patterns):
            out.append(Finding(f"patient_{kind}", d["patient_identifiers"]["severity"],
                               f"No {labels[kind]} found in the document."))
    present = detect_sections(text, rules)
    spec = rules.document_types[doc_type]
    for alternatives in spec["required_sections"]:
        if not any(name in present for name in alternatives):
            names = " or ".join(a.replace("_", " ") for a in alternatives)
            out.append(Finding("required_section", "warning",
                               f"{spec.get('label', doc_type)}: missing section {names}."))
    return out


def _short(note: str, limit: int = 140) -> str:
    note = " ".join(note.lstrip(" ,;").split())
    return note if len(note) <= limit else note[: limit - 1] + "…"


def _companion(out: list[Finding], code: str, owner: str, rule: str, verb: str, note: str, chosen: list[str]) -> None:
    refs = parse_code_refs(note)
    if not refs or any(r.matches(other) for other in chosen if other != code for r in refs):
        return
    level: Severity = "info" if rule == "use_additional_code" or "applicable" in note.lower() else "warning"
    where = "" if owner == code else f" (note at {owner})"
    out.append(Finding(rule, level, f"{code}: {verb}{where}: {_short(note, 240)}", code=code))


def check_codes(codes: list[str], codeset=None) -> list[Finding]:
    """Code-level findings: validity, billability, 7th characters, Excludes1 conflicts, code-first and
    use-additional-code companions."""
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
            info = codeset.get(code)
            kids = ", ".join(v.billable_descendants[:8])
            if info is not None and info.seventh_characters:
                chars = "; ".join(f"{k} {m}" for k, m in list(info.seventh_characters.items())[:6])
                out.append(Finding("seventh_character", "error",
                                   f"{code} needs a 7th character ({chars}); pad with X to 6 characters first. "
                                   f"Billable codes: {kids}.", code=code))
            else:
                out.append(Finding("not_billable", "error",
                                   f"{code} is not billable: choose a more specific code ({kids}).", code=code))
    # Excludes1: the two codes cannot be reported together (checked once per pair).
    for c in excludes1_conflicts(codeset, valid):
        out.append(Finding("excludes1", "error", f"{c.code} and {c.other} should not be coded together: Excludes1 at "
                                                 f"{c.owner}: {_short(c.note)}", code=c.code))
    # Companions. "Code first" notes written on one code list alternative underlying conditions: one finding
    # per code that carries them, when none of the cited codes is chosen (warning; info when "if applicable").
    # "Use additional code" notes are separate instructions: one finding each (info).
    for code in valid:
        for owner, notes in own_notes(codeset, code, "code_first"):
            groups = group_notes(notes)
            _companion(out, code, owner, "code_first", "code first", "; ".join(groups), valid)
        for owner, notes in own_notes(codeset, code, "use_additional_code"):
            for group in group_notes(notes):
                _companion(out, code, owner, "use_additional_code", "use additional code", group, valid)
    return out


def check_chart(text: str, codes: list[str], document_type: str | None = None, codeset=None,
                rules: CompletenessRules | None = None) -> list[Finding]:
    """All findings for a chart, errors first."""
    findings = check_document(text, document_type, rules) + check_codes(codes, codeset)
    return sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity])
