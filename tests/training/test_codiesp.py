"""Converting CodiEsp splits into corpus charts."""

from __future__ import annotations

import json

import pytest

from suggest.cli import main
from suggest.corpus import read_jsonl
from suggest.errors import DataFormatError
from training.codiesp import read_codiesp


def _make_split(root, tsv_lines, texts=None):
    texts = texts or {
        "doc-b": "A 60-year-old man with type 2 diabetes and hypertension.\nHe denied chest pain.\n",
        "doc-a": "Patient with right ankle sprain.\n",
        "doc-c": "Normal examination.\n",
    }
    (root / "text_files_en").mkdir(parents=True)
    for doc_id, text in texts.items():
        (root / "text_files_en" / f"{doc_id}.txt").write_text(text, encoding="utf-8")
    (root / "trainD.tsv").write_text("\n".join(tsv_lines) + "\n", encoding="utf-8")
    return root


def test_converts_normalises_and_reports(tmp_path):
    split = _make_split(
        tmp_path / "train",
        [
            "doc-b\te11.9",
            "doc-b\ti10",
            "doc-b\te11.9",  # duplicate: dropped
            "doc-b\tzz9.99",  # unknown: kept and reported
            "doc-a\ts93.401a",
            "doc-a\ts93",  # a category: kept, reported as non-billable
            "doc-x\tr52",  # no text file
        ],
    )
    charts, report = read_codiesp(split, "train")

    assert [c.id for c in charts] == ["doc-a", "doc-b", "doc-c"]
    by_id = {c.id: c for c in charts}
    assert by_id["doc-b"].codes == ["E11.9", "I10", "ZZ9.99"]
    assert by_id["doc-a"].codes == ["S93.401A", "S93"]
    assert by_id["doc-c"].codes == []
    assert by_id["doc-b"].text.startswith("A 60-year-old man")
    assert by_id["doc-a"].meta == {"source": "codiesp", "split": "train"}

    assert report.charts == 3
    assert report.codes == 5
    assert report.distinct_codes == 5
    assert report.uncoded_charts == 1
    assert report.duplicate_labels == 1
    assert report.unknown_codes == 1 and report.unknown_examples == ["ZZ9.99"]
    assert report.non_billable_codes == 1 and report.non_billable_examples == ["S93"]
    assert report.orphan_documents == ["doc-x"]
    summary = report.summary()
    assert "unknown codes (not in the FY2026 code set, kept): 1, e.g. ZZ9.99" in summary
    assert "charts: 3 (1 without codes)" in summary


def test_malformed_tsv_line_names_file_and_line(tmp_path):
    split = _make_split(tmp_path / "train", ["doc-a\ti10", "doc-b i10 no tab"])
    with pytest.raises(DataFormatError) as info:
        read_codiesp(split, "train")
    assert info.value.line == 2
    assert str(info.value).startswith(str(split / "trainD.tsv") + ":2:")


def test_missing_texts_folder_is_a_clear_error(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(DataFormatError, match="text_files_en"):
        read_codiesp(tmp_path / "train", "train")


def test_cli_writes_jsonl_and_prints_summary(tmp_path, capsys):
    split = _make_split(tmp_path / "train", ["doc-a\ts93.401a", "doc-b\tzz9.99"])
    out = tmp_path / "t.jsonl"
    assert main(["data", "codiesp", str(split), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "wrote 3 charts" in printed and "ZZ9.99" in printed
    assert [c.codes for c in read_jsonl(out)] == [["S93.401A"], ["ZZ9.99"], []]


def test_cli_error_is_one_line(tmp_path, capsys):
    split = _make_split(tmp_path / "dev", ["doc-a"], texts={"doc-a": "x"})
    (split / "devD.tsv").write_text("doc-a\n", encoding="utf-8")
    assert main(["data", "codiesp", str(split), "--output", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "devD.tsv:1:" in err
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.shared
def test_real_train_split_gives_500_charts(shared_dir, tmp_path):
    out = tmp_path / "t.jsonl"
    assert main(["data", "codiesp", str(shared_dir / "data" / "codiesp" / "train"), "--split", "train", "--output", str(out)]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 500
    charts = read_jsonl(out)
    assert all(chart.text.strip() for chart in charts)
    assert sum(len(chart.codes) for chart in charts) > 4000
    assert all(code == code.upper() for chart in charts for code in chart.codes)
    assert json.loads(lines[0])["meta"] == {"source": "codiesp", "split": "train"}
