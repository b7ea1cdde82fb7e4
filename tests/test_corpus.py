"""The JSONL corpus format: round trip, normalisation and line-precise errors."""

from __future__ import annotations

import json

import pytest

from suggest.corpus import iter_jsonl, normalize_code, read_jsonl, write_jsonl
from suggest.errors import DataFormatError
from suggest.types import Chart


def _write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("e1122", "E11.22"),
        (" E11.22 ", "E11.22"),
        ("r52", "R52"),
        ("s93401a", "S93.401A"),
        ("Z3A.29", "Z3A.29"),
        ("i10.", "I10"),
        ("0DTJ4ZZ", "0DTJ4ZZ"),  # ICD-10-PCS: left as it is
    ],
)
def test_normalize_code(raw, expected):
    assert normalize_code(raw) == expected


def test_round_trip_keeps_every_field(tmp_path):
    charts = [
        Chart(id="a", text="Type 2 diabetes with CKD 3a.\nSecond line — ünïcode.", codes=["E11.22", "N18.31"],
              specialty="endocrinology", meta={"source": "test", "n": 1}),
        Chart(id="b", text="Annual exam.", codes=[]),
    ]
    path = tmp_path / "out" / "corpus.jsonl"
    assert write_jsonl(charts, path) == 2
    assert read_jsonl(path) == charts
    assert [c.id for c in iter_jsonl(path)] == ["a", "b"]
    assert not [p for p in path.parent.iterdir() if p.name != "corpus.jsonl"], "temporary file left behind"


def test_codes_are_normalised_and_deduplicated_on_read(tmp_path):
    path = _write_lines(tmp_path / "c.jsonl", [json.dumps({"id": "x", "text": "t", "codes": ["e1122", "E11.22", "i10"]})])
    assert read_jsonl(path)[0].codes == ["E11.22", "I10"]


def test_write_to_stdout(capsys):
    write_jsonl([Chart(id="a", text="t", codes=["I10"])], "-")
    assert json.loads(capsys.readouterr().out) == {"id": "a", "text": "t", "codes": ["I10"]}


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "c.jsonl"
    write_jsonl([Chart(id="old", text="t", codes=[])], path)

    def broken():
        yield Chart(id="new", text="t", codes=[])
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_jsonl(broken(), path)
    assert [c.id for c in read_jsonl(path)] == ["old"]
    assert [p.name for p in tmp_path.iterdir()] == ["c.jsonl"]


def test_blank_lines_are_skipped(tmp_path):
    path = _write_lines(tmp_path / "c.jsonl", [json.dumps({"id": "a", "text": "t", "codes": []}), "", "  "])
    assert len(read_jsonl(path)) == 1


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ('{"id": "b", "text": "t", "codes": [}', "invalid JSON"),
        ('{"id": "b", "text": "t", "codes": "I10"}', "field 'codes' must be a list of strings"),
        ('{"id": "b", "text": "t", "codes": [10]}', "field 'codes' must be a list of strings"),
        ('{"id": "b", "codes": []}', "missing field 'text'"),
        ('{"text": "t", "codes": []}', "missing field 'id'"),
        ('{"id": 7, "text": "t", "codes": []}', "field 'id' must be a non-empty string"),
        ('{"id": "b", "text": "t"}', "missing field 'codes'"),
        ('{"id": "b", "text": "t", "codes": [], "specialty": 3}', "field 'specialty' must be a string"),
        ('{"id": "b", "text": "t", "codes": [], "meta": []}', "field 'meta' must be an object"),
        ('{"id": "b", "text": "t", "code": []}', "unknown field 'code'"),
        ('["b", "t"]', "expected a JSON object"),
        ('{"id": "a", "text": "again", "codes": []}', "duplicate id 'a' (first on line 1)"),
    ],
)
def test_bad_line_names_file_line_and_field(tmp_path, bad_line, message):
    good = json.dumps({"id": "a", "text": "t", "codes": ["I10"]})
    path = _write_lines(tmp_path / "c.jsonl", [good, "", bad_line])
    with pytest.raises(DataFormatError) as info:
        read_jsonl(path)
    assert info.value.line == 3
    assert str(info.value).startswith(f"{path}:3: ")
    assert message in str(info.value)


def test_uncoded_charts_can_be_read_without_codes(tmp_path):
    path = _write_lines(tmp_path / "c.jsonl", [json.dumps({"id": "a", "text": "t"})])
    assert read_jsonl(path, require_codes=False)[0].codes == []


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataFormatError, match="no such file"):
        read_jsonl(tmp_path / "absent.jsonl")


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"id": "a", "text": "t", "codes": []}\n{"id": "b", "text": "\xff", "codes": []}\n')
    with pytest.raises(DataFormatError, match=r":2: not valid UTF-8"):
        read_jsonl(path)
