"""Coding rules at selection: each rule on a chart's candidates, the settings, and the rule data itself."""

from __future__ import annotations

import pytest

from suggest.codeset import load_codeset
from suggest.codeset.notes import CodeRef
from suggest.encoder.patient import Patient, read_patient
from suggest.encoder.rules import SETTINGS, ChartFacts, RuledCode, default_rules
from suggest.pipeline.resources import load_json, read_text

THRESHOLD = 0.4


@pytest.fixture(scope="module")
def codeset():
    return load_codeset()


def run(codes: dict[str, float], text: str = "", setting: str = "outpatient", patient: Patient | None = None,
        assertions: dict[str, list[dict[str, bool]]] | None = None, codeset=None,
        mentions: dict[str, list[tuple]] | None = None):
    """The rules over candidates {code: confidence}; returns {code: RuledCode}. ``mentions`` gives a code's
    affirmed dictionary mentions as (start, end, section), optionally followed by the coverage and the number of
    chart words the mention explains."""
    assertions, mentions = assertions or {}, mentions or {}
    ruled = []
    for code, p in codes.items():
        if code in mentions:
            ruled.append(RuledCode(code, p, p >= THRESHOLD, [(m[0], m[1]) for m in mentions[code]],
                                   [{} for _ in mentions[code]], sections=[m[2] for m in mentions[code]],
                                   coverages=[m[3] if len(m) > 3 else 1.0 for m in mentions[code]],
                                   matched=[m[4] if len(m) > 4 else 0 for m in mentions[code]]))
        else:
            ruled.append(RuledCode(code, p, p >= THRESHOLD, [(0, 1)], assertions.get(code, [])))
    facts = ChartFacts(text, patient or Patient(), _assertion_of(text) if text else None)
    out = default_rules().apply(ruled, facts, setting, THRESHOLD, codeset or load_codeset())
    return {c.code: c for c in out}


def _assertion_of(text: str):
    """Section and ConText flags of character spans of ``text``, from the real clinical pipeline."""
    import functools

    from suggest.model.analysis import assert_char_span
    from suggest.pipeline import get_nlp, process

    return functools.partial(assert_char_span, next(process(get_nlp(), [text])))


def selected(result) -> set[str]:
    return {code for code, c in result.items() if c.selected}


def rules_of(result, code: str) -> list[tuple[str, str]]:
    return [(n.rule, n.action) for n in result[code].rules]


@pytest.mark.parametrize(("codes", "expected"), [
    ({"Z86.73": 0.9, "G81.94": 0.9}, {"I69.354"}),  # left hemiparesis from a past stroke
    ({"Z86.73": 0.9, "R47.01": 0.8, "R47.1": 0.7}, {"I69.320", "I69.322"}),  # two deficits: two sequela codes
    ({"Z86.73": 0.9, "R13.10": 0.8}, {"I69.391", "R13.10"}),  # the type of dysphagia stays as an additional code
    ({"I63.9": 0.9, "R47.01": 0.8}, {"I63.9", "R47.01"}),  # an acute stroke's aphasia is no sequela
    ({"Z86.73": 0.9}, {"Z86.73"}),  # a history with no deficit
])
def test_a_deficit_of_a_past_stroke_is_coded_as_its_sequela(codeset, codes, expected):
    out = run(codes, codeset=codeset)
    assert selected(out) == expected


def test_hypertension_with_heart_failure_is_one_combination_code(codeset):
    out = run({"I10": 0.95, "I50.9": 0.8}, codeset=codeset)
    assert selected(out) == {"I11.0", "I50.9"}
    assert ("combination", "added") in rules_of(out, "I11.0")
    assert ("combination", "dropped") in rules_of(out, "I10")
    assert out["I10"].confidence < THRESHOLD
    assert out["I11.0"].confidence == pytest.approx(0.8)
    assert "I.C.9.a" in out["I11.0"].rules[0].why


def test_hypertension_heart_failure_and_ckd_is_i13(codeset):
    out = run({"I10": 0.9, "I50.22": 0.7, "N18.30": 0.6, "I11.0": 0.5}, codeset=codeset)
    assert selected(out) == {"I13.0", "I50.22", "N18.30"}


@pytest.mark.parametrize("codes, expected", [
    ({"N40.0": 0.9, "R39.198": 0.8}, {"N40.1", "R39.198"}),  # enlarged prostate with difficulty urinating
    ({"N40.0": 0.9, "R35.1": 0.7}, {"N40.1", "R35.1"}),      # ... with nocturia
    ({"N40.0": 0.9}, {"N40.0"}),                             # no urinary symptom: stays N40.0
    ({"K21.9": 0.9, "K20.90": 0.7}, {"K21.00"}),             # reflux with esophagitis
])
def test_a_condition_with_its_documented_companion_takes_the_combination_code(codeset, codes, expected):
    assert selected(run(codes, codeset=codeset)) == expected


def test_hypertension_with_ckd_stage_5(codeset):
    assert selected(run({"I10": 0.9, "N18.5": 0.6}, codeset=codeset)) == {"I12.0", "N18.5"}


def test_diabetes_with_ckd_takes_the_combination_code(codeset):
    out = run({"E11.9": 0.9, "N18.31": 0.6}, codeset=codeset)
    assert selected(out) == {"E11.22", "N18.31"}
    assert ("unspecified_with_specific", "dropped") in rules_of(out, "E11.9") or \
        ("combination", "dropped") in rules_of(out, "E11.9")


def test_e11_9_never_stands_beside_another_e11_code(codeset):
    out = run({"E11.9": 0.9, "E11.65": 0.8}, codeset=codeset)
    assert selected(out) == {"E11.65"}


def test_unspecified_laterality_beside_the_specific_code(codeset):
    out = run({"M25.561": 0.8, "M25.569": 0.7}, codeset=codeset)
    assert selected(out) == {"M25.561"}


def test_uncertain_diagnosis_is_not_coded_in_outpatient_care(codeset):
    flags = {"negated": False, "historical": False, "family": False, "hypothetical": False, "uncertain": True}
    out = run({"J18.9": 0.7, "R05.9": 0.6}, assertions={"J18.9": [flags]}, codeset=codeset)
    assert selected(out) == {"R05.9"}
    assert ("uncertain", "dropped") in rules_of(out, "J18.9")
    inpatient = run({"J18.9": 0.7, "R05.9": 0.6}, setting="inpatient", assertions={"J18.9": [flags]}, codeset=codeset)
    assert "J18.9" in selected(inpatient)


def test_an_affirmed_mention_outweighs_an_uncertain_one(codeset):
    uncertain = {"negated": False, "historical": False, "family": False, "hypothetical": False, "uncertain": True}
    affirmed = dict.fromkeys(uncertain, False)
    out = run({"J18.9": 0.7}, assertions={"J18.9": [uncertain, affirmed]}, codeset=codeset)
    assert selected(out) == {"J18.9"}


def test_symptom_integral_to_a_confirmed_diagnosis_is_dropped(codeset):
    out = run({"I50.9": 0.8, "R06.02": 0.6, "R51.9": 0.5}, codeset=codeset)
    assert "R06.02" not in selected(out) and "R51.9" in selected(out)
    assert ("integral_symptom", "dropped") in rules_of(out, "R06.02")
    assert "I50.9" in out["R06.02"].rules[0].why


def test_excludes1_keeps_the_stronger_code(codeset):
    out = run({"E11.9": 0.9, "E10.9": 0.5}, codeset=codeset)
    assert selected(out) == {"E11.9"}
    assert ("excludes1", "dropped") in rules_of(out, "E10.9")


def test_long_term_drugs_from_the_medication_list(codeset):
    text = "Medications: metformin 500 mg twice daily, Lantus 20 units at bedtime, Eliquis 5 mg bid."
    out = run({"E11.9": 0.9}, text=text, codeset=codeset)
    assert {"Z79.84", "Z79.4", "Z79.01"} <= selected(out)
    z = out["Z79.4"]
    assert z.added and text[z.spans[0][0]:z.spans[0][1]] == "Lantus"
    assert ("long_term_drug", "added") in rules_of(out, "Z79.4")
    assert out["Z79.4"].confidence <= out["E11.9"].confidence  # status codes come after the problems


@pytest.mark.parametrize("text", [
    "Prednisone taper over 5 days for the flare.",
    "Insulin resistance on labs; diet counselled.",
    "Allergic to aspirin (hives).",
])
def test_no_long_term_drug_code_for_short_courses_and_other_uses(codeset, text):
    out = run({"R05.9": 0.9}, text=text, codeset=codeset)
    assert not any(code.startswith("Z79") for code in selected(out))


@pytest.mark.parametrize("text", [
    "Intentional overdose of Eliquis and metformin.",
    "Accidental ingestion of her husband's metformin.",
])
def test_a_drug_taken_in_an_overdose_is_no_long_term_use(codeset, text):
    out = run({"T45.512A": 0.9}, text=text, codeset=codeset)
    assert not any(code.startswith("Z79") for code in selected(out))


def test_external_causes_follow_the_injury_and_unspecified_ones_are_not_assigned(codeset):
    # "Slipped on ice, fractured the right wrist": the fracture is first-listed, the fall after it (I.C.20).
    candidates = {"W00.0XXA": 0.9, "S52.501A": 0.8, "Y92.9": 0.7, "Y93.01": 0.5}
    for setting in ("outpatient", "inpatient"):
        out = run(candidates, setting=setting, codeset=codeset)
        order = sorted(out.values(), key=lambda c: (-c.confidence, c.demoted))
        assert [c.code for c in order][:2] == ["S52.501A", "W00.0XXA"]
        assert order[-1].code == "Y92.9"  # an unspecified place is not assigned
        assert selected(out) == {"S52.501A", "W00.0XXA", "Y93.01"}
        assert ("external_cause", "dropped") in rules_of(out, "Y92.9")
    # Stated alone, an external cause is still ranked first: there is nothing to put before it.
    alone = run({"W54.0XXA": 0.9, "Z23": 0.1}, codeset=codeset)
    assert max(alone.values(), key=lambda c: c.confidence).code == "W54.0XXA"
    assert not rules_of(run(candidates, setting="mentions", codeset=codeset), "W00.0XXA")


def test_a_department_that_does_not_report_external_causes_gets_them_unselected(codeset):
    import copy

    from suggest.encoder.rules import CodingRules

    data = copy.deepcopy(load_json("coding_rules.json"))
    data["external_cause"]["optional_in"] = ["outpatient"]
    rules = CodingRules(data, load_json("integral_symptoms.json"), read_text("long_term_drugs.tsv"),
                        load_json("demographic_edits.json"))
    ruled = [RuledCode("W00.0XXA", 0.9, True, [(0, 1)]), RuledCode("S52.501A", 0.8, True, [(0, 1)])]
    out = {c.code: c for c in rules.apply(ruled, ChartFacts("", Patient()), "outpatient", THRESHOLD, codeset)}
    assert selected(out) == {"S52.501A"}
    assert ("external_cause", "dropped") in rules_of(out, "W00.0XXA")


def test_a_side_the_chart_does_not_give_is_unspecified(codeset):
    text = "Assessment: Nondisplaced spiral fracture of shaft of fibula, sequela."
    span = {code: [(12, len(text) - 1, "assessment_and_plan")] for code in ("S82.444S", "S82.445S", "S82.446S")}
    out = run({"S82.444S": 0.8, "S82.445S": 0.8, "S82.446S": 0.3}, text=text, codeset=codeset, mentions=span)
    assert selected(out) == {"S82.446S"}
    assert ("side_not_stated", "dropped") in rules_of(out, "S82.444S")
    sided = "Assessment: Nondisplaced spiral fracture of shaft of left fibula, sequela."
    out = run({"S82.445S": 0.8, "S82.446S": 0.3}, text=sided, codeset=codeset,
              mentions={"S82.445S": [(12, len(sided) - 1, "assessment_and_plan")]})
    assert selected(out) == {"S82.445S"}
    # Not selected either: the unspecified side still ranks above the sides the chart does not give.
    out = run({"M66.271": 0.2, "M66.272": 0.2, "M66.279": 0.2}, text="Assessment: Rupture of extensor tendons, ankle.",
              codeset=codeset, mentions={c: [(12, 45, "assessment_and_plan")] for c in ("M66.271", "M66.272", "M66.279")})
    assert min(out.values(), key=lambda c: (-c.confidence, c.demoted)).code == "M66.279"


@pytest.mark.parametrize(("text", "first"), [
    ("Assessment: Other injury of urethra, initial encounter.", "S37.39XA"),
    ("Assessment: Injury of urethra (other), initial encounter.", "S37.30XA"),
])
def test_other_and_unspecified_siblings_follow_the_charts_word(codeset, text, first):
    start = text.index("injury") if "Other" in text else text.index("Injury")
    mention = [(start, start + 17, "assessment_and_plan")]
    out = run({"S37.30XA": 0.5, "S37.39XA": 0.45}, text=text, codeset=codeset,
              mentions={"S37.30XA": mention, "S37.39XA": mention})
    assert selected(out) == {first}
    assert min(out.values(), key=lambda c: (-c.confidence, c.demoted)).code == first


@pytest.mark.parametrize(("text", "first"), [
    ("Assessment: Other specified injury of thigh, initial encounter.", "S79.829A"),  # 'unspecified' side in both
    ("Assessment: Injury of thigh, initial encounter.", "S79.929A"),
])
def test_other_and_unspecified_siblings_pair_up_across_plurals_and_unspecified_sides(codeset, text, first):
    start = text.index("njury") - 1
    mention = [(start, text.index(", initial"), "assessment_and_plan")]
    out = run({"S79.929A": 0.5, "S79.829A": 0.45}, text=text, codeset=codeset,
              mentions={"S79.929A": mention, "S79.829A": mention})
    assert selected(out) == {first}


def test_an_other_code_whose_term_explains_more_of_the_words_wins(codeset):
    # "Sprain of talofibular ligament" is an inclusion term of S93.49- (other ligament), matched in full.
    text = "ASSESSMENT AND PLAN\n1. Sprain of right ankle, anterior talofibular ligament. Brace."
    start, end = text.index("Sprain"), text.index(". Brace")
    out = run({"S93.401A": 0.6, "S93.491A": 0.3}, text=text, codeset=codeset,
              mentions={"S93.401A": [(start, end, "assessment_and_plan", 1.0, 3)],
                        "S93.491A": [(start, end, "assessment_and_plan", 1.0, 5)]})
    assert selected(out) == {"S93.491A"}


def test_a_named_drug_of_an_other_class_takes_the_other_code(codeset):
    text = "Assessment: quetiapine overdose."
    mention = [(12, 31, "assessment_and_plan")]
    out = run({"T43.501A": 0.5, "T43.591A": 0.1}, text=text, codeset=codeset,
              mentions={"T43.501A": mention, "T43.591A": mention})
    assert selected(out) == {"T43.591A"}
    assert ("other_or_unspecified", "dropped") in rules_of(out, "T43.501A")


def test_a_named_drug_takes_the_place_of_the_unspecified_drug():
    text = "Assessment: intentional methadone overdose."
    overdose, named = (text.index("overdose"), len(text) - 1), (text.index("methadone"), len(text) - 1)
    ruled = [RuledCode("T50.902A", 0.6, True, [overdose], [dict(AFFIRMED)], sections=["assessment_and_plan"], coverages=[1.0]),
             RuledCode("T40.3X2A", 0.01, False, [named], [dict(AFFIRMED)], sections=["assessment_and_plan"], coverages=[1.0])]
    out = default_rules().apply(ruled, ChartFacts(text, Patient()), "outpatient", THRESHOLD, load_codeset())
    assert [(c.code, c.selected) for c in out] == [("T40.3X2A", True), ("T50.902A", False)]
    assert ("unspecified_region", "dropped") in rules_of({c.code: c for c in out}, "T50.902A")


def test_a_drug_named_only_in_part_does_not_replace_the_unspecified_drug():
    text = "Assessment: overdose."
    ruled = [RuledCode("T50.901A", 0.9, True, [(12, 20)], [dict(AFFIRMED)], sections=["assessment_and_plan"], coverages=[1.0]),
             RuledCode("T40.5X1A", 0.01, False, [(12, 20)], [dict(AFFIRMED)], sections=["assessment_and_plan"],
                       coverages=[0.65])]
    out = default_rules().apply(ruled, ChartFacts(text, Patient()), "outpatient", THRESHOLD, load_codeset())
    assert [(c.code, c.selected) for c in out] == [("T50.901A", True), ("T40.5X1A", False)]


@pytest.mark.parametrize(("text", "words", "code"), [
    ("Assessment: late effect of shoulder subluxation.", "late effect", "B90.9"),
    ("Assessment: ulnar shaft fracture, open type I.", "type I", "E10.9"),
])
def test_a_code_matched_only_in_qualifying_words_is_no_candidate(codeset, text, words, code):
    start = text.index(words)
    mention = (start, start + len(words), "assessment_and_plan")
    ruled = [RuledCode(code, 0.5, True, [mention[:2]], [{}], sections=[mention[2]], coverages=[0.67]),
             RuledCode("Z23", 0.1, False)]
    out = {c.code: c for c in default_rules().apply(ruled, ChartFacts(text, Patient()), "outpatient", THRESHOLD,
                                                    codeset)}
    assert code not in selected(out) and out[code].confidence < out["Z23"].confidence
    assert ("qualifier_only", "dropped") in rules_of(out, code)
    # The whole term stated is evidence, however many qualifying words it has.
    full = [RuledCode("E10.9", 0.5, True, [(12, 27)], [{}], sections=["assessment_and_plan"], coverages=[1.0])]
    text = "Assessment: type 1 diabetes."
    out = default_rules().apply(full, ChartFacts(text, Patient()), "outpatient", THRESHOLD, codeset)
    assert selected({c.code: c for c in out}) == {"E10.9"}


def test_vaccine_code_only_when_a_vaccine_is_given(codeset):
    assert "Z23" not in selected(run({"Z23": 0.8}, text="Discussed the flu vaccine; she declined.", codeset=codeset))
    assert "Z23" in selected(run({"Z23": 0.8}, text="Influenza vaccine administered today.", codeset=codeset))


EXAM_VISIT = "CHIEF COMPLAINT\nAnnual exam.\n"


def test_general_exam_with_abnormal_findings(codeset):
    exam = {code: [(16, 27, "chief_complaint")] for code in ("Z00.00", "Z00.01")}
    out = run({"Z00.00": 0.9, "E78.5": 0.7}, EXAM_VISIT, codeset=codeset, mentions=exam)
    assert selected(out) == {"Z00.01", "E78.5"}
    assert out["Z00.01"].confidence >= THRESHOLD
    assert selected(run({"Z00.01": 0.9}, EXAM_VISIT, codeset=codeset, mentions=exam)) == {"Z00.00"}


def test_an_examination_named_as_the_visits_reason_is_coded_whatever_the_ranker_thought(codeset):
    exam = {"Z00.00": [(16, 27, "chief_complaint")]}
    out = run({"Z00.00": 0.3 * THRESHOLD, "E78.5": 0.7}, EXAM_VISIT, codeset=codeset, mentions=exam)
    assert selected(out) == {"Z00.01", "E78.5"} and ("general_exam", "added") in rules_of(out, "Z00.01")
    # "Annual visit" may be the yearly follow-up of chronic conditions: the ranker's doubt stands.
    visit = "CHIEF COMPLAINT\nAnnual visit.\n"
    out = run({"Z00.00": 0.3 * THRESHOLD, "E78.5": 0.7}, visit, codeset=codeset,
              mentions={"Z00.00": [(16, 28, "chief_complaint")]})
    assert selected(out) == {"E78.5"}


@pytest.mark.parametrize("text, phrase, section, coded", [
    ("She presents for her annual physical today.", "annual physical", "history_of_present_illness", True),
    ("Assessment: Annual physical exam.", "Annual physical exam", "assessment_and_plan", True),  # an assessment item
    ("1. Annual exam.", "Annual exam", "assessment_and_plan", True),
    # Words of a term read loosely ("medical ... exam" of "general medical exam") are no assessment item.
    ("- Medical Reasoning: The patient's exam is consistent with this.", "Medical Reasoning: The patient's exam",
     "assessment_and_plan", False),
    ("Return in 1 year for routine wellness visit.", "routine wellness visit", "assessment_and_plan", False),
    ("Schedule a preop checkup in June.", "checkup", "assessment_and_plan", False),
    ("He was sent for the test as part of a routine physical.", "routine physical", "history_of_present_illness",
     False),
])
def test_general_exam_only_when_it_is_this_visits_reason(codeset, text, phrase, section, coded):
    start = text.index(phrase)
    coverage = 0.7 if "Reasoning" in phrase else 1.0
    out = run({"Z00.00": 0.9, "E78.5": 0.7}, text, codeset=codeset,
              mentions={"Z00.00": [(start, start + len(phrase), section, coverage)]})
    assert ("Z00.01" in selected(out)) is coded
    assert out["Z00.00"].selected is False
    if not coded:
        assert ("general_exam", "dropped") in rules_of(out, "Z00.00")
        assert "not this visit" in out["Z00.00"].rules[-1].why


def test_a_stent_goes_with_the_coronary_disease_it_bears_on(codeset):
    out = run({"I25.10": 0.9, "Z95.5": 0.5 * THRESHOLD, "Z96.651": 0.5 * THRESHOLD}, codeset=codeset)
    assert selected(out) == {"I25.10", "Z95.5"}
    assert ("companion", "selected") in rules_of(out, "Z95.5")
    assert "I.C.21.c.3" in out["Z95.5"].rules[-1].why
    alone = run({"I25.10": 0.9}, codeset=codeset)
    assert rules_of(alone, "I25.10") == []  # no reminder on every coronary disease without a stent
    assert selected(run({"Z95.5": 0.5 * THRESHOLD}, codeset=codeset)) == set()


TREATED_NOTE = ("PAST MEDICAL HISTORY\nAtrial fibrillation.\nHypertension.\n\nCURRENT MEDICATIONS\nDigoxin 0.125 mg "
                "daily.\n\nALLERGIES\nBuspar causes a rash.\n")


def _mention(text: str, phrase: str, section: str) -> list[tuple[int, int, str]]:
    start = text.index(phrase)
    return [(start, start + len(phrase), section)]


def test_a_documented_condition_treated_now_is_coded(codeset):
    mentions = {"I48.91": _mention(TREATED_NOTE, "Atrial fibrillation", "past_medical_history"),
                "I10": _mention(TREATED_NOTE, "Hypertension", "past_medical_history")}
    out = run({"I48.91": 0.05, "I10": 0.05}, TREATED_NOTE, codeset=codeset, mentions=mentions)
    assert selected(out) == {"I48.91"}  # digoxin treats the fibrillation, not the blood pressure
    assert ("treated_condition", "selected") in rules_of(out, "I48.91")
    assert "digoxin" in out["I48.91"].rules[-1].why and "IV.J" in out["I48.91"].rules[-1].why


def test_a_drug_in_the_allergies_treats_nothing(codeset):
    text = TREATED_NOTE.replace("Atrial fibrillation", "Anxiety")
    out = run({"F41.9": 0.05}, text, codeset=codeset, mentions={"F41.9": _mention(text, "Anxiety", "past_medical_history")})
    assert selected(out) == set()


def test_no_second_code_for_a_treated_condition_already_coded(codeset):
    text = TREATED_NOTE.replace("Digoxin", "Lisinopril")
    mentions = {"I10": _mention(text, "Hypertension", "past_medical_history"),
                "I15.9": _mention(text, "Hypertension", "past_medical_history")}
    out = run({"I10": 0.9, "I15.9": 0.2}, text, codeset=codeset, mentions=mentions)
    assert selected(out) == {"I10"}


@pytest.mark.parametrize("findings, coded", [
    ("The CT shows a stone measuring 0.5 cm in the proximal right ureter.", "N20.1"),
    ("The CT shows a 4 mm stone in the lower pole of the right kidney. No stone in the ureter.", "N20.0"),
])
def test_a_stone_the_findings_place_in_the_ureter_is_a_ureteral_stone(codeset, findings, coded):
    text = f"RESULTS\n{findings}\n\nASSESSMENT\nRight kidney stone.\n"
    out = run({"N20.0": 0.9}, text, codeset=codeset)
    assert selected(out) == {coded}
    if coded == "N20.1":
        assert ("site_in_findings", "added") in rules_of(out, "N20.1")
        assert out["N20.1"].confidence == pytest.approx(0.9)


def test_an_unspecified_code_gives_way_to_a_specific_one_stated_on_the_same_words(codeset):
    text = "ASSESSMENT\nLisfranc fracture, left foot.\n"
    mentions = {"S92.902A": _mention(text, "fracture, left foot", "assessment_and_plan"),
                "S92.322A": _mention(text, "Lisfranc fracture, left", "assessment_and_plan")}
    out = run({"S92.902A": 0.6, "S92.322A": 0.3}, text, codeset=codeset, mentions=mentions)
    assert selected(out) == {"S92.322A"}
    assert ("specific_over_unspecified", "dropped") in rules_of(out, "S92.902A")
    assert out["S92.322A"].confidence == pytest.approx(0.6)
    shorter = {"S92.902A": mentions["S92.902A"], "S92.322A": _mention(text, "fracture", "assessment_and_plan")}
    assert selected(run({"S92.902A": 0.6, "S92.322A": 0.3}, text, codeset=codeset, mentions=shorter)) == {"S92.902A"}


def test_a_specific_code_selected_already_takes_the_unspecified_ones_place_where_it_states_all_of_it(codeset):
    text = "ASSESSMENT\nLisfranc fracture, left foot.\n"
    mentions = {"S92.902A": _mention(text, "fracture, left foot", "assessment_and_plan"),
                "S92.322A": _mention(text, "Lisfranc fracture, left", "assessment_and_plan")}
    out = run({"S92.902A": 0.9, "S92.322A": 0.9}, text, codeset=codeset, mentions=mentions)
    assert selected(out) == {"S92.322A"} and ("specific_over_unspecified", "dropped") in rules_of(out, "S92.902A")
    # A mention of its own elsewhere ("Constipation" in the assessment beside "chronic ..., constipation") stays.
    text = "HPI\nchronic abdominal pain, constipation.\n\nASSESSMENT\nConstipation.\n"
    mentions = {"K59.00": _mention(text, "constipation.", "history_of_present_illness")[:1]
                + _mention(text, "Constipation.", "assessment_and_plan"),
                "K59.09": _mention(text, "chronic abdominal pain, constipation", "history_of_present_illness")}
    out = run({"K59.00": 0.9, "K59.09": 0.9}, text, codeset=codeset, mentions=mentions)
    assert "K59.00" in selected(out) and ("specific_over_unspecified", "dropped") not in rules_of(out, "K59.00")


def test_a_categorys_own_unspecified_code_goes_beside_a_specific_code_of_it(codeset):
    out = run({"M54.9": 0.8, "M54.50": 0.9}, codeset=codeset)
    assert selected(out) == {"M54.50"}
    assert ("unspecified_with_specific", "dropped") in rules_of(out, "M54.9")
    assert selected(run({"M54.9": 0.8, "G89.29": 0.9}, codeset=codeset)) == {"M54.9", "G89.29"}


def test_sex_edit_drops_a_code_for_the_other_sex(codeset):
    patient = read_patient("62-year-old man with diabetes.")
    out = run({"Z86.32": 0.7, "E11.9": 0.9}, patient=patient, codeset=codeset)
    assert selected(out) == {"E11.9"}
    assert ("demographics", "dropped") in rules_of(out, "Z86.32")
    assert "male" in out["Z86.32"].rules[0].why


def test_age_edit_drops_a_newborn_code_for_an_adult(codeset):
    out = run({"P07.30": 0.7}, patient=Patient(age_years=54), codeset=codeset)
    assert not selected(out)


def test_companion_code_is_selected_with_its_combination_code(codeset):
    out = run({"E11.621": 0.8, "L97.519": 0.3 * THRESHOLD * 1.5}, codeset=codeset)
    assert selected(out) == {"E11.621", "L97.519"}
    assert ("companion", "selected") in rules_of(out, "L97.519")
    lonely = run({"E11.621": 0.8}, codeset=codeset)
    assert ("companion", "note") in rules_of(lonely, "E11.621")


def test_mentions_setting_codes_every_mention(codeset):
    out = run({"I10": 0.95, "I50.9": 0.8, "R06.02": 0.6, "Z23": 0.7}, setting="mentions", codeset=codeset)
    assert selected(out) == {"I10", "I50.9", "R06.02", "Z23"}


def test_unknown_setting_is_refused():
    with pytest.raises(ValueError, match="setting"):
        default_rules().rules_for("emergency")
    assert set(SETTINGS) == set(default_rules().settings)


# ------------------------------------------------------------------------------------------- the data
def _all_refs():
    rules = load_json("coding_rules.json")
    for c in rules["combinations"]:
        for group in c["when"]:
            yield from group
        yield from c["drop"]
    for p in rules["unspecified_with_specific"]["pairs"]:
        yield from p["unspecified"]
        yield from p["specific"]
    for c in rules["companions"]:
        yield from c["code"]
        yield from c["with"]
    for r in load_json("integral_symptoms.json")["rules"]:
        yield from r["diagnoses"]
        yield from r["symptoms"]
    edits = load_json("demographic_edits.json")
    for sex in ("female", "male"):
        for entry in edits["sex"][sex]:
            yield from entry["codes"]
    for entry in edits["age"]:
        yield from entry["codes"]


def test_every_code_reference_of_the_rules_names_codes_of_the_code_set(codeset):
    by_letter: dict[str, list[str]] = {}
    for code in codeset.billable_codes():
        by_letter.setdefault(code[0], []).append(code)
    missing = [ref for ref in set(_all_refs())
               if not any(CodeRef.parse(ref).matches(c) for c in by_letter.get(ref.strip()[0].upper(), []))]
    assert not missing


def test_codes_the_rules_add_are_billable(codeset):
    rules = load_json("coding_rules.json")
    targets = [c["code"] for c in rules["combinations"] if c["code"]]
    exam = rules["general_exam"]
    targets += [exam["with_findings"], exam["without_findings"], *rules["vaccination"]["codes"]]
    targets += [line.split("\t")[1] for line in read_text("long_term_drugs.tsv").splitlines()[1:] if line.strip()]
    assert [t for t in targets if not codeset.is_billable(t)] == []


def test_demographic_examples_agree_with_the_edits():
    rules = default_rules()
    for example in load_json("demographic_edits.json")["examples"]:
        patient = Patient(example.get("sex"), example.get("age_years"))
        assert (rules.demographic_conflict(example["code"], patient) is not None) == example["conflict"], example


def test_integral_symptom_examples_agree_with_the_table(codeset):
    for example in load_json("integral_symptoms.json")["examples"]:
        out = run({example["diagnosis"]: 0.9, example["symptom"]: 0.6}, setting="inpatient", codeset=codeset)
        dropped = example["symptom"] not in selected(out)  # by this rule, or by an Excludes1 note saying the same
        assert dropped == example["integral"], example


AFFIRMED = {"negated": False, "historical": False, "family": False, "hypothetical": False, "uncertain": False}


def _with_mentions(codes: dict[str, tuple[float, str]], text: str = "", setting: str = "outpatient"):
    """Candidates {code: (confidence, section of one affirmed full mention)}."""
    ruled = [RuledCode(code, p, p >= THRESHOLD, [(0, 1)], [dict(AFFIRMED)], sections=[section], coverages=[1.0])
             for code, (p, section) in codes.items()]
    out = default_rules().apply(ruled, ChartFacts(text, Patient()), setting, THRESHOLD, load_codeset())
    return {c.code: c for c in out}


def test_a_diagnosis_stated_plainly_in_the_assessment_is_selected():
    out = _with_mentions({"E11.9": (0.1, "assessment_and_plan"), "E11.8": (0.05, "assessment_and_plan"),
                          "K21.9": (0.1, "past_medical_history")})
    assert selected(out) == {"E11.9"}  # the best of its category only; a history mention is not enough
    assert ("plain_statement", "selected") in rules_of(out, "E11.9")
    assert selected(_with_mentions({"E11.9": (0.1, "assessment_and_plan")}, setting="mentions")) == set()


@pytest.mark.parametrize("line, coded", [
    ("2. Bilateral medial epicondylitis.", True),  # the assessment item is the diagnosis itself
    ("Discussed medial epicondylitis and bracing.", False),  # a low score and a passing mention: not selected
])
def test_an_assessment_line_that_is_the_diagnosis_is_selected_however_low_its_score(codeset, line, coded):
    text = f"ASSESSMENT\n{line}\n"
    out = run({"M77.00": 0.01}, text, codeset=codeset,
              mentions={"M77.00": _mention(text, "medial epicondylitis", "assessment_and_plan")})
    assert bool(selected(out)) is coded
    if coded:  # and, called bilateral, it is the right and the left code
        assert selected(out) == {"M77.01", "M77.02"}


def test_an_antidiabetic_drug_brings_its_documented_diabetes():
    out = _with_mentions({"E11.9": (0.02, "history_of_present_illness")}, text="Medications: metformin 500 mg bid.")
    assert {"Z79.84", "E11.9"} <= selected(out)
    assert ("companion", "selected") in rules_of(out, "E11.9")


def test_a_phrase_inside_a_longer_statement_is_not_a_plain_statement():
    ruled = [RuledCode("E23.2", 0.3, False, [(12, 30)], [dict(AFFIRMED)], sections=["assessment_and_plan"], coverages=[1.0]),
             RuledCode("E11.9", 0.1, False, [(12, 20)], [dict(AFFIRMED)], sections=["assessment_and_plan"], coverages=[1.0])]
    text = "Assessment: diabetes insipidus."
    out = {c.code: c for c in default_rules().apply(ruled, ChartFacts(text, Patient()), "outpatient", THRESHOLD,
                                                    load_codeset())}
    assert out["E23.2"].selected and not out["E11.9"].selected


def test_a_partial_match_of_another_code_does_not_swallow_a_plain_statement():
    text = "Assessment: bilateral breast cysts."
    # "cyst of bilateral orbits" matches the longer span only in part (no orbit in the text)
    ruled = [RuledCode("H05.813", 0.01, False, [(12, 34)], [dict(AFFIRMED)], sections=["assessment_and_plan"], coverages=[0.6]),
             RuledCode("N60.09", 0.1, False, [(22, 34)], [dict(AFFIRMED)], sections=["assessment_and_plan"], coverages=[1.0])]
    out = {c.code: c for c in default_rules().apply(ruled, ChartFacts(text, Patient()), "outpatient", THRESHOLD,
                                                    load_codeset())}
    assert ("plain_statement", "selected") in rules_of(out, "N60.09")
    assert selected(out) == {"N60.01", "N60.02"}  # and, called bilateral, it is the right and the left cyst


def test_metastatic_site_cancer_is_the_primary_site_with_an_unspecified_secondary():
    ruled = [RuledCode("C50.919", 0.8, True, [(12, 36)], [dict(AFFIRMED)], sections=["assessment_and_plan"], coverages=[1.0]),
             RuledCode("C79.81", 0.6, True, [(12, 36)], [dict(AFFIRMED)], sections=["assessment_and_plan"], coverages=[1.0]),
             RuledCode("D49.3", 0.45, True, [(22, 36)], [dict(AFFIRMED)], sections=["assessment_and_plan"], coverages=[1.0])]
    text = "Assessment: metastatic breast cancer."
    out = {c.code: c for c in default_rules().apply(ruled, ChartFacts(text, Patient()), "outpatient", THRESHOLD,
                                                    load_codeset())}
    assert selected(out) == {"C50.919", "C79.9"}
    assert ("neoplasm_sites", "dropped") in rules_of(out, "C79.81")
    assert ("neoplasm_sites", "dropped") in rules_of(out, "D49.3")


def test_a_named_secondary_site_stays():
    ruled = [RuledCode("C50.919", 0.8, True, [(12, 25)], [dict(AFFIRMED)]),
             RuledCode("C78.7", 0.6, True, [(26, 47)], [dict(AFFIRMED)])]
    text = "Assessment: breast cancer metastatic to the liver."
    out = {c.code: c for c in default_rules().apply(ruled, ChartFacts(text, Patient()), "outpatient", THRESHOLD,
                                                    load_codeset())}
    assert selected(out) == {"C50.919", "C78.7"}


def test_a_setting_naming_an_unknown_rule_is_refused():
    import copy

    from suggest.encoder.rules import CodingRules

    data = copy.deepcopy(load_json("coding_rules.json"))
    data["settings"]["outpatient"].append("intergral_symptom")
    with pytest.raises(ValueError, match="intergral_symptom"):
        CodingRules(data, load_json("integral_symptoms.json"), read_text("long_term_drugs.tsv"),
                    load_json("demographic_edits.json"))


def test_a_current_smoker_gets_the_dependence_code_and_counseling():
    out = run({"Z87.891": 0.7}, text="Social history: she smokes a pack a day. Counseled on smoking cessation today.")
    assert {"F17.210", "Z71.6"} <= selected(out) and "Z87.891" not in selected(out)
    assert ("tobacco", "dropped") in rules_of(out, "Z87.891")
    unstated = run({}, text="SOCIAL HISTORY\nCurrent smoker since his teens.")
    assert selected(unstated) == {"F17.200"}


@pytest.mark.parametrize("text", [
    "Former smoker, quit smoking years ago.",
    "He denies smoking or living with anyone who smokes.",
    "Father smokes cigarettes.",
])
def test_no_current_tobacco_code_for_former_or_denied_smoking(text):
    assert not {"F17.210", "F17.200"} & selected(run({}, text=text))


@pytest.mark.parametrize(("text", "drug", "code", "condition"), [
    ("Intentional overdose of Eliquis and metformin.", "metformin", "Z79.84", "T45.512A"),
    ("Accidental ingestion of her husband's metformin.", "metformin", "Z79.84", "T45.512A"),
    ("Primary osteoarthritis of the left knee. Steroid injection given today.", "Steroid", "Z79.52", "M17.12"),
])
def test_a_long_term_drug_code_the_ranker_read_from_no_long_term_use_is_dropped(codeset, text, drug, code, condition):
    """An overdose, a poisoning or a single dose: the ranker's choice from the drug's name goes, with the reason."""
    start = text.index(drug)
    out = run({condition: 0.9, code: 0.8}, text=text, codeset=codeset,
              mentions={code: [(start, start + len(drug), "assessment_and_plan")]})
    assert code not in selected(out)
    assert ("long_term_drug", "dropped") in rules_of(out, code)


def test_a_long_term_drug_held_for_surgery_is_still_long_term_use(codeset):
    out = run({"I48.21": 0.9}, text="Atrial fibrillation, permanent. Hold warfarin 5 days before surgery.",
              codeset=codeset)
    assert "Z79.01" in selected(out)


def test_systemic_steroids_need_long_term_use():
    assert "Z79.52" in selected(run({}, text="Medications: prednisone 5 mg daily for polymyalgia."))
    assert "Z79.52" not in selected(run({}, text="Medications: prednisone 40 mg."))
    assert "Z79.52" not in selected(run({}, text="Plan: methylprednisolone injection daily x1 into the sheath."))


def test_a_history_code_goes_when_the_condition_is_current():
    out = run({"N20.0": 0.8, "Z87.442": 0.9})
    assert selected(out) == {"N20.0"}
    assert ("history_beside_current", "dropped") in rules_of(out, "Z87.442")
    assert selected(run({"Z87.442": 0.9, "I10": 0.8})) == {"Z87.442", "I10"}


def test_the_history_the_assessment_states_outweighs_a_current_code_read_elsewhere(codeset):
    text = "CHIEF COMPLAINT\nFollow-up of kidney stones.\nASSESSMENT AND PLAN\n1. Personal history of kidney stones.\n"
    mentions = {"N20.0": _mention(text, "kidney stones", "chief_complaint"),
                "Z87.442": _mention(text, "Personal history of kidney stones", "assessment_and_plan")}
    out = run({"N20.0": 0.9, "Z87.442": 0.3}, text, codeset=codeset, mentions=mentions)
    assert selected(out) == {"Z87.442"}
    assert ("history_beside_current", "dropped") in rules_of(out, "N20.0")
    # The condition assessed as current keeps its code; the history goes.
    text = "ASSESSMENT AND PLAN\n1. Kidney stones. History of kidney stones in 2019.\n"
    mentions = {"N20.0": _mention(text, "Kidney stones", "assessment_and_plan"),
                "Z87.442": _mention(text, "History of kidney stones", "assessment_and_plan")}
    assert selected(run({"N20.0": 0.9, "Z87.442": 0.8}, text, codeset=codeset, mentions=mentions)) == {"N20.0"}


def test_a_combination_stated_in_full_is_coded_beside_its_use_additional_code(codeset):
    # "Hypertensive chronic kidney disease with stage 2 CKD": I12.9 and N18.2 share words; the blood pressure
    # check of a known hypertension is coded as the hypertension.
    text = "CHIEF COMPLAINT\nBlood pressure check.\nASSESSMENT AND PLAN\n1. Hypertensive chronic kidney disease with stage 2 CKD.\n"
    stage = text.index("chronic kidney disease with stage 2")
    mentions = {"I12.9": _mention(text, "Hypertensive chronic kidney disease", "assessment_and_plan"),
                "N18.2": [(stage, stage + 35, "assessment_and_plan")],
                "Z01.30": _mention(text, "Blood pressure check", "chief_complaint")}
    out = run({"N18.2": 0.9, "Z01.30": 0.6, "I12.9": 0.2}, text, codeset=codeset, mentions=mentions)
    assert selected(out) == {"I12.9", "N18.2"}
    assert ("plain_statement", "selected") in rules_of(out, "I12.9")
    assert ("integral_symptom", "dropped") in rules_of(out, "Z01.30")


def test_alzheimers_disease_brings_its_dementia(codeset):
    text = "ASSESSMENT AND PLAN\n1. Alzheimer's disease, late onset, with behavioral disturbance.\n"
    words = "Alzheimer's disease, late onset, with behavioral disturbance"
    mentions = {"G30.1": _mention(text, "Alzheimer's disease, late onset", "assessment_and_plan"),
                "F02.818": _mention(text, words, "assessment_and_plan")}
    out = run({"G30.1": 0.95, "F02.818": 0.02}, text, codeset=codeset, mentions=mentions)
    assert selected(out) == {"G30.1", "F02.818"}
    assert ("companion", "selected") in rules_of(out, "F02.818")


def test_a_former_smoker_keeps_the_history_code():
    out = run({"F17.210": 0.8}, text="He is a former smoker; he smoked 2 packs a day and stopped smoking 4 years ago.")
    assert "Z87.891" in selected(out) and "F17.210" not in selected(out)


def test_a_diagnosis_seen_only_in_the_results_is_not_coded():
    ruled = [RuledCode("E78.00", 0.8, True, [(5, 20)], [dict(AFFIRMED)], sections=["results"], coverages=[1.0]),
             RuledCode("R73.09", 0.6, True, [(30, 40)], [dict(AFFIRMED)], sections=["results"], coverages=[1.0]),
             RuledCode("I10", 0.7, True, [(50, 62)], [dict(AFFIRMED)], sections=["assessment_and_plan"], coverages=[1.0])]
    out = {c.code: c for c in default_rules().apply(ruled, ChartFacts("", Patient()), "outpatient", THRESHOLD,
                                                    load_codeset())}
    assert selected(out) == {"R73.09", "I10"}  # findings keep their R codes
    assert ("findings_only", "dropped") in rules_of(out, "E78.00")


def test_a_lone_generic_word_is_not_coded():
    text = "Plan: Counseling: we discussed the diagnosis. Chronic kidney disease stage 3a."
    start = text.index("Counseling")

    def coded(setting):
        ruled = [RuledCode("Z71.9", 0.9, True, [(start, start + 10)], [dict(AFFIRMED)],
                           sections=["assessment_and_plan"], coverages=[1.0]),
                 RuledCode("N18.31", 0.9, True, [(text.index("Chronic"), len(text) - 1)], [dict(AFFIRMED)],
                           sections=["assessment_and_plan"], coverages=[1.0])]
        return {c.code: c for c in default_rules().apply(ruled, ChartFacts(text, Patient()), setting, THRESHOLD,
                                                        load_codeset())}

    out = coded("outpatient")
    assert selected(out) == {"N18.31"}
    assert ("lone_word", "dropped") in rules_of(out, "Z71.9")
    assert selected(coded("mentions")) == {"Z71.9", "N18.31"}


def test_a_history_code_on_the_same_words_does_not_block_the_current_condition():
    text = "Assessment: history of kidney stones. Kidney stones, passing one now."
    start = text.index("Kidney")
    ruled = [RuledCode("Z87.442", 0.9, True, [(12, 36), (start, start + 13)], [dict(AFFIRMED), dict(AFFIRMED)],
                       sections=["assessment_and_plan"] * 2, coverages=[1.0, 0.8]),
             RuledCode("N20.0", 0.3, False, [(start, start + 13)], [dict(AFFIRMED)], sections=["assessment_and_plan"],
                       coverages=[1.0])]
    out = {c.code: c for c in default_rules().apply(ruled, ChartFacts(text, Patient()), "outpatient", THRESHOLD,
                                                    load_codeset())}
    assert selected(out) == {"N20.0"}
    assert ("history_beside_current", "dropped") in rules_of(out, "Z87.442")


def _one_mention(code: str, text: str, words: str, confidence: float = 0.9) -> dict[str, RuledCode]:
    start = text.index(words)
    ruled = [RuledCode(code, confidence, confidence >= THRESHOLD, [(start, start + len(words))], [dict(AFFIRMED)],
                       sections=["assessment_and_plan"], coverages=[1.0])]
    out = default_rules().apply(ruled, ChartFacts(text, Patient()), "outpatient", THRESHOLD, load_codeset())
    return {c.code: c for c in out}


@pytest.mark.parametrize("text, words", [
    ("Assessment: Bilateral medial epicondylitis.", "medial epicondylitis"),
    ("Assessment: medial epicondylitis, bilateral.", "medial epicondylitis"),
    ("Assessment: medial epicondylitis of both elbows.", "medial epicondylitis"),
])
def test_a_bilateral_condition_without_a_bilateral_code_is_coded_for_each_side(text, words):
    out = _one_mention("M77.00", text, words)
    assert selected(out) == {"M77.01", "M77.02"}
    assert ("bilateral", "dropped") in rules_of(out, "M77.00")
    assert "I.B.13" in out["M77.01"].rules[0].why


def test_a_bilateral_condition_takes_the_bilateral_code_where_there_is_one():
    out = _one_mention("H65.411", "Assessment: chronic allergic otitis media, bilateral.", "chronic allergic otitis media")
    assert selected(out) == {"H65.413"}


def test_bilateral_elsewhere_in_the_sentence_does_not_make_a_condition_bilateral():
    text = "Assessment: bilateral lower extremity edema and right knee pain."
    assert selected(_one_mention("M25.561", text, "right knee pain")) == {"M25.561"}
    assert selected(_one_mention("M25.561", "Assessment: right knee pain. Pain in both hands.", "right knee pain")) \
        == {"M25.561"}


def test_a_negated_bilateral_mention_changes_nothing():
    text = "Assessment: bilateral medial epicondylitis."
    start = text.index("medial")
    ruled = [RuledCode("M77.00", 0.9, True, [(start, start + 20)], [dict(AFFIRMED, negated=True)])]
    out = {c.code: c for c in default_rules().apply(ruled, ChartFacts(text, Patient()), "outpatient", THRESHOLD,
                                                    load_codeset())}
    assert selected(out) == {"M77.00"}


def _with_text(code: str, text: str, words: str) -> dict[str, RuledCode]:
    """One selected candidate whose evidence is ``words``, over ``text`` read by the real clinical pipeline."""
    start = text.index(words)
    ruled = [RuledCode(code, 0.9, True, [(start, start + len(words))], [dict(AFFIRMED)],
                       sections=["assessment_and_plan"], coverages=[1.0])]
    out = default_rules().apply(ruled, ChartFacts(text, Patient(), _assertion_of(text)), "outpatient", THRESHOLD,
                                load_codeset())
    return {c.code: c for c in out}


def test_an_unspecified_side_takes_the_side_the_chart_gives_its_site_elsewhere():
    text = "RESULTS\nCT shows a 3 cm left ovarian mass.\n\nASSESSMENT\n1. Ovarian cancer."
    out = _with_text("C56.9", text, "Ovarian cancer")
    assert selected(out) == {"C56.2"}
    assert ("side_from_chart", "dropped") in rules_of(out, "C56.9")
    assert "left ovarian" in out["C56.2"].rules[0].why


@pytest.mark.parametrize("text", [
    "RESULTS\nA left ovarian mass and a right ovarian cyst.\n\nASSESSMENT\n1. Ovarian cancer.",  # both sides
    "RESULTS\nNo left ovarian mass.\n\nASSESSMENT\n1. Ovarian cancer.",  # negated
    "FAMILY HISTORY\nSister: left ovarian cancer.\n\nASSESSMENT\n1. Ovarian cancer.",  # a relative's
])
def test_no_side_is_taken_from_a_site_the_chart_does_not_side_plainly(text):
    assert selected(_with_text("C56.9", text, "Ovarian cancer")) == {"C56.9"}


def test_an_injury_of_a_named_region_puts_t14_below_it():
    text = "Assessment: puncture wound L 5th finger, no FB, initial."
    start, end = text.index("puncture"), text.index(", no FB")
    ruled = [RuledCode("T14.8XXA", 0.6, True, [(text.index("wound"), text.index("wound") + 5)], [dict(AFFIRMED)]),
             RuledCode("S61.237A", 0.3, False, [(start, end)], [dict(AFFIRMED)])]
    out = default_rules().apply(ruled, ChartFacts(text, Patient()), "mentions", THRESHOLD, load_codeset())
    assert [c.code for c in out] == ["S61.237A", "T14.8XXA"]
    assert not out[1].selected and ("unspecified_region", "dropped") in rules_of({c.code: c for c in out}, "T14.8XXA")


def test_t14_with_no_region_named_is_a_query_for_the_site_when_coding_and_a_mention_otherwise():
    text = "Assessment: fracture, initial encounter."
    for setting in ("outpatient", "inpatient"):
        ruled = [RuledCode("T14.8XXA", 0.6, True, [(12, 20)], [dict(AFFIRMED)])]
        out = default_rules().apply(ruled, ChartFacts(text, Patient()), setting, THRESHOLD, load_codeset())
        assert [c.code for c in out] == ["T14.8XXA"] and not out[0].selected
        assert "query the provider for the site" in out[0].rules[0].why
    ruled = [RuledCode("T14.8XXA", 0.6, True, [(12, 20)], [dict(AFFIRMED)])]
    out = default_rules().apply(ruled, ChartFacts(text, Patient()), "mentions", THRESHOLD, load_codeset())
    assert out[0].selected


def test_a_plain_fracture_with_no_region_is_not_selected_for_being_stated():
    # "the foundation has a hairline fracture": with no body region, T14 waits for the ranker (or a query).
    text = "Assessment: hairline fracture, stable."
    start, end = text.index("hairline"), text.index(", stable")
    candidate = RuledCode("T14.8XXA", 0.2, False, [(start, end)], [dict(AFFIRMED)], sections=["assessment_and_plan"],
                          coverages=[1.0])
    out = default_rules().apply([candidate], ChartFacts(text, Patient(), _assertion_of(text)), "outpatient",
                                THRESHOLD, load_codeset())
    assert not out[0].selected
    named = RuledCode("S62.102A", 0.2, False, [(start, end)], [dict(AFFIRMED)], sections=["assessment_and_plan"],
                      coverages=[1.0])
    out = default_rules().apply([named], ChartFacts(text, Patient(), _assertion_of(text)), "outpatient",
                                THRESHOLD, load_codeset())
    assert out[0].selected and ("plain_statement", "selected") in rules_of({c.code: c for c in out}, "S62.102A")


def test_among_negligible_confidences_a_code_the_chart_states_comes_first(codeset):
    text = "Assessment: chemical burn of left wrist, sequela."
    mention = (12, 39)
    ruled = [RuledCode("Z86.73", 0.004, False),  # a classifier guess, no words of the chart
             RuledCode("T23.472S", 0.001, False, [mention], [dict(AFFIRMED)], sections=["assessment_and_plan"],
                       coverages=[0.8]),
             RuledCode("Z95.5", 0.02, False)]  # above the floor: its confidence still ranks it
    out = default_rules().apply(ruled, ChartFacts(text, Patient()), "outpatient", THRESHOLD, codeset)
    assert [c.code for c in out] == ["Z95.5", "T23.472S", "Z86.73"]


@pytest.mark.parametrize(("text", "history", "deficit", "expected"), [
    ("Assessment: apraxia s/p ischemic CVA.", ("I63.9", "ischemic CVA", True), ("R48.2", "apraxia", 0.9), "I69.390"),
    ("Assessment: history of CVA with residual left hemiparesis.", ("Z86.73", "history of CVA", False),
     ("G81.94", "left hemiparesis", 0.02), "I69.354"),  # the deficit stated in full, however low its score
])
def test_a_stated_deficit_of_a_past_stroke_is_its_sequela(codeset, text, history, deficit, expected):
    (past, past_words, only_past), (code, words, p) = history, deficit
    start, dstart = text.index(past_words), text.index(words)
    past_flags = {**AFFIRMED, "historical": only_past}
    ruled = [RuledCode(past, 0.9 if past == "Z86.73" else 0.3, past == "Z86.73", [(start, start + len(past_words))],
                       [past_flags], sections=["assessment_and_plan"], coverages=[1.0]),
             RuledCode(code, p, p >= THRESHOLD, [(dstart, dstart + len(words))], [dict(AFFIRMED)],
                       sections=["assessment_and_plan"], coverages=[1.0])]
    out = {c.code: c for c in default_rules().apply(ruled, ChartFacts(text, Patient()), "outpatient", THRESHOLD, codeset)}
    assert selected(out) == {expected}


def test_an_acute_strokes_deficit_is_no_sequela(codeset):
    text = "Assessment: acute ischemic stroke with aphasia."
    ruled = [RuledCode("I63.9", 0.9, True, [(12, 33)], [dict(AFFIRMED)], sections=["assessment_and_plan"], coverages=[1.0]),
             RuledCode("R47.01", 0.3, False, [(39, 46)], [dict(AFFIRMED)], sections=["assessment_and_plan"],
                       coverages=[1.0])]
    out = {c.code: c for c in default_rules().apply(ruled, ChartFacts(text, Patient()), "outpatient", THRESHOLD, codeset)}
    assert "I69.320" not in out and selected(out) == {"I63.9"}


@pytest.mark.parametrize(("text", "code", "coded"), [
    ("Assessment: Migraines. Continue Imitrex.", "G43.009", "G43.909"),  # the index's Migraine: G43.909
    ("Assessment: intractable migraine.", "G43.019", "G43.919"),
    ("Assessment: migraine without aura.", "G43.009", "G43.009"),  # said: it stands
    ("HPI: no aura. Assessment: migraine.", "G43.009", "G43.009"),
])
def test_a_migraine_is_without_aura_only_where_the_chart_says_so(codeset, text, code, coded):
    start = text.index("igraine") - 1
    out = run({code: 0.9}, text, codeset=codeset, mentions={code: [(start, start + 8, "assessment_and_plan")]})
    assert selected(out) == {coded}
    if coded != code:
        assert ("unstated_qualifier", "dropped") in rules_of(out, code)
        assert "aura" in out[coded].rules[0].why


@pytest.mark.parametrize(("text", "words", "coded"), [
    ("Assessment: left allergic conjunctivitis.", "allergic conjunctivitis", "H10.12"),
    ("Assessment: Right - allergic conjunctivitis.", "allergic conjunctivitis", "H10.11"),
    ("Assessment: allergic conjunctivitis.", "allergic conjunctivitis", "H10.10"),  # no side said
    ("Assessment: allergic conjunctivitis, left worse than right.", "allergic conjunctivitis", "H10.10"),  # two
    ("Right knee pain. Assessment: allergic conjunctivitis.", "allergic conjunctivitis", "H10.10"),  # another clause
])
def test_an_unspecified_side_code_takes_the_side_said_with_its_own_words(codeset, text, words, coded):
    out = run({"H10.10": 0.9}, text, codeset=codeset, mentions={"H10.10": _mention(text, words, "assessment_and_plan")})
    assert selected(out) == {coded}
    if coded != "H10.10":
        assert ("side_in_mention", "dropped") in rules_of(out, "H10.10")


def test_joint_pain_of_no_named_joint_is_integral_to_arthritis_of_no_named_site(codeset):
    out = run({"M19.90": 0.9, "M25.50": 0.9}, codeset=codeset)
    assert selected(out) == {"M19.90"} and ("integral_symptom", "dropped") in rules_of(out, "M25.50")


def test_a_bare_problem_line_is_read_as_the_providers_statement(codeset):
    text = "Community acquired pneumonia."
    bare = [RuledCode("J18.9", 0.2, False, [(0, 28)], [dict(AFFIRMED)], sections=["preamble"], coverages=[1.0])]
    out = default_rules().apply(bare, ChartFacts(text, Patient(), _assertion_of(text)), "outpatient", THRESHOLD, codeset)
    assert out[0].selected and ("plain_statement", "selected") in rules_of({c.code: c for c in out}, "J18.9")
    # A longer text under no heading is not one statement.
    text = "Community acquired pneumonia. " + "The patient was seen in the clinic today and we talked at length. " * 2
    bare = [RuledCode("J18.9", 0.2, False, [(0, 28)], [dict(AFFIRMED)], sections=["preamble"], coverages=[1.0])]
    out = default_rules().apply(bare, ChartFacts(text, Patient(), _assertion_of(text)), "outpatient", THRESHOLD, codeset)
    assert not out[0].selected


def test_a_fracture_the_assessment_states_is_coded_over_the_pain_it_explains(codeset):
    # The ranker selected the foot pain and doubted the fracture; the assessment says the pain is due to the fracture.
    text = "ASSESSMENT\nRight foot pain, due to a Lisfranc fracture.\n"
    words = "Right foot pain, due to a Lisfranc fracture"
    mentions = {code: _mention(text, words, "assessment_and_plan") for code in ("S92.901A", "S92.321A")}
    mentions["M79.671"] = _mention(text, "Right foot pain", "assessment_and_plan")
    out = run({"M79.671": 0.6, "S92.901A": 0.08, "S92.321A": 0.02}, text, codeset=codeset, mentions=mentions)
    assert selected(out) == {"S92.321A"}
    assert ("integral_symptom", "dropped") in rules_of(out, "M79.671")
    assert ("specific_over_unspecified", "dropped") in rules_of(out, "S92.901A")


@pytest.mark.parametrize(("words", "coded"), [
    ("Left shoulder pain, likely rotator cuff tendinopathy", False),  # the cue inside the window
    ("Left shoulder pain, rotator cuff tendinopathy", True),
    ("Left shoulder pain, consistent with rotator cuff tendinopathy", True),  # read as confirming
])
def test_an_uncertainty_cue_inside_the_mentions_own_words_makes_it_uncertain(codeset, words, coded):
    text = f"ASSESSMENT\n{words}.\n"
    out = run({"M75.102": 0.9}, text, codeset=codeset, mentions={"M75.102": _mention(text, words, "assessment_and_plan")})
    assert ("M75.102" in selected(out)) is coded
    if not coded:
        assert ("uncertain", "dropped") in rules_of(out, "M75.102")


def test_what_a_mention_states_before_its_uncertainty_cue_is_coded(codeset):
    words = "Left shoulder pain, likely rotator cuff tendinopathy"
    text = f"ASSESSMENT\n{words}.\n"
    mentions = {"M75.102": _mention(text, words, "assessment_and_plan"),
                "M25.512": _mention(text, "Left shoulder pain", "assessment_and_plan")}
    out = run({"M75.102": 0.9, "M25.512": 0.1}, text, codeset=codeset, mentions=mentions)
    assert selected(out) == {"M25.512"}
    assert ("uncertain", "selected") in rules_of(out, "M25.512")


@pytest.mark.parametrize(("words", "coded"), [
    ("Right middle finger distal phalanx fracture", "S62.632A"),  # displaced by default (I.C.19.c.1)
    ("Right middle finger nondisplaced distal phalanx fracture", "S62.602A"),  # documented: left to the matcher
    ("Right middle finger fracture", "S62.602A"),  # no part named: the unspecified phalanx stands
])
def test_a_fracture_not_documented_as_displaced_is_coded_displaced(codeset, words, coded):
    text = f"ASSESSMENT\n{words}.\n"
    span = [(text.index(words), text.index(words) + len(words))]
    # The unspecified code matched in full; the displaced one in part (the chart does not say "displaced").
    ruled = [RuledCode("S62.602A", 0.9, True, span, [{}], sections=["assessment_and_plan"], coverages=[1.0]),
             RuledCode("S62.632A", 0.01, False, span, [{}], sections=["assessment_and_plan"], coverages=[0.85])]
    out = {c.code: c for c in default_rules().apply(ruled, ChartFacts(text, Patient(), _assertion_of(text)),
                                                    "outpatient", THRESHOLD, codeset)}
    assert selected(out) == {coded}
    if coded == "S62.632A":
        assert ("displaced_default", "dropped") in rules_of(out, "S62.602A")


def test_the_rules_read_the_same_with_the_charts_words_given(codeset):
    """The engine hands the rules the words its analysis read; the rules read the same as from the text alone."""
    from suggest.pipeline.normalize import WordSpans, default_normalizer

    text = "Assessment: Right knee pain. Left allergic conjunctivitis. Other specified anemia."
    codes = {"M25.561": 0.3, "H10.12": 0.2, "H10.10": 0.4, "D64.89": 0.2, "D64.9": 0.5}
    spans = {"M25.561": [(12, 28, "assessment_plan")], "H10.12": [(30, 58, "assessment_plan")],
             "H10.10": [(35, 58, "assessment_plan")], "D64.89": [(60, 83, "assessment_plan")],
             "D64.9": [(75, 83, "assessment_plan")]}

    def outcome(words):
        ruled = [RuledCode(code, p, p >= THRESHOLD, [(s, e) for s, e, _ in spans[code]], [{}],
                           sections=[sec for _, _, sec in spans[code]], coverages=[1.0]) for code, p in codes.items()]
        facts = ChartFacts(text, Patient(), _assertion_of(text), words)
        out = default_rules().apply(ruled, facts, "outpatient", THRESHOLD, codeset)
        return [(c.code, round(c.confidence, 9), c.selected, [n.to_dict() for n in c.rules]) for c in out]

    assert outcome(WordSpans.of(default_normalizer().words(text))) == outcome(None)
