"""The ICD-10-CM code set: counts, records, hierarchy, notes, 7th characters, validation, search, caching."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import time

import pytest

from suggest.codeset import CodeSet, default_xml_path, load_codeset
from suggest.errors import SuggestError


@pytest.fixture(scope="module")
def codes() -> CodeSet:
    return load_codeset()


# ----------------------------------------------------------------------------- counts


def test_fy2026_has_the_cms_count_of_billable_codes(codes):
    billable = codes.billable_codes()
    assert len(billable) == 74_719  # CMS FY2026: 74,260 + 487 new - 28 deleted
    assert len(set(billable)) == len(billable)
    assert codes.release == "ICD-10-CM FY2026 (April 1 2026)"


def test_billable_codes_are_exactly_the_leaves_of_the_shipped_code_list(codes):
    code_list = default_xml_path().with_name("code-list-April-2026.txt")
    listed = [line.strip() for line in code_list.read_text().splitlines()]
    listed = [c for c in listed if c and "-" not in c and not c.isdigit()]
    prefixes = {c[:i] for c in listed for i in range(3, len(c))}
    leaves = {c for c in listed if c not in prefixes}
    assert {c.replace(".", "") for c in codes.billable_codes()} == leaves


def test_every_code_is_counted_once_and_iterated(codes):
    every = list(codes.codes())
    assert len(every) == len(codes) == len(set(every))
    assert set(codes.billable_codes()) <= set(every)


# ----------------------------------------------------------------------------- records


@pytest.mark.parametrize("code", ["E11.9", "I10", "J18.9", "S72.001A", "E11.37X1", "S06.0X0A"])
def test_known_billable_codes(codes, code):
    info = codes.get(code)
    assert info is not None and info.code == code
    assert info.billable and codes.is_billable(code)
    assert info.description
    assert codes.validate(code).status == "billable"


def test_lookup_accepts_any_formatting(codes):
    for text in ("e1122", "E11.22", " E11.22 ", "E1122", "e11.22"):
        assert codes.get(text).code == "E11.22"
        assert text in codes
    assert codes.normalize("e1122") == "E11.22"
    assert codes.normalize("s72001a") == "S72.001A"
    assert codes.normalize("i10") == "I10"
    assert codes.get("E11.") is not None
    assert codes.get("NOPE") is None and "NOPE" not in codes
    assert codes.get("") is None


def test_hierarchy_of_e11_22(codes):
    info = codes.get("E11.22")
    assert info.parent == "E11.2"
    assert codes.ancestors("E11.22") == ["E11.2", "E11"]
    assert info.children == ()
    assert (info.chapter, info.block) == ("4", "E08-E13")
    assert info.chapter_title == "Endocrine, nutritional and metabolic diseases"
    assert info.block_title == "Diabetes mellitus"
    category = codes.get("E11")
    assert category.parent is None and codes.ancestors("E11") == []
    assert "E11.2" in category.children and "E11.22" in codes.children("E11.2")


def test_notes_are_inherited_and_cleaned(codes):
    e1122 = codes.get("E11.22")
    assert any("N18" in note for note in e1122.use_additional_code)
    # inherited from category E11 ("code to identify control using: ... insulin (Z79.4)")
    assert any("Z79.4" in note for note in e1122.use_additional_code)
    j189 = codes.get("J18.9")
    assert j189.code_first and j189.code_first[0].startswith("if applicable")
    assert codes.get("I10").inclusion_terms[0] == "high blood pressure"
    for code in codes.codes():
        if len(code) > 7:  # expanded codes reuse their stem's notes
            continue
        info = codes.get(code)
        for notes in (info.inclusion_terms, info.excludes1, info.excludes2, info.code_first,
                      info.use_additional_code, info.code_also):
            assert all(n and n == n.strip() and not n.startswith(",") for n in notes), code


def test_a_codes_outline_is_what_its_record_says(codes):
    import random

    sample = random.Random(11).sample(codes.billable_codes(), 2000) + ["E11", "S52.501", "S52.501A", "e11.9", "M1A.0"]
    for code in sample:
        info, outline = codes.get(code), codes.outline(code)
        assert (outline.code, outline.billable, outline.chapter, outline.block, outline.takes_seventh) == (
            info.code, info.billable, info.chapter, info.block, bool(info.seventh_characters)), code
    assert codes.outline("Z99.ZZZZ") is None and codes.outline(None) is None


# ----------------------------------------------------------------------------- 7th characters


def test_seventh_character_codes(codes):
    info = codes.get("S72.001A")
    assert info.description.endswith("initial encounter for closed fracture")
    assert info.description.startswith("Fracture of unspecified part of neck of right femur")
    assert info.parent == "S72.001" and codes.ancestors("S72.001A")[-1] == "S72"
    assert info.seventh_characters["S"] == "sequela"
    stem = codes.get("S72.001")
    assert not stem.billable and stem.children[0] == "S72.001A" and len(stem.children) == 16
    assert codes.seventh_character_stem("S72.001A") == "S72.001"
    assert codes.seventh_character_stem("S06.0X0A") == "S06.0X0"
    assert codes.seventh_character_stem("E11.37X1") == "E11.37"  # X padding is not part of the stem
    assert codes.seventh_character_stem("E11.22") is None


def test_placeholder_x_pads_short_codes(codes):
    assert codes.children("E11.37") == ["E11.37X1", "E11.37X2", "E11.37X3", "E11.37X9"]
    assert "E11.371" not in codes
    assert codes.children("S12.8") == ["S12.8XXA", "S12.8XXD", "S12.8XXS"]


def test_descendant_redefines_seventh_characters(codes):
    assert set(codes.get("S12").seventh_characters) == set("ABDGKS")
    assert codes.get("S12.8").seventh_characters == {
        "A": "initial encounter", "D": "subsequent encounter", "S": "sequela",
    }
    assert "S12.000B" in codes and "S12.8XXB" not in codes


def test_s06_death_before_regaining_consciousness_takes_only_initial_encounter(codes):
    assert codes.children("S06.1X7") == ["S06.1X7A"]
    assert codes.get("S06.1X7").seventh_characters == {"A": "initial encounter"}
    assert "S06.1X7D" not in codes and "S06.1X8S" not in codes
    assert {"S06.1X6A", "S06.1X6D", "S06.1X6S"} <= set(codes.children("S06.1X6"))


def test_a_category_named_alone_defaults_to_its_unspecified_or_only_billable_code(codes):
    assert codes.default_child("E11") == "E11.9"
    assert codes.default_child("J18") == "J18.9"
    assert codes.default_child("I50") == "I50.9"
    assert codes.default_child("E11.9") is None  # billable already
    assert codes.default_child("S52.509") == "S52.509A"  # a stem: its first "unspecified" 7th-character code


def test_a_subcategory_defaults_to_its_unspecified_child_not_to_a_narrower_other_child(codes):
    # Below the category level the ".9" child is often "other": the chart that says only "low back pain",
    # "constipation" or "dyspnea" takes the unspecified form.
    assert codes.default_child("M54.5") == "M54.50"  # not M54.59 "Other low back pain"
    assert codes.default_child("K59.0") == "K59.00"  # not K59.09 "Other constipation"
    assert codes.default_child("R06.0") == "R06.00"
    assert codes.default_child("G47.0") == "G47.00"
    assert codes.default_child("M65.9") == "M65.90"  # not M65.99 "..., multiple sites"
    assert codes.default_child("B27.9") == "B27.90"  # "without complication", not "with other complication"
    assert codes.default_child("O41.8X1") == "O41.8X10"  # the fetus character 0, not 9 "other fetus"
    # A ".9" child that is the parent's own unspecified form stays the default.
    assert codes.default_child("C44.50") == "C44.509"  # "Unspecified ... skin of trunk": no child adds "unspecified"
    assert codes.default_child("I31.3") == "I31.39"  # no unspecified child to prefer


def _default_child_by_definition(codes: CodeSet, code: str) -> str | None:
    """``default_child`` spelled out over the list of billable descendants."""
    descendants = codes.billable_descendants(code)
    if len(descendants) == 1:
        return descendants[0]
    billable_children = [c for c in codes.children(code) if codes.is_billable(c)]
    for child in billable_children:
        if child[-1] == "9":
            def count(pattern: str, description: str) -> int:
                return len(re.findall(pattern, description.lower()))

            narrowing, unspecified = r"\b(other|multiple)\b", r"\b(unspecified|uncomplicated|without complications?)\b"
            own = codes.description(code)
            if count(narrowing, codes.description(child)) > count(narrowing, own):
                for sibling in billable_children:
                    if count(unspecified, codes.description(sibling)) > count(unspecified, own):
                        return sibling
            return child
    unspecified = [c for c in descendants
                   if "unspecified" in (d := codes.description(c).lower()) and "with unspecified" not in d]
    return min(unspecified, key=lambda c: (len(codes.ancestors(c)), c)) if unspecified else None


def test_default_child_agrees_with_its_definition_on_a_sample_of_categories(codes):
    import random

    non_billable = [c for c in codes._nodes if not codes.is_billable(c)]
    for code in random.Random(7).sample(non_billable, 600) + ["S72", "T36", "O36.59", "M1A.0"]:
        assert codes.default_child(code) == _default_child_by_definition(codes, code), code


def test_references_matched_together_match_what_each_matches_alone(codes):
    import random

    from suggest.codeset.notes import CodeRef, CodeRefs

    rng = random.Random(3)
    billable = codes.billable_codes()
    groups = [["V00-Y99"], ["O00-O9A", "Z33"], ["I51.4-I51.9", "I10"], ["E10", "E11.6", "N18"], ["S00-T88"],
              ["A00-B99", "C00-D49", "Z79.4"], ["M1A"], ["Z00-Z99"]]
    tested = rng.sample(billable, 3000) + ["e11.9", "V00.01XA", "Y99.9", "O9A.11", "I51.9", "I52", "T88.9XXS"]
    for group in groups:
        refs = [CodeRef.parse(r) for r in group]
        together = CodeRefs(refs)
        for code in tested:
            assert together.matches(code) == any(r.matches(code) for r in refs), (group, code)


# ----------------------------------------------------------------------------- validation


def test_category_is_valid_but_not_billable(codes):
    result = codes.validate("e11")
    assert result.status == "not_billable" and result.valid
    assert result.description == "Type 2 diabetes mellitus"
    assert 0 < len(result.billable_descendants) <= 20
    assert all(codes.is_billable(c) and c.startswith("E11.") for c in result.billable_descendants)
    assert "E11.9" in codes.billable_descendants("E11")
    assert codes.billable_descendants("E11.9") == ["E11.9"]
    assert codes.billable_descendants("E11", limit=3) == ["E11.00", "E11.01", "E11.10"]


def test_invalid_code_gets_near_matches(codes):
    result = codes.validate("E11.99")
    assert result.status == "invalid" and not result.valid and result.description is None
    assert result.near_matches[0] == "E11.9"
    assert all(c in codes for c in result.near_matches)
    assert "S06.1X7A" in codes.validate("S06.1X7D").near_matches
    assert "E11.37X1" in codes.validate("E11.371").near_matches
    assert codes.validate("").status == "invalid"


# ----------------------------------------------------------------------------- terms


def test_all_terms_lists_stems_once_and_categories(codes):
    terms = list(codes.all_terms())
    by_code: dict[str, list[tuple[str, str]]] = {}
    for code, term, kind in terms:
        assert kind in {"description", "inclusion"} and term
        by_code.setdefault(code, []).append((term, kind))
    assert not any(codes.seventh_character_stem(code) for code in by_code)
    assert ("Fracture of unspecified part of neck of right femur", "description") in by_code["S72.001"]
    assert ("Type 2 diabetes mellitus", "description") in by_code["E11"]
    assert ("high blood pressure", "inclusion") in by_code["I10"]
    assert codes.terms("I10") == ["Essential (primary) hypertension", *codes.get("I10").inclusion_terms]
    assert codes.terms("XYZ") == []


# ----------------------------------------------------------------------------- search


def _top(codes, query, n=10, **kw):
    return [hit.code for hit in codes.search(query, limit=n, **kw)]


def test_search_quality(codes):
    assert "E11.22" in _top(codes, "type 2 diabetes kidney", 3)
    assert _top(codes, "essential hypertension")[0] == "I10"
    assert "J18.9" in _top(codes, "pneumonia unspecified organism", 3)
    heart_failure = _top(codes, "heart failure", 3)
    assert all(code.startswith("I50") for code in heart_failure)
    assert _top(codes, "htn")[0] == "I10"
    assert _top(codes, "urinary tract infection")[0] == "N39.0"
    assert _top(codes, "copd with exacerbation")[0] == "J44.1"


def test_search_tolerates_misspellings(codes):
    """A word the index does not know is read as the nearest indexed word (issue #12: "diabtes" gave nothing)."""
    assert _top(codes, "diabtes", 3) == _top(codes, "diabetes", 3) and _top(codes, "diabtes", 1)[0].startswith("E1")
    assert _top(codes, "hypertenshun")[0] == "I10"
    assert _top(codes, "astma")[0].startswith("J45")
    assert _top(codes, "atrial fibrilation")[0].startswith("I48")
    assert "J18.9" in _top(codes, "pnuemonia", 3)  # a transposition is one edit
    # short words (abbreviations) and words far from every indexed one are left alone
    assert _top(codes, "htn")[0] == "I10"
    assert codes.search("qwertyuiop") == []


def test_search_ranks_common_clinical_phrases_first(codes):
    """The lexicon's clinical phrases and the common-code ranking: "community acquired pneumonia" is J18.9, not
    P23 Congenital pneumonia (issue #12)."""
    assert _top(codes, "community acquired pneumonia")[0] == "J18.9"
    assert _top(codes, "community-acquired pneumonia")[0] == "J18.9"
    assert _top(codes, "pneumonia")[0] == "J18.9"
    assert _top(codes, "high blood pressure")[0] == "I10"
    assert _top(codes, "chest pain")[0] == "R07.9"


def test_search_hits_carry_description_score_and_term(codes):
    hits = codes.search("high blood pressure", limit=5)
    assert hits[0].code == "I10" and hits[0].matched_term == "high blood pressure"
    assert hits[0].description == "Essential (primary) hypertension"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_code_query_returns_the_code_first(codes):
    assert _top(codes, "J18.9")[0] == "J18.9"
    assert _top(codes, "e112") == ["E11.2", "E11.21", "E11.22", "E11.29"]
    assert _top(codes, "E11.99")[0] == "E11.9"


def test_billable_only_search_expands_seventh_characters(codes):
    hits = codes.search("fracture of neck of right femur", limit=10, billable_only=True)
    assert hits and all(codes.is_billable(h.code) for h in hits)
    assert hits[0].code.endswith("A")
    sequela = codes.search("fracture of neck of right femur sequela", limit=5)
    assert sequela[0].code.endswith("S") and sequela[0].description.endswith("sequela")
    assert all(codes.is_billable(c) for c in _top(codes, "heart failure", 20, billable_only=True))


def test_search_edge_cases(codes):
    assert codes.search("") == [] and codes.search("   ") == []
    assert codes.search("qwertyuiop zxcvb") == []
    assert codes.search("heart failure", limit=0) == []
    assert len(codes.search("fracture", limit=3)) == 3


@pytest.mark.parametrize("queries", [
    ["type 2 diabetes kidney", "heart failure", "fracture of femur", "pain", "J18.9", "E11.99"],
    ["diabtes", "hypertenshun", "pnuemonia", "atrial fibrilation", "community acquired pneumonia"],  # corrected
], ids=["spelled", "misspelled"])
def test_search_is_fast(codes, queries):
    codes.search("warm up")
    start = time.perf_counter()
    for _ in range(5):
        for query in queries:
            codes.search(query)
    per_query = (time.perf_counter() - start) / (5 * len(queries))
    assert per_query < 0.05, f"{per_query * 1000:.1f} ms per query"


# ----------------------------------------------------------------------------- loading and caching


def test_load_is_memoised_per_path(codes):
    assert load_codeset() is codes
    assert load_codeset(default_xml_path()) is codes


def test_cache_is_written_then_used(tmp_path, monkeypatch):
    monkeypatch.setenv("SUGGEST_CACHE_DIR", str(tmp_path / "cache"))
    first_copy = tmp_path / "a" / default_xml_path().name
    second_copy = tmp_path / "b" / default_xml_path().name
    for copy in (first_copy, second_copy):
        copy.parent.mkdir()
        shutil.copy(default_xml_path(), copy)
    cold = load_codeset(first_copy)
    assert list((tmp_path / "cache").glob("codeset-*.pickle"))

    def must_not_parse(path):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr("suggest.codeset.core.parse_tabular", must_not_parse)
    warm = load_codeset(second_copy)  # parsing would fail: the cache is what was read (its speed is bench's)
    assert warm is not cold and len(warm) == len(cold) and warm.release == cold.release
    assert warm.search("heart failure", 3) == cold.search("heart failure", 3)


def test_corrupt_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("SUGGEST_CACHE_DIR", str(tmp_path / "cache"))
    xml = tmp_path / "icd10cm-tabular-October-1-2026.xml"
    xml.write_text(_MINI_RELEASE)
    load_codeset(xml)
    (cache,) = (tmp_path / "cache").glob("codeset-*.pickle")
    cache.write_bytes(b"not a pickle")
    copy = tmp_path / "copy" / xml.name
    copy.parent.mkdir()
    shutil.copy(xml, copy)
    assert len(load_codeset(copy).billable_codes()) == len(load_codeset(xml).billable_codes())


def test_missing_or_foreign_xml_is_a_clear_error(tmp_path):
    with pytest.raises(SuggestError, match="cannot read"):
        load_codeset(tmp_path / "absent.xml")
    foreign = tmp_path / "other.xml"
    foreign.write_text("<catalog><item/></catalog>")
    with pytest.raises(SuggestError, match="not a readable ICD-10-CM tabular XML"):
        load_codeset(foreign)
    broken = tmp_path / "broken.xml"
    broken.write_text("<ICD10CM.tabular><chapter>")
    with pytest.raises(SuggestError, match="broken.xml"):
        load_codeset(broken)


# A tiny "next release": another XML path is all it takes to load it.
_MINI_RELEASE = """<?xml version="1.0" encoding="utf-8"?>
<ICD10CM.tabular>
  <version>2027</version>
  <chapter>
    <name>19</name>
    <desc>Injury (S00-T88)</desc>
    <useAdditionalCode><note>, code for retained foreign body (Z18.-)</note></useAdditionalCode>
    <section id="S00-S09">
      <desc>Injuries to the head (S00-S09)</desc>
      <diag>
        <name>S06</name>
        <desc>Intracranial injury</desc>
        <sevenChrDef>
          <extension char="A">initial encounter</extension>
          <extension char="D">subsequent encounter</extension>
          <extension char="S">sequela</extension>
        </sevenChrDef>
        <notes>
          <note>7th characters D and S do not apply to codes in category S06 with 6th character 7 - death, or 8 - death due to other cause.</note>
        </notes>
        <diag placeholder="true">
          <name>S06.1X</name>
          <desc>Traumatic cerebral edema</desc>
          <diag><name>S06.1X0</name><desc>Traumatic cerebral edema without loss of consciousness</desc></diag>
          <diag><name>S06.1X7</name><desc>Traumatic cerebral edema with death</desc></diag>
        </diag>
        <diag>
          <name>S06.9</name>
          <desc>Unspecified intracranial injury</desc>
          <sevenChrDef>
            <extension char="A">initial encounter</extension>
          </sevenChrDef>
        </diag>
      </diag>
      <diag>
        <name>S09</name>
        <desc>Other injuries of head</desc>
        <inclusionTerm><note>Head injury NOS</note></inclusionTerm>
      </diag>
    </section>
  </chapter>
</ICD10CM.tabular>
"""


def test_another_release_is_just_another_xml(tmp_path, monkeypatch):
    monkeypatch.setenv("SUGGEST_CACHE_DIR", str(tmp_path / "cache"))
    xml = tmp_path / "icd10cm-tabular-October-1-2026.xml"
    xml.write_text(_MINI_RELEASE)
    release = load_codeset(xml)
    assert release.release == "ICD-10-CM FY2027 (October 1 2026)"
    assert release.billable_codes() == ["S06.1X0A", "S06.1X0D", "S06.1X0S", "S06.1X7A", "S06.9XXA", "S09"]
    assert release.get("S06.9XXA").description == "Unspecified intracranial injury, initial encounter"
    assert release.get("S09").use_additional_code == ("code for retained foreign body (Z18.-)",)
    assert release.get("S06.1X").children == ("S06.1X0", "S06.1X7")
    assert release.get("S06").block_title == "Injuries to the head" and release.get("S06").chapter_title == "Injury"
    assert release.search("head injury")[0].code == "S09"
    assert load_codeset() is not release


def test_importing_the_code_set_stays_light():
    probe = (
        "import sys, suggest.codeset; "
        "heavy = [m for m in ('numpy', 'spacy', 'sklearn', 'mlflow', 'simple_icd_10_cm') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_code_info_is_hashable_and_serialisable(codes):
    info = codes.get("S72.001A")
    assert len({info, codes.get("s72001a")}) == 1
    data = info.to_dict()
    assert data["code"] == "S72.001A" and isinstance(data["children"], list)
    assert codes.validate("E11").to_dict()["status"] == "not_billable"


def test_code_set_pickles_with_its_data(codes):
    import pickle

    copy = pickle.loads(pickle.dumps(codes))
    assert len(copy) == len(codes) and copy.get("E11.22") == codes.get("E11.22")


def test_notes_written_above_a_code(codes):
    assert ("S72", "traumatic amputation of hip and thigh (S78.-)") in codes.ancestor_notes("S72.001A", "excludes1")
    from_e11 = codes.ancestor_notes("E11.22", "excludes1")
    assert ("E11", "type 1 diabetes mellitus (E10.-)") in from_e11
    assert from_e11[-1][0] == "chapter 4"  # chapter-level notes come last
    assert codes.ancestor_notes("E11", "excludes1")[0][0] in {"E08-E13", "chapter 4"}
    assert codes.ancestor_notes("NOPE", "excludes2") == []
    with pytest.raises(ValueError, match="kind"):
        codes.ancestor_notes("E11.22", "description")


def test_unwritable_cache_only_costs_time(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("SUGGEST_CACHE_DIR", str(blocker / "cache"))
    xml = tmp_path / "icd10cm-tabular-October-1-2026.xml"
    xml.write_text(_MINI_RELEASE)
    with caplog.at_level("WARNING", logger="suggest.codeset.core"):
        release = load_codeset(xml)
    assert len(release.billable_codes()) == 6
    assert "could not write code-set cache" in caplog.text


def test_side_family_names_each_side_of_a_code(codes):
    assert codes.side_family("M77.00") == {"M77.00": "unspecified", "M77.01": "right", "M77.02": "left"}
    # an injury keeps its 7th character; a 7th character that is not the encounter keeps it too
    assert codes.side_family("S93.401D") == {"S93.401D": "right", "S93.402D": "left", "S93.409D": "unspecified"}
    assert codes.side_family("H40.1192")["H40.1132"] == "bilateral"
    # a category that also holds another kind for each side (displaced and nondisplaced): the same words but the side
    assert codes.side_family("S82.444S") == {"S82.444S": "right", "S82.445S": "left", "S82.446S": "unspecified"}


def test_side_family_is_empty_without_right_and_left_siblings(codes):
    assert codes.side_family("E11.9") == {}
    assert codes.side_family("H40.119") == {}  # not billable: it takes a 7th character
    # "Unilateral primary osteoarthritis": the bilateral code is another category (M17.0), not a sibling
    assert codes.side_family("M17.11") == {}


def test_a_side_family_is_the_same_whichever_member_is_asked_first():
    import random

    fresh = CodeSet(load_codeset()._parsed)  # its own memory of families
    billable = fresh.billable_codes()
    for code in random.Random(5).sample(billable, 3000) + ["S82.445S", "S82.446S", "M77.01"]:
        family = fresh.side_family(code)
        assert family == fresh._find_side_family(code), code
        for member in family:
            assert fresh.side_family(member) == fresh._find_side_family(member) == family, (code, member)


def test_caches_of_other_versions_are_kept(tmp_path, monkeypatch):
    """Checkouts of other versions share the cache folder: a load must not remove their caches."""
    monkeypatch.setenv("SUGGEST_CACHE_DIR", str(tmp_path / "cache"))
    xml = tmp_path / "icd10cm-tabular-October-1-2026.xml"
    xml.write_text(_MINI_RELEASE)
    digest = hashlib.sha256(xml.read_bytes()).hexdigest()
    other_version = tmp_path / "cache" / f"codeset-v0.0-{digest[:32]}.pickle"
    other_version.parent.mkdir()
    other_version.write_bytes(b"another version's cache")
    load_codeset(xml)
    assert other_version.read_bytes() == b"another version's cache"
    assert len(list((tmp_path / "cache").glob("codeset-*.pickle"))) == 2


def test_tables_answer_like_the_parsed_nodes(codes):
    """The packed tables give back every node as parsed, and nothing for what is not a code."""
    from suggest.codeset._tabular import parse_tabular

    parsed = parse_tabular(default_xml_path())
    assert list(codes._nodes) == list(parsed.nodes)
    for code in list(parsed.nodes)[::97] + ["S72.001", "E11.22", "B20"]:
        assert codes._nodes[code] == parsed.nodes[code]
    expected = {CodeSet._with_seventh(code, char): (code, char)
                for code, node in parsed.nodes.items() for char in node.seventh_allowed}
    assert dict(codes._expanded.items()) == expected
    assert codes._expanded["S72.001A"] == ("S72.001", "A") and codes._expanded["E11.37X1"] == ("E11.37", "1")
    for missing in ("", "S72.001AX", "E11.9\x00", "É11", "e11.9", "S72.001Z"):
        assert missing not in codes._nodes and missing not in codes._expanded
        assert codes._nodes.get(missing) is None
