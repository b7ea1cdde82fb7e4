"""Sentence splitting and section detection on clinical layouts."""

from suggest.pipeline import get_nlp, section_at

NOTE = """CHIEF COMPLAINT

Annual exam.

HISTORY OF PRESENT ILLNESS

Martha is a 50-year-old female. She saw Dr. Smith last week and the
pain improved.

FAMILY HISTORY
Mother: diabetes.

PMH: hypertension, GERD.

REVIEW OF SYSTEMS

• Cardiovascular: Denies chest pain.
• Respiratory: Denies shortness of breath.

ASSESSMENT AND PLAN

1. Hypertension.
• Medical Reasoning: stable on lisinopril.

Electronically signed by: Jane Doe, MD 03/04/2025
"""


def sentences(text):
    return [s.text.strip() for s in get_nlp()(text).sents]


def test_sentences_follow_lines_bullets_and_abbreviations():
    sents = sentences(NOTE)
    assert "Annual exam." in sents
    assert "She saw Dr. Smith last week and the\npain improved." in sents  # wrapped line and "Dr." kept
    assert "• Cardiovascular: Denies chest pain." in sents
    assert "• Respiratory: Denies shortness of breath." in sents
    assert "1. Hypertension." in sents


def test_sections():
    doc = get_nlp()(NOTE)
    names = [s.name for s in doc._.sections]
    assert names[:3] == ["chief_complaint", "history_of_present_illness", "family_history"]
    for name in ("past_medical_history", "review_of_systems", "assessment_and_plan", "signature"):
        assert name in names
    assert section_at(doc, NOTE.index("Annual exam")) == "chief_complaint"
    assert section_at(doc, NOTE.index("Mother")) == "family_history"
    assert section_at(doc, NOTE.index("GERD")) == "past_medical_history"
    assert section_at(doc, NOTE.index("Denies chest pain")) == "review_of_systems"  # "Cardiovascular:" is not a section
    assert section_at(doc, NOTE.index("stable on")) == "assessment_and_plan"


def test_text_before_any_header_is_preamble():
    doc = get_nlp()("Seen today for cough.\nPLAN: rest.")
    assert section_at(doc, 0) == "preamble"
    assert section_at(doc, doc.text.index("rest")) == "assessment_and_plan"


def test_real_notes_have_their_sections(shared_dir):
    import csv

    csv.field_size_limit(10**9)
    with open(shared_dir / "data/aci-bench/train.csv", newline="", encoding="utf-8") as fh:
        notes = [row["note"] for row in csv.DictReader(fh)]
    found_assessment = 0
    for note in notes:
        names = {s.name for s in get_nlp()(note)._.sections}
        found_assessment += "assessment_and_plan" in names
    assert found_assessment >= 0.95 * len(notes)


def _reference_terminal_starts(splitter, text):
    """Sentence starts after terminal punctuation, found by the plain pattern the splitter's faster search replaced."""
    import re

    from suggest.pipeline.resources import load_json

    terminal = "".join(re.escape(p) for p in load_json("sentence_rules.json")["terminal_punctuation"])
    found = set()
    for m in re.finditer(rf"(?P<word>[\w.]*)(?P<p>[{terminal}])[ \t]+(?=(?P<next>\S))", text):
        word = m.group("word").lower()
        if m.group("p") == "." and (word in splitter.abbreviations or (word.isdigit() and len(word) <= 2)):
            continue
        if m.group("p") == "." and m.group("next")[0].islower() and len(word) <= 3:
            continue
        found.add(m.end())
    return found


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="aB1é_ .!?;:\n\tDr", max_size=60))
def test_sentences_after_terminal_punctuation_are_found_as_by_the_plain_pattern(text):
    from suggest.pipeline.resources import load_json
    from suggest.pipeline.sentences import ClinicalSentencizer

    splitter = ClinicalSentencizer(load_json("sentence_rules.json"))
    other = {m.end() for m in splitter._blank_line.finditer(text)} | \
        {m.end() for m in splitter._line_break.finditer(text)} | \
        {m.end() for m in splitter._line_break_after_punct.finditer(text)} | {len(text) - len(text.lstrip())}
    assert set(splitter.starts(text)) == other | _reference_terminal_starts(splitter, text)


def test_a_number_ending_a_sentence_is_no_list_marker():
    """'stage 2. No heart failure.' is two sentences; '1.' at a line start or after a header's colon opens an item."""
    assert sentences("He has CKD stage 2. No heart failure.") == ["He has CKD stage 2.", "No heart failure."]
    assert sentences("Assessment: 1. Type 2 diabetes. 2. Right heel ulcer.") == [
        "Assessment: 1. Type 2 diabetes.", "2. Right heel ulcer."]
