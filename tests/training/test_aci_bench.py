"""The ACI-BENCH yardstick: our gold codes are complete and billable, and join the shared notes."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from suggest.codeset import load_codeset
from suggest.errors import DataFormatError, SuggestError
from training.aci_bench import GOLD_PATH, load_aci_bench, read_gold

EXPECTED = {"train": 67, "valid": 20}


@pytest.fixture(scope="module")
def gold() -> list[dict]:
    return read_gold()


def test_gold_covers_every_note_once(gold):
    counts = Counter(r["split"] for r in gold)
    assert dict(counts) == EXPECTED
    ids = [r["id"] for r in gold]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"D2N\d{3}", i) for i in ids)


def test_every_gold_code_is_billable_in_fy2026(gold):
    codeset = load_codeset()
    bad = [(r["id"], c) for r in gold for c in r["codes"] if not codeset.is_billable(c)]
    assert bad == [], f"codes not billable in FY2026: {bad}"
    for record in gold:
        assert len(record["codes"]) == len(set(record["codes"])), f"{record['id']} repeats a code"


def test_gold_keeps_ids_and_codes_only():
    for line in GOLD_PATH.read_text(encoding="utf-8").splitlines():
        assert set(json.loads(line)) == {"id", "split", "codes", "specialty"}


def test_bad_gold_line_names_file_line_and_field(tmp_path: Path):
    path = tmp_path / "gold.jsonl"
    path.write_text(
        '{"id": "D2N001", "split": "train", "codes": ["I10"], "specialty": "primary care"}\n'
        '{"id": "D2N002", "split": "train", "codes": [], "specialty": "primary care"}\n'
    )
    with pytest.raises(DataFormatError, match=r"gold\.jsonl:2: field 'codes'"):
        read_gold(path)


def test_unknown_split_is_refused(tmp_path: Path):
    with pytest.raises(SuggestError, match="unknown ACI-BENCH split 'test'"):
        load_aci_bench("test", shared=tmp_path)


def test_absent_notes_give_a_clear_error(tmp_path: Path):
    with pytest.raises(SuggestError, match="ACI-BENCH notes not found"):
        load_aci_bench("valid", shared=tmp_path)


@pytest.mark.shared
@pytest.mark.parametrize("split", sorted(EXPECTED))
def test_loading_joins_every_gold_id_to_its_note(shared_dir: Path, gold, split: str):
    charts = load_aci_bench(split, shared=shared_dir)
    assert len(charts) == EXPECTED[split]
    expected = {r["id"]: r["codes"] for r in gold if r["split"] == split}
    assert {c.id: c.codes for c in charts} == expected
    # the visit note, not the dialogue (ids only in failure messages: never print chart text)
    def is_note(text: str) -> bool:
        words = set(text.upper().split())
        return len(text) > 200 and "[doctor]" not in text and bool({"ASSESSMENT", "IMPRESSION"} & words)

    not_notes = [c.id for c in charts if not is_note(c.text)]
    assert not_notes == []
    assert all(c.meta == {"source": "aci-bench", "split": split} and c.specialty for c in charts)
