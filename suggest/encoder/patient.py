"""The patient's sex and age, as the chart states them, for the age and sex edits.

A chart says it in a handful of ways: "62-year-old man", "58 yo F", "Sex: female", "Mrs. Lopez", or only
through pronouns. The cues are data (``resources/demographic_edits.json``, ``"detect"``). Explicit statements
win over pronouns; pronouns count only when one sex clearly dominates. Callers that know the patient (a
form, a FHIR Patient) pass sex and age directly and the text is not read for them.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

from suggest.pipeline.resources import load_json

Sex = Literal["female", "male"]
SEXES: tuple[Sex, ...] = ("female", "male")


@dataclass(frozen=True, slots=True)
class Patient:
    """Sex and age in years (``None`` when unknown), and the text span each was read from (for the
    explanation shown with a rule)."""

    sex: Sex | None = None
    age_years: float | None = None
    sex_evidence: str = ""
    age_evidence: str = ""


@dataclass(frozen=True)
class _Cues:
    explicit: dict[str, re.Pattern]
    pronouns: dict[str, re.Pattern]
    age: list[tuple[re.Pattern, float]]
    newborn: re.Pattern
    min_pronouns: int
    pronoun_ratio: float


@functools.lru_cache(maxsize=1)
def _cues() -> _Cues:
    data = load_json("demographic_edits.json")["detect"]
    flags = re.IGNORECASE

    def alternation(words: list[str]) -> re.Pattern:
        return re.compile(r"(?<![\w])(?:" + "|".join(words) + r")(?![\w])", flags)

    return _Cues(
        explicit={sex: alternation(data["explicit"][sex]) for sex in SEXES},
        pronouns={sex: alternation(data["pronouns"][sex]) for sex in SEXES},
        age=[(re.compile(p, flags), float(unit)) for p, unit in data["age_patterns"]],
        newborn=alternation(data["newborn_words"]),
        min_pronouns=int(data["min_pronouns"]),
        pronoun_ratio=float(data["pronoun_ratio"]),
    )


def read_patient(text: str, sex: str | None = None, age_years: float | None = None) -> Patient:
    """The patient's sex and age: ``sex`` and ``age_years`` when given, else what ``text`` states."""
    cues = _cues()
    sex_evidence = age_evidence = ""
    if sex is None:
        sex, sex_evidence = _read_sex(text, cues)
    elif sex not in SEXES:
        raise ValueError(f"sex must be one of {', '.join(SEXES)}, not {sex!r}")
    if age_years is None:
        age_years, age_evidence = _read_age(text, cues)
    return Patient(sex, age_years, sex_evidence, age_evidence)  # type: ignore[arg-type]


def _read_sex(text: str, cues: _Cues) -> tuple[Sex | None, str]:
    first: dict[str, re.Match] = {}
    for sex in SEXES:
        m = cues.explicit[sex].search(text)
        if m is not None:
            first[sex] = m
    if len(first) == 1:
        sex, m = next(iter(first.items()))
        return sex, m.group()  # type: ignore[return-value]
    if len(first) == 2:  # both stated somewhere (a relative, a partner): the first statement is the patient's
        sex, m = min(first.items(), key=lambda item: item[1].start())
        return sex, m.group()  # type: ignore[return-value]
    counts = {sex: len(cues.pronouns[sex].findall(text)) for sex in SEXES}
    best = max(SEXES, key=lambda s: counts[s])
    other = counts["male" if best == "female" else "female"]
    if counts[best] >= cues.min_pronouns and counts[best] >= cues.pronoun_ratio * other:
        return best, f"{counts[best]} pronouns"
    return None, ""


def _read_age(text: str, cues: _Cues) -> tuple[float | None, str]:
    for pattern, years_per_unit in cues.age:
        m = pattern.search(text)
        if m is not None:
            value = float(m.group(1))
            if value * years_per_unit <= 130:
                return value * years_per_unit, m.group()
    m = cues.newborn.search(text)
    if m is not None:
        return 0.0, m.group()
    return None, ""
