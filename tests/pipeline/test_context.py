"""ConText assertion: negation, history, family, hypothetical, scopes and terminators."""

import pytest

import suggest


def flags_of(text: str, mention: str) -> dict[str, bool]:
    start = text.index(mention)
    return suggest.assess(text, start, start + len(mention))


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("Patient denies chest pain.", "chest pain"),
        ("No fever, chills, night sweats or weight loss.", "weight loss"),
        ("He has no history of diabetes.", "diabetes"),
        ("Negative for hematuria.", "hematuria"),
        ("Pulmonary embolism was ruled out.", "Pulmonary embolism"),
        ("The wound is free of infection.", "infection"),
        ("Chest X-ray without evidence of pneumonia.", "pneumonia"),
        ("Her symptoms do not appear related to signs of a stroke.", "stroke"),
    ],
)
def test_negated(text, mention):
    assert flags_of(text, mention)["negated"]


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("She has hypertension.", "hypertension"),
        ("Denies chest pain but reports palpitations.", "palpitations"),  # terminator "but" ends the scope
        ("No change in her chronic back pain.", "back pain"),  # pseudo-trigger
        ("Gram negative bacteremia.", "bacteremia"),
        ("Patellar fracture, side not documented, open type IIIC.", "open type IIIC"),
        ("Denies chest pain.\nShortness of breath on exertion.", "Shortness of breath"),  # sentence end
    ],
)
def test_affirmed(text, mention):
    assert not flags_of(text, mention)["negated"]


def test_a_mention_spanning_a_denial_is_denied_but_not_one_spanning_its_own_words():
    text = "He drinks 2 beers once a week and denies a history of heavy alcohol use."
    assert flags_of(text, "drinks 2 beers once a week and denies a history of heavy")["negated"]  # "drinks heavily"
    assert not flags_of("Type 2 diabetes without complications.", "diabetes without complications")["negated"]
    assert not flags_of("Laceration of scalp, no foreign body.", "Laceration of scalp, no foreign body")["negated"]
    assert not flags_of("Patient denies chest pain.", "Patient denies chest pain")["negated"]  # at its start: as before
    text = "We will order a urine culture to evaluate for any signs of infection."
    assert flags_of(text, "urine culture to evaluate for any signs of infection")["uncertain"]  # not a UTI


def test_family_history():
    text = "Her mother had breast cancer at 50."
    assert flags_of(text, "breast cancer") == {"negated": False, "historical": False, "family": True, "hypothetical": False,
                                                "uncertain": False}


def test_family_history_section_marks_family():
    text = "FAMILY HISTORY\nColon cancer.\n\nASSESSMENT\nAnemia."
    assert flags_of(text, "Colon cancer")["family"]
    assert not flags_of(text, "Anemia")["family"]


def test_historical():
    assert flags_of("History of pneumonia in 2019.", "pneumonia")["historical"]
    assert flags_of("She is status post appendectomy.", "appendectomy")["historical"]


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("Rule out pulmonary embolism.", "pulmonary embolism"),
        ("Possible pneumonia on the left.", "pneumonia"),
        ("Findings concerning for appendicitis.", "appendicitis"),
        ("Sepsis is suspected.", "Sepsis"),
        ("Lumbar disc herniation at L4-L5, suspected. MRI ordered.", "Lumbar disc herniation"),  # after it
        ("Pneumonia (possible), chest x-ray ordered.", "Pneumonia"),
        ("I am concerned about a torn MCL.", "torn MCL"),
        ("His symptoms seem consistent with hypersensitivity pneumonitis.", "hypersensitivity pneumonitis"),
        ("She presents with symptoms similar to a tension headache.", "tension headache"),
    ],
)
def test_uncertain(text, mention):
    flags = flags_of(text, mention)
    assert flags["uncertain"] and not flags["hypothetical"]


def test_a_possible_finding_after_a_comma_leaves_the_diagnosis_before_it_certain():
    assert not flags_of("Type 2 diabetes, possible gastroparesis.", "Type 2 diabetes")["uncertain"]
    assert flags_of("Type 2 diabetes, possible gastroparesis.", "gastroparesis")["uncertain"]


def test_hypothetical():
    flags = flags_of("Return if fever develops.", "fever")
    assert flags["hypothetical"] and not flags["uncertain"]


@pytest.mark.parametrize(("text", "mention"), [
    ("The risks include but are not limited to pain, swelling, damage to nerves and blood vessels, and infection.",
     "infection"),
    ("We discussed possible complications such as bleeding, wound dehiscence and deep vein thrombosis.",
     "deep vein thrombosis"),
    ("Side effects include nausea, headache and diarrhea.", "diarrhea"),
    ("There is a possibility of chronic pain after the operation.", "chronic pain"),
    ("Poor alignment can lead to developing arthritis.", "arthritis"),
])
def test_a_list_of_risks_or_side_effects_is_hypothetical_to_its_end(text, mention):
    assert flags_of(text, mention)["hypothetical"]


def test_scope_is_bounded():
    text = "Denies pain and says that after the long trip last week she developed a bad cough."
    assert not flags_of(text, "cough")["negated"]


def test_span_errors():
    with pytest.raises(ValueError):
        suggest.assess("short", 3, 99)
    with pytest.raises(TypeError):
        suggest.assess(b"bytes", 0, 1)  # type: ignore[arg-type]


def test_character_spans_map_to_the_tokens_they_touch():
    """``token_range`` is ``doc.char_span(..., alignment_mode="expand")`` without building tokens."""
    import random

    from suggest.pipeline import get_nlp, process
    from suggest.pipeline.context import token_range

    text = "Hx:  HTN,DM2 (well-controlled)\n\n- denies  chest pain;  no SOB.\tPlan: f/u 2 wks."
    doc = next(process(get_nlp(), [text]))
    rnd = random.Random(0)
    for _ in range(500):
        start = rnd.randrange(len(text))
        end = rnd.randrange(start + 1, len(text) + 1)
        span = doc.char_span(start, end, alignment_mode="expand")
        expected = (span.start, span.end) if span is not None and len(span) else None
        first, last = token_range(doc, start, end)
        assert ((first, last) if first < last else None) == expected, (start, end)


def test_spans_carry_registered_assertion_and_section_attributes():
    from suggest.pipeline import get_nlp, process

    text = ("FAMILY HISTORY\nMother had breast cancer.\n\nASSESSMENT AND PLAN\n"
            "Denies chest pain. Type 2 diabetes, continue metformin.")
    doc = next(process(get_nlp(), [text]))

    def span_of(words):
        start = text.index(words)
        return doc.char_span(start, start + len(words), alignment_mode="expand")

    cancer, chest_pain, diabetes = span_of("breast cancer"), span_of("chest pain"), span_of("Type 2 diabetes")
    assert cancer._.is_family and cancer._.section == "family_history"
    assert chest_pain._.is_negated and not chest_pain._.is_family
    assert not any((diabetes._.is_negated, diabetes._.is_historical, diabetes._.is_family, diabetes._.is_hypothetical,
                    diabetes._.is_uncertain))
    assert diabetes._.section == "assessment_and_plan"
    assert doc._.sentence_starts[0] == 0 and doc._.source_text == text
    assert [s.name for s in doc._.sections][:2] == ["family_history", "assessment_and_plan"]
    # The flags agree with assess(), which works on character offsets.
    start = text.index("chest pain")
    assert suggest.assess(text, start, start + len("chest pain"))["negated"]


def test_components_carry_versioned_factory_names():
    from suggest.pipeline import get_nlp

    nlp = get_nlp()
    assert nlp.pipe_names == ["clinical_sentencizer", "clinical_sections", "clinical_context"]
    assert [nlp.get_pipe_meta(name).factory for name in nlp.pipe_names] == [
        "clinical_sentencizer_v1", "clinical_sections_v1", "clinical_context_v1"]


@pytest.mark.parametrize(("text", "mention"), [
    ("She is going to be having a right knee replacement in June.", "knee replacement"),
    ("He is scheduled for a colonoscopy next month.", "colonoscopy"),
])
def test_a_planned_procedure_is_hypothetical(text, mention):
    assert flags_of(text, mention)["hypothetical"]
