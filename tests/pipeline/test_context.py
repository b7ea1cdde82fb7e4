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
        ("Denies chest pain.\nShortness of breath on exertion.", "Shortness of breath"),  # sentence end
    ],
)
def test_affirmed(text, mention):
    assert not flags_of(text, mention)["negated"]


def test_family_history():
    text = "Her mother had breast cancer at 50."
    assert flags_of(text, "breast cancer") == {"negated": False, "historical": False, "family": True, "hypothetical": False}


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
        ("Return if fever develops.", "fever"),
        ("Sepsis is suspected.", "Sepsis"),
    ],
)
def test_hypothetical(text, mention):
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
