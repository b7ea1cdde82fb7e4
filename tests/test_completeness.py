"""Completeness and consistency checks (suggest.completeness) on written notes and real ACI-BENCH notes."""

from __future__ import annotations

import csv
import datetime as dt
import json

import pytest

from suggest.completeness import (
    ChartForm,
    CodeRef,
    CompletenessRules,
    check_chart,
    check_codes,
    check_document,
    default_rules,
    detect_sections,
    group_notes,
    parse_code_refs,
)

COMPLETE_NOTE = """Date of service: 03/14/2026
Patient: Jane Roe    DOB: 01/02/1960    MRN: 00123456

CHIEF COMPLAINT
Follow-up of diabetes.

HISTORY OF PRESENT ILLNESS
Type 2 diabetes with chronic kidney disease stage 3a. No chest pain.

ASSESSMENT AND PLAN
1. Type 2 diabetes mellitus with diabetic CKD. Continue insulin.

Electronically signed by John Smith, MD on 03/14/2026
"""


def rules_of(findings):
    return sorted(f.rule for f in findings)


# --------------------------------------------------------------------------- note parsing
@pytest.mark.parametrize(
    ("note", "expected"),
    [
        ("type 1 diabetes mellitus (E10.-)", ["E10"]),
        ("gestational diabetes (O24.4-)", ["O24.4"]),
        ("Code first underlying disease (E08-E13)", ["E08-E13"]),
        ("hypertensive chronic kidney disease (I12.-, I13.-)", ["I12", "I13"]),
        ("insulin (Z79.4)", ["Z79.4"]),
        ("stage of chronic kidney disease (N18.1-N18.6)", ["N18.1-N18.6"]),
        ("no code cited here", []),
    ],
)
def test_code_references_are_parsed_from_notes(note, expected):
    assert [str(r) for r in parse_code_refs(note)] == expected


def test_code_references_match_codes_below_them_and_in_ranges():
    assert CodeRef("E10").matches("E10.9") and not CodeRef("E10").matches("E11.9")
    block = CodeRef("E08", "E13")
    assert block.matches("E11.22") and block.matches("E13.9") and not block.matches("E14.0")
    stages = CodeRef("N18.1", "N18.6")
    assert stages.matches("N18.30") and stages.matches("N18.6") and not stages.matches("N18.9")


def test_lead_in_notes_are_grouped_with_their_items():
    grouped = group_notes(["code to identify stage (N18.1-N18.6)", "code to identify control using:",
                           "insulin (Z79.4)", "oral antidiabetic drugs (Z79.84)"])
    assert grouped == ["code to identify stage (N18.1-N18.6)",
                       "code to identify control using: insulin (Z79.4); oral antidiabetic drugs (Z79.84)"]


# --------------------------------------------------------------------------- code checks
def test_excludes1_conflict_is_reported_once_per_pair():
    findings = [f for f in check_codes(["E11.9", "E10.9"]) if f.rule == "excludes1"]
    assert len(findings) == 1 and findings[0].severity == "error"
    assert "E10" in findings[0].message and "E11" in findings[0].message


def test_unrelated_codes_have_no_excludes1_conflict():
    assert not [f for f in check_codes(["E11.9", "I10", "J45.909"]) if f.rule == "excludes1"]


def test_non_billable_code_lists_billable_children():
    (finding,) = [f for f in check_codes(["E11"]) if f.rule == "not_billable"]
    assert finding.code == "E11" and "E11.00" in finding.message and "E11.22" in finding.message


def test_missing_seventh_character_is_an_error_with_the_choices():
    (finding,) = [f for f in check_codes(["S72.001"]) if f.rule == "seventh_character"]
    assert finding.severity == "error" and "S72.001A" in finding.message and "initial encounter" in finding.message
    assert not [f for f in check_codes(["S72.001A"]) if f.rule in ("seventh_character", "not_billable")]


def test_invalid_code_suggests_near_matches():
    (finding,) = [f for f in check_codes(["E11.99"]) if f.rule == "invalid_code"]
    assert "Did you mean" in finding.message


def test_code_first_companion_missing_then_present():
    (alone,) = [f for f in check_codes(["N18.30"]) if f.rule == "code_first"]
    assert alone.code == "N18.30" and "I12" in alone.message and "(note at N18)" in alone.message
    assert not [f for f in check_codes(["I12.9", "N18.30"]) if f.rule == "code_first"]


def test_a_curated_companion_missing_then_present_is_one_warning_not_also_the_note():
    def stage_notes(codes):
        return [f for f in check_codes(codes) if f.code == "E11.22" and "N18" in f.message]

    assert [(f.rule, f.severity) for f in stage_notes(["E11.22"])] == [("missing_companion", "warning")]
    assert not stage_notes(["E11.22", "N18.31"])



# --------------------------------------------------------------------------- document checks
def test_a_complete_note_has_no_document_findings():
    assert check_document(COMPLETE_NOTE) == []
    assert check_document(COMPLETE_NOTE, "clinic_note") == [
        f for f in check_document(COMPLETE_NOTE, "clinic_note") if f.rule == "required_section"]


@pytest.mark.parametrize(
    ("remove", "rule"),
    [
        ("Electronically signed by John Smith, MD on 03/14/2026\n", "signature"),
        ("Date of service: 03/14/2026\n", None),  # the signature line still dates the note
        ("    DOB: 01/02/1960", "patient_dob"),
        ("    MRN: 00123456", "patient_mrn"),
        ("Patient: Jane Roe", "patient_name"),
    ],
)
def test_each_missing_element_is_reported(remove, rule):
    findings = check_document(COMPLETE_NOTE.replace(remove, ""))
    assert rules_of(findings) == ([rule] if rule else [])


def test_undated_unsigned_note_misses_both():
    note = COMPLETE_NOTE.replace("Date of service: 03/14/2026\n", "").replace(" on 03/14/2026", "")
    assert rules_of(check_document(note)) == ["document_date"]


def test_required_sections_depend_on_the_document_type():
    findings = check_document(COMPLETE_NOTE, "discharge_summary")
    messages = " ".join(f.message for f in findings if f.rule == "required_section")
    assert "hospital course" in messages and "discharge instructions" in messages
    summary = (COMPLETE_NOTE + "\nHOSPITAL COURSE\nUneventful.\n\nDISCHARGE MEDICATIONS\nInsulin.\n\n"
               "FOLLOW-UP\nIn 2 weeks.\n")
    assert not [f for f in check_document(summary, "discharge_summary") if f.rule == "required_section"]


def test_the_forms_date_and_patient_id_satisfy_their_checks_and_its_provider_signs_nothing():
    bare = "Assessment: hypertension."
    rules = {f.rule for f in check_document(bare)}
    assert {"document_date", "patient_mrn", "signature"} <= rules
    form = ChartForm(patient_id="MRN-1", provider="Dr Who", document_date=dt.date(2026, 3, 14))
    assert {f.rule for f in check_document(bare, form=form)} == rules - {"document_date", "patient_mrn"}
    assert {f.rule for f in check_document(bare, form=ChartForm(patient_id="  "))} == rules


def test_severities_depend_on_the_document_type():
    def mrn(doc_type):
        return [f.severity for f in check_document("Assessment: hypertension.", doc_type) if f.rule == "patient_mrn"]

    assert mrn("progress_note") == ["warning"]
    assert mrn("history_and_physical") == ["error"] and mrn("discharge_summary") == ["error"]


def test_unknown_document_type_is_refused():
    with pytest.raises(ValueError, match="discharge_summary"):
        check_document(COMPLETE_NOTE, "poem")


def test_check_chart_puts_errors_first():
    findings = check_chart("Assessment: diabetes.", ["E11.22", "E10.9"])
    severities = [f.severity for f in findings]
    assert severities == sorted(severities, key=["error", "warning", "info"].index)
    assert findings[0].to_dict()["severity"] == "error"


def test_rules_are_data(tmp_path):
    data = json.loads(json.dumps(default_rules().data))
    data["signature"]["patterns"].append(r"(?i)^\s*--\s*dr\.?\s+\w+")
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(data))
    note = COMPLETE_NOTE.replace("Electronically signed by John Smith, MD on 03/14/2026\n", "-- Dr. Smith\n")
    assert "signature" in rules_of(check_document(note))
    assert "signature" not in rules_of(check_document(note, rules=CompletenessRules.from_file(path)))


# --------------------------------------------------------------------------- real notes
def _aci_notes(shared_dir):
    csv.field_size_limit(10**9)
    notes = []
    for split in ("train", "valid"):
        with open(shared_dir / "data" / "aci-bench" / f"{split}.csv", newline="", encoding="utf-8") as fh:
            notes += [row["note"] for row in csv.DictReader(fh)]
    return notes


def test_aci_bench_notes(shared_dir):
    notes = _aci_notes(shared_dir)
    assert len(notes) >= 80
    for note in notes:
        findings = check_document(note)
        found = set(rules_of(findings))
        # The corpus notes are unsigned, undated and carry no DOB or MRN: every one must be flagged.
        assert {"signature", "document_date", "patient_dob", "patient_mrn"} <= found
        sections = detect_sections(note)
        assert "assessment_and_plan" in sections
        if "HISTORY OF PRESENT ILLNESS" in note:
            assert "history_of_present_illness" in sections
        named = any(line.split(" is a ")[0].istitle() for line in note.splitlines() if " is a " in line
                    and line.split(" is a ")[0].count(" ") == 1)
        if named:
            assert "patient_name" not in found


def test_first_aci_bench_note_in_detail(shared_dir):
    note = _aci_notes(shared_dir)[0]
    assert note.startswith("CHIEF COMPLAINT") and "congestive heart failure" in note
    findings = check_chart(note, ["I50.9", "F32.A", "I10"], "clinic_note")
    assert {"signature", "document_date", "patient_dob", "patient_mrn"} <= set(rules_of(findings))
    assert "patient_name" not in rules_of(findings) and "required_section" not in rules_of(findings)
    # heart failure with hypertension: I50 says code first I11.0 (hypertensive heart disease with heart failure)
    (code_first,) = [f for f in findings if f.rule == "code_first"]
    assert code_first.code == "I50.9" and "I11.0" in code_first.message and code_first.severity == "warning"
    recoded = check_chart(note, ["I11.0", "I50.9", "F32.A"], "clinic_note")
    assert not [f for f in recoded if f.rule in ("code_first", "excludes1", "not_billable", "invalid_code")]
