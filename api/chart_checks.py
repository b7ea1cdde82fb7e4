"""What the API checks of a chart beyond the shape of its fields: codes of the code set, billable codes (as the
``non_billable`` setting says), known specialties, and the code edits a save must have confirmed.

A save whose codes hold a code edit of severity error (``suggest.code_edits``: invalid, not billable, Excludes1,
combination conflicts, unspecified beside specific, a code whose only evidence is negated, ...) is refused with a
409 listing the findings unless the request says ``confirm_findings: true``; then it is saved and the override is
recorded in the audit log (rules, codes and severities only, never the messages: they quote the chart). Document
findings (a missing signature or date) never block a save.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from api.errors import ApiError
from api.store import normalize_code, normalize_codes
from suggest.completeness import SEVERITY_ORDER, ChartForm, Finding, check_codes, not_billable_finding


class UnconfirmedFindings(Exception):
    """A save whose codes hold code edits of severity error, not confirmed: nothing is written."""

    def __init__(self, findings: Sequence[Finding]):
        super().__init__("unconfirmed code findings")
        self.findings = list(findings)


def known_specialties(model) -> list[str]:
    """The specialties a served model has priors for (its training charts'), sorted."""
    stats = getattr(model, "stats_", None)
    return sorted(getattr(stats, "specialty_charts", {}) or {})


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def checked_specialty(value: str | None, model, field: str = "specialty") -> str | None:
    """The model's spelling of ``value`` (case and separators aside: "Primary care" is ``primary_care``); a 400
    naming the field and the allowed values when the model does not know it."""
    if value is None:
        return None
    known = known_specialties(model)
    by_key = {_key(k): k for k in known}
    found = by_key.get(_key(value))
    if found is not None:
        return found
    if not known:
        raise ApiError("the served model knows no specialties: leave specialty out", field=field)
    near = difflib.get_close_matches(_key(value), list(by_key), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(by_key[k] for k in near)}?" if near else ""
    raise ApiError(f"unknown specialty; allowed: {', '.join(known)}.{hint}", field=field)


def checked_codes(codes: Sequence[str], codeset, non_billable: str, field: str = "codes") -> list[str]:
    """The codes normalised and de-duplicated, each one of the code set (400 naming ``codes[i]``, with near matches);
    a code that is not billable is a 400 listing its billable codes when ``non_billable`` is ``"refuse"``."""
    for i, raw in enumerate(codes):
        checked_code(raw, codeset, non_billable, f"{field}[{i}]")
    return normalize_codes(list(codes), field)


def checked_code(raw: str, codeset, non_billable: str, field: str) -> str:
    """One code as :func:`checked_codes` checks it."""
    code = normalize_code(raw)
    if code is None:
        raise ApiError(f"not an ICD-10-CM code: {str(raw)[:12]!r}", field=field)
    v = codeset.validate(code)
    if v.status == "invalid":
        near = f" Near matches: {', '.join(v.near_matches[:5])}." if v.near_matches else ""
        raise ApiError(f"{code} is not an ICD-10-CM code of release {codeset.release}.{near}", field=field)
    if v.status == "not_billable" and non_billable == "refuse":
        message = not_billable_finding(codeset, code, v.billable_descendants).message
        raise ApiError(f"{message} (this server refuses codes that are not billable)", field=field)
    return code


def code_findings(text: str, codes: list[str], codeset, model, form: ChartForm | None = None) -> list[Finding]:
    """The code findings of a chart (``suggest.completeness.check_codes``), its mentions read with the served
    model's dictionary: errors first."""
    from suggest.code_edits import code_mentions

    mentions = code_mentions(text, model) if hasattr(model, "term_index_") else None
    return sorted(check_codes(codes, codeset, text=text, form=form, mentions=mentions),
                  key=lambda f: SEVERITY_ORDER[f.severity])


def blocking(findings: Sequence[Finding]) -> list[Finding]:
    """The findings that stop a save until confirmed: code findings of severity error."""
    return [f for f in findings if f.severity == "error" and f.code is not None]


def override_record(findings: Sequence[Finding]) -> dict:
    """The audit detail of a confirmed save: each blocking finding's rule, code and severity (no message)."""
    return {"findings": [{"rule": f.rule, "code": f.code, "severity": f.severity} for f in findings]}


def stored_chart_findings(row, codeset, model) -> list[Finding]:
    """Every finding of a stored chart, as POST /v1/charts/check gives them for its id: document checks and code
    edits, the chart's fields standing in for what the text lacks."""
    from suggest.completeness import check_document, default_rules

    rules = default_rules()
    doc_type = row.document_type if row.document_type in rules.document_types else None
    form = ChartForm(patient_id=row.patient_id, encounter_id=row.encounter_id, provider=row.provider,
                     signed_by=row.signed_by, document_date=row.document_date)
    return check_document(row.text, doc_type, rules, form) + code_findings(row.text, row.code_list(), codeset, model,
                                                                          form)
