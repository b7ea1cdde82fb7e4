"""The curated clinical lexicon (``lexicon.tsv``) and abbreviation expansions (``abbreviations.json``).

These files feed the dictionary matcher: a wrong code or a malformed line silently degrades every
suggestion, so each line is checked against the FY2026 code set and the house conventions in
``suggest/resources/README.md``.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from pathlib import Path

import pytest
import spacy

from suggest.codeset import CodeSet, load_codeset
from suggest.pipeline.normalize import Normalizer
from suggest.pipeline.resources import load_json, read_text

README = Path(__file__).resolve().parents[2] / "suggest" / "resources" / "README.md"


@pytest.fixture(scope="module")
def codes() -> CodeSet:
    return load_codeset()


@pytest.fixture(scope="module")
def lexicon_rows() -> list[tuple[int, list[str]]]:
    """(line number, fields) for every line of lexicon.tsv, header included."""
    reader = csv.reader(io.StringIO(read_text("lexicon.tsv")), delimiter="\t", quoting=csv.QUOTE_NONE)
    return [(reader.line_num, row) for row in reader]


@pytest.fixture(scope="module")
def lexicon(lexicon_rows) -> list[tuple[int, str, str, str]]:
    """(line number, code, phrase, note) for the data lines."""
    return [(line, *row) for line, row in lexicon_rows[1:]]


@pytest.fixture(scope="module")
def expansions() -> dict[str, str]:
    return load_json("abbreviations.json")["expansions"]


def _lookup(lexicon, phrase: str) -> set[str]:
    return {code for _, code, p, _ in lexicon if p == phrase}


# ----------------------------------------------------------------------------- lexicon.tsv format


def test_lexicon_has_its_header_and_three_tab_separated_fields_per_line(lexicon_rows):
    assert lexicon_rows[0][1] == ["code", "phrase", "note"]
    wrong = [(line, row) for line, row in lexicon_rows if len(row) != 3]
    assert not wrong, f"lines without exactly 3 tab-separated fields: {wrong[:5]}"


def test_lexicon_phrases_are_normalised_and_not_empty(lexicon):
    bad = [
        (line, phrase)
        for line, _, phrase, _ in lexicon
        if not phrase or phrase != " ".join(phrase.split()) or phrase != phrase.lower()
    ]
    assert not bad, f"phrases must be non-empty, lowercase, single-spaced: {bad[:5]}"


def test_lexicon_has_no_duplicate_code_phrase_pairs(lexicon):
    first_seen: dict[tuple[str, str], int] = {}
    duplicates = []
    for line, code, phrase, _ in lexicon:
        key = (code, phrase)
        if key in first_seen:
            duplicates.append((line, first_seen[key], code, phrase))
        first_seen.setdefault(key, line)
    assert not duplicates, f"(line, first line, code, phrase): {duplicates[:5]}"


def test_each_phrase_names_one_code(lexicon):
    # A phrase documented with no further specificity has one code a careful coder would pick;
    # laterality and other detail belong in their own phrases ("right knee pain").
    by_phrase: dict[str, set[str]] = defaultdict(set)
    for _, code, phrase, _ in lexicon:
        by_phrase[phrase].add(code)
    ambiguous = {p: sorted(c) for p, c in by_phrase.items() if len(c) > 1}
    assert not ambiguous, f"phrases mapped to several codes: {dict(list(ambiguous.items())[:5])}"


def test_phrases_stay_distinct_after_the_matchers_normalisation(lexicon):
    # The matcher drops stop words ("with", "without", "a", "other") and stems, so "migraine with aura" and
    # "migraine without aura" would become the same term and point at two codes; each must survive as itself.
    normalizer = Normalizer()
    by_stems: dict[tuple[str, ...], set[tuple[str, str]]] = defaultdict(set)
    empty = []
    for line, code, phrase, _ in lexicon:
        stems = tuple(sorted(set(normalizer.stems(phrase))))
        if not stems:
            empty.append((line, phrase))
        by_stems[stems].add((code, phrase))
    assert not empty, f"phrases made only of stop words: {empty[:5]}"
    clashes = {s: sorted(v) for s, v in by_stems.items() if len({code for code, _ in v}) > 1}
    assert not clashes, f"phrases of different codes that normalise alike: {list(clashes.values())[:5]}"


#: Lexicon phrases that say what an inclusion term of another category says, kept on purpose: the term there is
#: narrower than its words once stop words go ("Rheumatic fever with heart involvement") or a coder's usage differs
#: from the NOS entry for a documented reason.
_INCLUSION_TERM_EXCEPTIONS = {
    "aortic stenosis": "I35.0: the index's Stenosis, aortic (valve); Q25.1's 'stenosis of aorta' is the vessel's",
    "sinus infection": "J01.90: in clinic notes an acute sinusitis; J32's term is under chronic sinusitis",
    "adenomatous polyp": "D12.6: the colon's, as clinic notes mean it; D28's term is the female genital organs'",
    "lupus erythematosus": "M32.9: the systemic disease clinicians mean; L93.0's NOS term is the discoid skin form",
    "toxic metabolic encephalopathy": "G93.41 with G92.8 (Coding Clinic Q2 2022): the lexicon names the first",
    "epidermoid cyst": "L72.0: of the skin; K09.8's term is of the mouth",
    "folliculitis": "L73.9: the index's entry; L02.82's term is 'folliculitis of other sites', a boil",
    "cold exposure": "T69.9XXA, the injury; X31 is its external cause",
    "pseudomonas aeruginosa": "B96.5, the organism; A41.52 is the sepsis it causes",
    "angiostrongyliasis": "B83.2: the index's entry; B81.3's term is the intestinal (costaricensis) form",
    "hypovitaminosis": "E56.9: unspecified vitamin; E50.9's term is vitamin A",
    "eventration of diaphragm": "J98.6: acquired; Q79.1's term is congenital",
    "gangrenous cholecystitis": "K82.A1 (FY2021) supersedes K81.0's older inclusion term",
    "gangrenous gallbladder": "K82.A1 (FY2021) supersedes K81.0's older inclusion term",
    "enterocele": "N81.5: the vaginal enterocele of gynecology notes; K46's term is a hernia",
    "retained placenta": "O73.0: without hemorrhage; O72.0's term is with it",
    "hearing aids": "Z97.4, the device worn; W44.G1 is a foreign body entering",
    "diabetic neuralgia": "E11.42: diabetes of no stated type is E11 (I.C.4.a.2); E13's term says 'other specified'",
    "diabetic gastroparesis": "E11.43: diabetes of no stated type is E11 (I.C.4.a.2)",
    "diabetic gangrene": "E11.52: diabetes of no stated type is E11 (I.C.4.a.2)",
    "diabetes with gangrene": "E11.52: diabetes of no stated type is E11 (I.C.4.a.2)",
    "polyneuropathy": "G62.9: A69.22's term is the Lyme disease polyneuropathy listed under it",
    "acute viral hepatitis": "B17.9: B15.9's term is hepatitis A (the 'A' is a stop word to the matcher)",
    "acute hepatitis viral": "B17.9: B15.9's term is hepatitis A (the 'A' is a stop word to the matcher)",
    "viral pericarditis": "B33.23, whose own title it is; I30.1 lists it as infective pericarditis",
    "sexual dysfunction": "R37 (FY2019), the index's entry; F52.9's term is of no physiological cause",
}


def test_no_phrase_contradicts_an_inclusion_term_of_another_category(lexicon, codes):
    # The tabular list files "Fracture of wrist NOS" under S62.10 and "Eczema NOS" under L30.9: a lexicon phrase
    # saying the same words must not send them elsewhere (S52.509A, L20.9), or the code set's own words lose.
    normalizer = Normalizer()
    inclusion: dict[frozenset[str], set[str]] = defaultdict(set)
    for code, term, kind in codes.all_terms():
        if kind == "inclusion" and (stems := frozenset(normalizer.stems(term))):
            inclusion[stems].add(code)
    contradicted = []
    for line, code, phrase, _ in lexicon:
        owners = inclusion.get(frozenset(normalizer.stems(phrase)), set())
        if owners and not any(code.startswith(o) or o.startswith(code[:3]) for o in owners) \
                and phrase not in _INCLUSION_TERM_EXCEPTIONS:
            contradicted.append((line, phrase, code, sorted(owners)))
    assert not contradicted, f"(line, phrase, lexicon code, codes whose inclusion term it is): {contradicted[:5]}"


def test_every_lexicon_code_is_valid_and_billable_in_fy2026(lexicon, codes):
    not_billable = []
    for line, code, phrase, _ in lexicon:
        if not codes.is_billable(code):
            hint = codes.near_matches(code)[:3] if code not in codes else codes.billable_descendants(code, limit=3)
            not_billable.append((line, code, phrase, hint))
    assert not not_billable, f"(line, code, phrase, candidates): {not_billable[:5]}"


def test_lexicon_codes_use_the_dotted_uppercase_form(lexicon, codes):
    bad = [(line, code) for line, code, _, _ in lexicon if code != codes.normalize(code)]
    assert not bad, bad[:5]


def test_encounter_coded_lines_use_the_initial_encounter(lexicon, codes):
    # A phrase says nothing about the encounter, so injuries and other codes with an encounter 7th character
    # take "A" (initial), the code a coder assigns while the patient is receiving active treatment.
    wrong = []
    for line, code, phrase, _ in lexicon:
        seventh = codes.get(code).seventh_characters
        if "initial" in seventh.get("A", "") and not code.endswith("A"):
            wrong.append((line, code, phrase))
    assert not wrong, wrong[:5]


def test_lexicon_covers_the_common_outpatient_chapters(lexicon):
    assert len(lexicon) >= 1500
    chapters_by_letter = {code[0] for _, code, _, _ in lexicon}
    # circulatory, endocrine, respiratory, digestive, musculoskeletal, mental, symptoms, injuries, factors ...
    assert set("IEJKMFRSZNGLHOCD") <= chapters_by_letter


# ----------------------------------------------------------------------------- lexicon spot checks


@pytest.mark.parametrize(
    ("phrase", "code"),
    [
        ("high blood pressure", "I10"),
        ("arterial hypertension", "I10"),
        ("afib", "I48.91"),
        ("a-fib", "I48.91"),
        ("a-fib with rvr", "I48.91"),
        ("smoker", "F17.210"),
        ("smoking habit", "F17.210"),
        ("former smoker", "Z87.891"),
        ("high cholesterol", "E78.00"),
        ("hyperlipidemia", "E78.5"),
        ("dyslipemia", "E78.5"),
        ("heart attack", "I21.9"),
        ("ischemic heart disease", "I25.9"),
        ("acid reflux", "K21.9"),
        ("sugar diabetes", "E11.9"),
        ("t2dm", "E11.9"),
        ("ckd 3a", "N18.31"),
        ("knee pain", "M25.569"),
        ("right knee pain", "M25.561"),
        ("left knee pain", "M25.562"),
        ("bum knee", "M25.569"),
        ("low back pain", "M54.50"),
        ("arthralgias", "M25.50"),
        ("sob", "R06.02"),
        ("right acl tear", "S83.511A"),
        ("s/p right tka", "Z96.651"),
        ("on eliquis", "Z79.01"),
        ("kidney transplant", "Z94.0"),
        ("diabetes", "E11.9"),
        ("tricuspid regurgitation", "I07.1"),
        ("hypertension with ckd", "I12.9"),
        ("twisted ankle", "S93.409A"),
        ("bmi 32", "Z68.32"),
        ("necrosis", "I96"),
        ("hypertransaminasemia", "R74.01"),
    ],
)
def test_lexicon_spot_checks(lexicon, phrase, code):
    assert _lookup(lexicon, phrase) == {code}


# ----------------------------------------------------------------------------- abbreviations.json


def test_abbreviations_file_documents_itself():
    data = load_json("abbreviations.json")
    assert set(data) == {"_doc", "expansions", "contextual"}
    assert "token" in data["_doc"] and "contextual" in data["_doc"]


def test_abbreviation_keys_are_single_lowercase_alphanumeric_tokens(expansions):
    # The matcher splits text into runs of letters and digits, so a key with "-", "/" or "." could never be
    # seen as one token (those go to lexicon.tsv). spaCy's tokenizer agrees for all keys but t1dm/t2dm,
    # whose "dm" it takes for a unit suffix; the matcher keeps them whole.
    bad_form = [k for k in expansions if not re.fullmatch(r"[a-z0-9]+", k)]
    assert not bad_form, bad_form
    nlp = spacy.blank("en")
    split = {k for k in expansions if len(nlp.make_doc(k)) != 1}
    assert split <= {"t1dm", "t2dm"}, f"keys spaCy splits: {split}"


def test_abbreviation_expansions_are_non_empty_lowercase_words(expansions):
    bad = {
        k: v
        for k, v in expansions.items()
        if not v or v != v.lower() or v != " ".join(v.split()) or v == k
    }
    assert not bad, bad
    assert len(expansions) >= 200


@pytest.mark.parametrize(
    ("abbreviation", "expansion"),
    [
        ("htn", "hypertension"),
        ("t2dm", "type 2 diabetes mellitus"),
        ("dm2", "type 2 diabetes mellitus"),
        ("ckd", "chronic kidney disease"),
        ("afib", "atrial fibrillation"),
        ("copd", "chronic obstructive pulmonary disease"),
        ("chf", "congestive heart failure"),
        ("gerd", "gastro-esophageal reflux disease"),
    ],
)
def test_abbreviation_spot_checks(expansions, abbreviation, expansion):
    assert expansions[abbreviation] == expansion


def test_abbreviations_skipped_as_ambiguous_in_the_readme_are_not_expanded(expansions):
    section = README.read_text(encoding="utf-8").split("## Skipped abbreviations", 1)[1].split("\n## ", 1)[0]
    skipped = re.findall(r"^\| `([a-z0-9]+)` \|", section, flags=re.MULTILINE)
    assert {"ms", "pe", "ra", "ca"} <= set(skipped)
    assert not set(skipped) & set(expansions)


def test_every_phrase_yields_its_code_through_the_matcher(lexicon_rows):
    """Each lexicon phrase, matched as a sentence on its own, gives its code (7th characters resolved)."""
    from training.lexicon import check_phrases, read_lexicon_rows

    results = check_phrases(read_lexicon_rows(read_text("lexicon.tsv")))
    failed = [(r.line, r.code, r.phrase, r.found[:4]) for r in results if not r.ok]
    assert len(results) == len(lexicon_rows) - 1
    assert not failed, f"{len(failed)} phrases do not yield their code: {failed[:10]}"


def test_no_phrase_states_its_concept_by_negation(lexicon):
    # The matcher reads "not X" / "without X" in a phrase as what the code rules out, and ConText reads "not" in
    # the chart as a negation: "do not resuscitate" would assert only "do". Such concepts are written positively
    # ("dnr", "sedentary lifestyle"); "concussion without loc" stays, its concept is "concussion".
    import re

    auxiliaries = {"do", "does", "did", "is", "was", "has", "have", "had", "left", "baby", "patient"}
    stated_by_negation = []
    for line, _, phrase, _ in lexicon:
        m = re.search(r"\b(not|no|without)\b", phrase)
        if m is None or m.start() == 0:  # "no gallbladder": ConText's business (a negated mention), not the matcher's
            continue
        before = [w for w in phrase[: m.start()].split() if w not in auxiliaries and len(w) >= 5]
        if not before:
            stated_by_negation.append((line, phrase))
    assert not stated_by_negation, stated_by_negation[:5]
