"""Short coded charts written from the project's lexicon, over thousands of codes of every chapter.

The clinic-note generator (:mod:`training.synth.generator`) writes rich notes over 680 everyday codes; a model
trained on them alone learns to distrust every other code. These charts state codes the way assessments and
problem lists do, in the lexicon's clinical phrasing (never the code set's descriptions, which the code-set probe
uses), over every code the lexicon covers, weighted by how often coders assign them (``common_codes.tsv``):

- one to four diagnoses stated plainly (gold), some injuries with a later-encounter 7th character stated in words;
- distractors that are not coded: a denied condition, a family member's condition;
- some phrases said with one word less (``PARTIAL_SHARE``), as clinicians leave out words a term has ("burn of first
  degree of scapular region" said "1st degree burn scapular area"), so that the ranker learns that a code matched in
  part can be the one the chart means; sides, numbers and the words that tell codes apart by polarity are kept.

Same seed, same charts.
"""

from __future__ import annotations

import csv
import io
import random
import re
from dataclasses import dataclass

from suggest.types import Chart

#: Relative weight of a code by its tier in ``common_codes.tsv`` (1 = most used).
TIER_WEIGHTS = {1: 8.0, 2: 4.0, 3: 2.0, 4: 1.0}
_MALE = re.compile(r"\b(prostat\w*|testi\w*|scrot\w*|penile|penis|male)\b", re.IGNORECASE)

_OPENINGS = (
    "CHIEF COMPLAINT\n{cc}\n\nHISTORY OF PRESENT ILLNESS\n{patient} presents for {visit}.\n\nASSESSMENT AND PLAN\n{items}",
    "Subjective: {patient}, {visit}.\nObjective: vitals stable, exam as documented.\nAssessment/Plan:\n{items}",
    "PROBLEM LIST\n{items}\n\nPLAN\nContinue current management; return as scheduled.",
    "HPI: {patient} here for {visit}.\n{distractors}\nA/P:\n{items}",
    "Reason for visit: {cc}\n{distractors}\nDiagnoses:\n{items}",
)
_VISITS = ("a scheduled visit", "follow-up", "evaluation", "a recheck", "an acute visit", "a new problem")
_PLANS = ("", " Continue current treatment.", " Plan discussed.", " Will monitor.", " Follow up in clinic.",
          " Medication reviewed.", " Labs ordered.")
#: Share of stated phrases said with one word left out, and the words never left out.
PARTIAL_SHARE = 0.35
_KEPT_WORDS = frozenset({
    "left", "right", "bilateral", "unilateral", "with", "without", "other", "unspecified", "not", "no", "and", "or",
    "type", "stage", "grade", "degree", "first", "second", "third", "fourth", "fifth", "initial", "subsequent",
    "sequela", "acute", "chronic", "open", "closed", "displaced", "nondisplaced", "history", "family", "personal",
    "status", "intentional", "accidental", "assault", "undetermined", "underdosing", "poisoning", "adverse",
})
_DENIALS = ("Denies {x}.", "No {x}.", "Negative for {x}.", "No evidence of {x}.")
_FAMILY = ("Mother has {x}.", "Family history of {x}.", "Father had {x}.")


@dataclass(frozen=True, slots=True)
class _Code:
    code: str
    phrases: tuple[str, ...]
    weight: float


def _load_pool(codeset) -> list[_Code]:
    from suggest.pipeline.resources import read_text

    phrases: dict[str, list[str]] = {}
    for row in csv.DictReader(io.StringIO(read_text("lexicon.tsv")), delimiter="\t", quoting=csv.QUOTE_NONE):
        phrases.setdefault(row["code"].strip().upper(), []).append(row["phrase"].strip())
    tiers = {row["code"]: int(row["tier"]) for row in csv.DictReader(
        io.StringIO(read_text("common_codes.tsv")), delimiter="\t", quoting=csv.QUOTE_NONE)}
    return [_Code(code, tuple(p), TIER_WEIGHTS.get(tiers.get(code, 4), 1.0))
            for code, p in sorted(phrases.items()) if codeset.is_billable(code)]


def _patient(rng: random.Random, codes: list[str], texts: list[str]) -> str:
    if any(c.startswith("P") for c in codes):
        return rng.choice(["2-day-old newborn", "newborn male", "1-week-old infant"])
    if any(c.startswith("O") or c.startswith("Z3") for c in codes):
        return f"{rng.randint(19, 41)}-year-old pregnant woman"
    if any(_MALE.search(t) for t in texts):
        return f"{rng.randint(20, 85)}-year-old man"
    return f"{rng.randint(18, 90)}-year-old {rng.choice(['woman', 'man'])}"


def _partial(rng: random.Random, phrase: str) -> str:
    """``phrase`` with one of its words left out, when it has three words or more and two that may go (so that
    "type 2 diabetes" keeps its one)."""
    words = phrase.split()
    droppable = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha() and w.lower() not in _KEPT_WORDS]
    if len(words) < 3 or len(droppable) < 2:
        return phrase
    drop = rng.choice(droppable)
    return " ".join(w for i, w in enumerate(words) if i != drop)


def _state(rng: random.Random, codeset, item: _Code, partial_rng: random.Random) -> tuple[str, str]:
    """A phrase of the code and the gold code; a 7th-character code sometimes at a later encounter, said in words."""
    phrase = rng.choice(item.phrases)
    if partial_rng.random() < PARTIAL_SHARE:
        phrase = _partial(partial_rng, phrase)
    stem = codeset.seventh_character_stem(item.code)
    info = codeset.get(stem) if stem else None
    if info is None or not info.seventh_characters or rng.random() < 0.5:
        return phrase, item.code
    char = rng.choice(sorted(info.seventh_characters))
    code = codeset.seventh_character_code(stem, char)
    if code is None:
        return phrase, item.code
    return f"{phrase}, {info.seventh_characters[char]}", code


def generate_codeset_charts(n: int, seed: int) -> list[Chart]:
    """``n`` short charts over the lexicon's codes (see the module docstring); same seed, same charts."""
    from suggest.codeset import load_codeset

    codeset = load_codeset()
    pool = _load_pool(codeset)
    weights = [c.weight for c in pool]
    rng = random.Random(seed)
    partial_rng = random.Random(seed + 1)  # apart, so that the other draws stay those of earlier releases
    charts = []
    for i in range(n):
        picks = {c.code: c for c in rng.choices(pool, weights, k=rng.choice([1, 2, 2, 3, 3, 4]))}
        stated = [_state(rng, codeset, item, partial_rng) for item in picks.values()]
        gold = list(dict.fromkeys(code for _, code in stated))
        others = [c for c in rng.choices(pool, weights, k=2) if c.code not in picks]
        distractors = []
        if others and rng.random() < 0.5:
            distractors.append(rng.choice(_DENIALS).format(x=rng.choice(others[0].phrases)))
        if len(others) > 1 and rng.random() < 0.3:
            distractors.append(rng.choice(_FAMILY).format(x=rng.choice(others[1].phrases)))
        bullet = rng.choice(["{n}. ", "- ", "", "# "])
        items = "\n".join(bullet.format(n=k + 1) + text[0].upper() + text[1:] + "." + rng.choice(_PLANS)
                          for k, (text, _) in enumerate(stated))
        template = rng.choice(_OPENINGS)
        text = template.format(
            cc=stated[0][0][0].upper() + stated[0][0][1:] + ".", visit=rng.choice(_VISITS),
            patient=_patient(rng, gold, [t for t, _ in stated]), items=items, distractors=" ".join(distractors),
        )
        charts.append(Chart(id=f"codeset-{seed}-{i}", text=re.sub(r"\n{3,}", "\n\n", text), codes=gold,
                            specialty=None, meta={"generator": "codeset", "seed": seed}))
    return charts
