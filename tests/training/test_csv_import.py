"""Importing charts from CSV."""

from __future__ import annotations

import pytest

from suggest.cli import main
from suggest.corpus import read_jsonl
from suggest.errors import DataFormatError
from training.csv_import import read_csv_charts


def _csv(tmp_path, content):
    path = tmp_path / "charts.csv"
    path.write_text(content, encoding="utf-8")
    return path


def test_reads_codes_specialty_and_multiline_text(tmp_path):
    path = _csv(
        tmp_path,
        'id,text,codes,specialty\n'
        'c1,"Line one\nLine two, with a comma",e11.22; N18.31 ;,endocrinology\n'
        'c2,Annual exam,,\n',
    )
    charts = read_csv_charts(path)
    assert [c.id for c in charts] == ["c1", "c2"]
    assert charts[0].text == "Line one\nLine two, with a comma"
    assert charts[0].codes == ["E11.22", "N18.31"]
    assert charts[0].specialty == "endocrinology"
    assert charts[1].codes == [] and charts[1].specialty is None


def test_long_fields_are_accepted(tmp_path):
    text = "word " * 100_000
    charts = read_csv_charts(_csv(tmp_path, f'id,text,codes\nc1,"{text}",I10\n'))
    assert len(charts[0].text) == len(text)


@pytest.mark.parametrize(
    "content, line, message",
    [
        ("id,codes\nc1,I10\n", 1, "header lacks column 'text'"),
        ("id,text,codes,notes\nc1,t,I10,x\n", 1, "unknown column 'notes'"),
        ("id,text,codes\nc1,t,I10\nc2,t\n", 3, "expected 3 fields, found 2"),
        ("id,text,codes\nc1,t,I10\nc1,again,I10\n", 3, "duplicate id 'c1' (first on line 2)"),
        ('id,text,codes\nc1,"two\nlines",I10\n,t,I10\n', 4, "field 'id' must be a non-empty string"),
        ("id,text,codes\nc1,   ,I10\n", 2, "field 'text' is empty"),
    ],
)
def test_errors_name_file_and_line(tmp_path, content, line, message):
    path = _csv(tmp_path, content)
    with pytest.raises(DataFormatError) as info:
        read_csv_charts(path)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert message in str(info.value)


def test_empty_file_and_missing_file(tmp_path):
    with pytest.raises(DataFormatError, match="empty file"):
        read_csv_charts(_csv(tmp_path, ""))
    with pytest.raises(DataFormatError, match="no such file"):
        read_csv_charts(tmp_path / "absent.csv")


def test_cli_imports_to_jsonl(tmp_path, capsys):
    path = _csv(tmp_path, "id,text,codes\nc1,Hypertension.,I10\nc2,Nothing,\n")
    out = tmp_path / "c.jsonl"
    assert main(["data", "csv", str(path), "--output", str(out)]) == 0
    assert "wrote 2 charts" in capsys.readouterr().out
    assert [(c.id, c.codes) for c in read_jsonl(out)] == [("c1", ["I10"]), ("c2", [])]


def test_cli_reports_bad_csv_in_one_line(tmp_path, capsys):
    path = _csv(tmp_path, "id,text\nc1,t\n")
    assert main(["data", "csv", str(path), "--output", str(tmp_path / "c.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "charts.csv:1: header lacks column 'codes'" in err and "Traceback" not in err
