"""The patient's sex and age read from a chart."""

from __future__ import annotations

import pytest

from suggest.encoder.patient import read_patient


@pytest.mark.parametrize(("text", "sex", "age"), [
    ("62-year-old man with chest pain.", "male", 62),
    ("Ms. Lopez is a 45 year old female seen for follow-up.", "female", 45),
    ("58 yo F with cough.", "female", 58),
    ("Patient: 71 y/o male. Sex: M", "male", 71),
    ("She reports that her knee hurts when she climbs stairs.", "female", None),
    ("He says his back pain started after he lifted a box.", "male", None),
    ("A 3-month-old infant with fever.", None, 0.25),
])
def test_reads_sex_and_age(text, sex, age):
    patient = read_patient(text)
    assert patient.sex == sex
    assert patient.age_years == pytest.approx(age, abs=0.01) if age is not None else patient.age_years is None


def test_multiple_sclerosis_is_not_a_title():
    assert read_patient("MS flare. Continue treatment.").sex is None


def test_pronouns_count_only_when_one_sex_dominates():
    assert read_patient("She called; he answered. She and he agreed.").sex is None


def test_what_the_caller_knows_wins():
    patient = read_patient("62-year-old man.", sex="female", age_years=30)
    assert (patient.sex, patient.age_years) == ("female", 30)
    with pytest.raises(ValueError, match="sex"):
        read_patient("text", sex="x")
