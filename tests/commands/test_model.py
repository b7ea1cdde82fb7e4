"""``suggest predict``, ``suggest assess`` and ``suggest model sign`` from the command line."""

import json

from suggest.cli import main

SUGGESTION_FIELDS = {"code", "description", "confidence", "selected", "billable", "sources", "evidence"}


def write_charts(path, texts):
    path.write_text("".join(json.dumps({"id": f"c{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    return path


def read_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_predict_writes_one_line_per_chart_best_first(small_model_dir, held_out, tmp_path):
    texts = [c.text for c in held_out[:20]] + ["   "]
    docs = write_charts(tmp_path / "docs.jsonl", texts)
    out = tmp_path / "preds.jsonl"
    assert main(["predict", "--model", str(small_model_dir), "--input", str(docs), "--output", str(out),
                 "--top-k", "7", "--jobs", "1"]) == 0
    lines = read_lines(out)
    assert [line["id"] for line in lines] == [f"c{i}" for i in range(len(texts))]
    for line, text in zip(lines[:-1], texts, strict=False):
        suggestions = line["suggestions"]
        assert 0 < len(suggestions) <= 7
        assert SUGGESTION_FIELDS <= set(suggestions[0])
        confidences = [s["confidence"] for s in suggestions]
        assert confidences == sorted(confidences, reverse=True)
        for s in suggestions:
            for ev in s["evidence"]:
                assert text[ev["start"]:ev["end"]] == ev["text"]
    assert lines[-1]["suggestions"] == [] and lines[-1]["warnings"]


def test_predict_over_two_processes_writes_the_same(small_model_dir, held_out, tmp_path):
    docs = write_charts(tmp_path / "docs.jsonl", [c.text for c in held_out[:40]])
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    for out, jobs in ((one, "1"), (two, "2")):
        assert main(["predict", "--model", str(small_model_dir), "--input", str(docs), "--output", str(out),
                     "--jobs", jobs]) == 0
    assert read_lines(one) == read_lines(two)


def test_predict_on_an_empty_file_writes_an_empty_file(small_model_dir, tmp_path):
    docs = tmp_path / "empty.jsonl"
    docs.write_text("")
    out = tmp_path / "preds.jsonl"
    assert main(["predict", "--model", str(small_model_dir), "--input", str(docs), "--output", str(out)]) == 0
    assert out.read_text() == ""


def test_predict_errors_name_the_file_and_line(small_model_dir, tmp_path, capsys):
    docs = tmp_path / "bad.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "asthma"}) + "\n{not json\n")
    out = tmp_path / "preds.jsonl"
    assert main(["predict", "--model", str(small_model_dir), "--input", str(docs), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{docs}:2" in err and "Traceback" not in err
    assert not out.exists()
    assert main(["predict", "--model", str(small_model_dir), "--input", str(docs), "--jobs", "0"]) == 2
    assert "--jobs" in capsys.readouterr().err


def test_assess_prints_the_flags_of_a_span(capsys):
    assert main(["assess", "Mother had breast cancer.", "breast cancer"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["text"] == "breast cancer" and (printed["start"], printed["end"]) == (11, 24)
    assert printed["assertion"] == {"negated": False, "historical": False, "family": True, "hypothetical": False,
                                   "uncertain": False}


def test_model_sign_vouches_for_a_folder_that_then_loads(small_model_dir, tmp_path, capsys):
    import shutil

    import pytest

    import suggest
    from suggest.errors import ModelIntegrityError
    from suggest.model.integrity import file_sha256

    folder = shutil.copytree(small_model_dir, tmp_path / "from-elsewhere")
    (folder / "model.joblib.sig").unlink()
    with pytest.raises(ModelIntegrityError, match="no signature"):
        suggest.load_model(folder)
    digest = file_sha256(folder / "model.joblib")
    assert main(["model", "sign", str(folder), "--sha256", "0" * 64]) == 2  # not the file its author published
    assert not (folder / "model.joblib.sig").exists()
    assert capsys.readouterr().out.splitlines()[0] == f"{digest}  {folder / 'model.joblib'}"
    assert main(["model", "sign", str(folder), "--sha256", digest]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(digest) and out[1].startswith(f"signed {digest}")
    assert suggest.load_model(folder).suggest("Essential hypertension.").suggestions


def test_model_sign_needs_a_model_folder(tmp_path, capsys):
    assert main(["model", "sign", str(tmp_path)]) == 2
    assert "no model.joblib" in capsys.readouterr().err
