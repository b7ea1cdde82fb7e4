"""The code edits of a coded chart (suggest.code_edits through suggest.completeness.check_codes): combination
conflicts, unspecified beside specific, integral symptoms, companions, age and sex, and codes whose only evidence is
not affirmed."""

from __future__ import annotations

import pytest

from suggest.code_edits import CodeMention, code_mentions, default_edits
from suggest.completeness import ChartForm, check_codes


def _rules(codes, **kwargs) -> list[tuple[str, str, str | None]]:
    return [(f.rule, f.severity, f.code) for f in check_codes(codes, **kwargs)]


@pytest.mark.parametrize(("codes", "flagged"), [
    (["I10", "I11.0"], "I10"),
    (["I10", "I12.9"], "I10"),
    (["I10", "I13.10"], "I10"),
    (["I11.9", "I13.0"], "I11.9"),
    (["E11.9", "E11.22"], "E11.9"),
    (["E11.42", "G62.9"], "G62.9"),
])
def test_a_code_beside_the_combination_code_that_includes_it_is_an_error(codes, flagged):
    assert ("combination_conflict", "error", flagged) in _rules(codes)


def test_the_parts_of_a_combination_coded_apart_ask_for_the_combination_code():
    (finding,) = [f for f in check_codes(["I10", "I50.9"]) if f.rule == "combination_missing"]
    assert finding.severity == "warning" and "I11.0" in finding.message


@pytest.mark.parametrize(("codes", "unspecified", "specific"), [
    (["E11.9", "E11.65"], "E11.9", "E11.65"),
    (["D50.9", "D64.9"], "D64.9", "D50.9"),
    (["I50.9", "I50.22"], "I50.9", "I50.22"),
])
def test_an_unspecified_code_beside_a_specific_one_of_the_same_condition_is_an_error(codes, unspecified, specific):
    (finding,) = [f for f in check_codes(codes) if f.rule == "unspecified_with_specific"]
    assert finding.severity == "error" and finding.code == unspecified and specific in finding.message


def test_an_unspecified_code_of_the_same_subcategory_is_a_warning():
    assert ("unspecified_same_subcategory", "warning", "M25.569") in _rules(["M25.569", "M25.561"])


def test_a_symptom_that_is_part_of_a_coded_diagnosis_is_flagged_and_alone_it_is_not():
    assert ("integral_symptom", "warning", "R50.9") in _rules(["R50.9", "J18.9"])
    assert not [f for f in check_codes(["R50.9", "I10"]) if f.rule == "integral_symptom"]


def test_a_diabetic_foot_ulcer_without_its_site_misses_its_companion():
    assert ("missing_companion", "warning", "E11.621") in _rules(["E11.621"])
    assert not [f for f in check_codes(["E11.621", "L97.411"]) if f.rule == "missing_companion"]


def test_a_pair_excludes1_flags_is_not_flagged_again_as_a_combination():
    rules = [f.rule for f in check_codes(["E11.9", "R73.9"])]
    assert rules.count("excludes1") == 1 and "combination_conflict" not in rules


# --------------------------------------------------------------------------- age and sex
def test_a_pregnancy_code_for_a_male_patient_is_an_error_when_the_form_says_male():
    findings = [f for f in check_codes(["O80", "I10"], text="Delivery.", form=ChartForm(sex="male"))
                if f.rule == "demographics"]
    assert [(f.code, f.severity) for f in findings] == [("O80", "error")]


def test_a_newborn_code_for_an_adult_read_from_the_text_is_a_warning():
    findings = [f for f in check_codes(["P07.30"], text="A 45-year-old woman with preterm labor history.")
                if f.rule == "demographics"]
    assert [(f.code, f.severity) for f in findings] == [("P07.30", "warning")]


def test_no_age_or_sex_known_no_demographic_finding():
    assert not [f for f in check_codes(["O80", "P07.30"], text="Seen today.") if f.rule == "demographics"]


# --------------------------------------------------------------------------- use additional code notes
def _tobacco_notes(codes, text):
    return [f for f in check_codes(codes, text=text) if f.rule == "use_additional_code" and "tobacco" in f.message]


@pytest.mark.parametrize("code", ["I10", "J18.9", "J45.909"])
def test_the_tobacco_exposure_note_shows_only_on_a_chart_that_speaks_of_tobacco(code):
    assert not _tobacco_notes([code], "Assessment: the condition, stable.")
    assert _tobacco_notes([code], "Social history: smokes a pack a day.")
    assert _tobacco_notes([code], "Vapes daily.")


def test_a_chosen_tobacco_code_satisfies_the_note():
    assert not _tobacco_notes(["I10", "F17.210"], "Smokes cigarettes.")


def test_the_insulin_control_note_follows_the_medication_list():
    def control(text):
        return [f for f in check_codes(["E11.9"], text=text) if "Z79.4" in f.message]

    assert not control("Type 2 diabetes, diet controlled.")
    assert control("Type 2 diabetes. Medications: Lantus 20 units nightly.")


def test_without_text_every_note_applies():
    assert _tobacco_notes(["I10"], None)


def test_the_conditional_families_cover_the_tobacco_codes_of_the_notes():
    (tobacco,) = [f for f in default_edits().families if f.name == "tobacco"]
    assert all(any(r.matches(code) for r in tobacco.refs) for code in ("Z77.22", "Z87.891", "Z72.0", "F17.210"))


# --------------------------------------------------------------------------- evidence
TEXT = "No evidence of pneumonia. Family history of breast cancer. Hypertension."


def _mention(code, words, **flags):
    start = TEXT.index(words)
    return CodeMention(code, start, start + len(words), {"negated": False, "family": False, "historical": False,
                                                       "hypothetical": False, "uncertain": False, **flags})


MENTIONS = [_mention("J18.9", "pneumonia", negated=True),
            _mention("C50.9", "breast cancer", family=True, historical=True),
            _mention("I10", "Hypertension")]


def test_a_code_whose_only_evidence_is_negated_points_at_the_mention():
    (finding,) = [f for f in check_codes(["J18.9"], text=TEXT, mentions=MENTIONS) if f.rule == "evidence_status"]
    assert finding.severity == "error" and "negates" in finding.message
    assert TEXT[finding.start:finding.end] == "pneumonia"


def test_a_relatives_condition_is_read_through_the_mention_of_its_ancestor():
    (finding,) = [f for f in check_codes(["C50.911"], text=TEXT, mentions=MENTIONS) if f.rule == "evidence_status"]
    assert finding.severity == "error" and "relative" in finding.message
    assert TEXT[finding.start:finding.end] == "breast cancer"


def test_an_affirmed_code_has_no_evidence_finding_and_its_other_findings_point_at_it():
    findings = check_codes(["I10", "I11.0"], text=TEXT, mentions=MENTIONS)
    assert not [f for f in findings if f.rule == "evidence_status"]
    (conflict,) = [f for f in findings if f.rule == "combination_conflict"]
    assert TEXT[conflict.start:conflict.end] == "Hypertension"


def test_a_code_the_text_does_not_mention_is_not_judged():
    assert not [f for f in check_codes(["E11.9"], text=TEXT, mentions=MENTIONS) if f.rule == "evidence_status"]


def test_the_models_dictionary_reads_negation_and_family_history(small_model):
    text = "Chest x-ray: no evidence of pneumonia.\nFamily history of breast cancer.\nAssessment: cough."
    mentions = code_mentions(text, small_model)
    findings = {f.code: f for f in check_codes(["J18.9", "C50.911"], text=text, mentions=mentions)
                if f.rule == "evidence_status"}
    assert text[findings["J18.9"].start:findings["J18.9"].end] == "pneumonia"
    assert "breast cancer" in text[findings["C50.911"].start:findings["C50.911"].end]
