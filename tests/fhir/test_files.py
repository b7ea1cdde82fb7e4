"""FHIR exports for data scientists: ``suggest data fhir`` and ``suggest predict --format fhir``."""

from __future__ import annotations

import json

from fhir_support import document_bundle, document_reference, patient

from suggest.cli import main


def _condition(code: str, encounter: str) -> dict:
    return {"resourceType": "Condition", "subject": {"reference": "Patient/p1"}, "encounter": {"reference": encounter},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]}}


def test_data_fhir_reads_bundles_ndjson_and_folders_into_a_corpus(tmp_path, capsys):
    folder = tmp_path / "export"
    folder.mkdir()
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": document_reference()}, {"resource": patient()}, {"resource": _condition("I10", "Encounter/e1")}]}
    (folder / "a.json").write_text(json.dumps(bundle), encoding="utf-8")
    (folder / "b.ndjson").write_text(json.dumps(document_reference("Assessment: asthma.", id="note-2")) + "\n\n" +
                                     json.dumps(document_bundle()) + "\n", encoding="utf-8")
    (folder / "notes.txt").write_text("ignored", encoding="utf-8")
    out = tmp_path / "charts.jsonl"
    assert main(["data", "fhir", str(folder), "--output", str(out)]) == 0
    assert "wrote 3 charts" in capsys.readouterr().out
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == ["note-1", "note-2", "comp-1"]
    assert lines[0]["codes"] == ["I10"] and lines[0]["meta"]["sex"] == "female"
    assert lines[0]["meta"]["signed_by"] == "Dr Jane Roe" and lines[2]["meta"]["document_type"] == "history_and_physical"


def test_predict_reads_fhir_and_a_bad_file_is_named_with_its_line(tmp_path, small_model_dir, capsys):
    path = tmp_path / "note.json"
    path.write_text(json.dumps(document_reference("Assessment: essential hypertension.")), encoding="utf-8")
    out = tmp_path / "predictions.jsonl"
    assert main(["predict", "--model", str(small_model_dir), "--input", str(path), "--format", "fhir", "--output",
                 str(out), "--jobs", "1"]) == 0
    (line,) = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert line["id"] == "note-1" and line["suggestions"][0]["code"] == "I10"

    bad = tmp_path / "bad.ndjson"
    bad.write_text(json.dumps(document_reference()) + "\n" + json.dumps(document_reference(status="bogus")) + "\n",
                   encoding="utf-8")
    assert main(["data", "fhir", str(bad), "--output", str(tmp_path / "x.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "bad.ndjson:2" in err and "DocumentReference.status" in err
