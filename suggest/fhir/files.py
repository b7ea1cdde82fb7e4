"""FHIR files for data scientists: charts from FHIR exports (``suggest data fhir``, ``suggest predict --format fhir``).

A path is a FHIR JSON file (a DocumentReference or a Bundle), an NDJSON file (a bulk-data export: one resource per
line, ``.ndjson``), or a folder of them (``*.json`` and ``*.ndjson``, in name order). Each document becomes a
:class:`~suggest.types.Chart`: its id (the DocumentReference's, else the file's name and the document's number), its
text, the ICD-10-CM codes of the Bundle's Conditions (:mod:`suggest.fhir.reading`), and the chart fields in ``meta``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from suggest.errors import DataFormatError
from suggest.fhir.reading import FhirDocument, FhirInputError, read_documents
from suggest.types import Chart

FHIR_SUFFIXES = (".json", ".ndjson")


def fhir_files(path: str | Path) -> list[Path]:
    """The FHIR files ``path`` names (itself, or the ``.json``/``.ndjson`` files of a folder)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in FHIR_SUFFIXES and p.is_file())
        if not files:
            raise DataFormatError(str(path), None, "no .json or .ndjson FHIR files in this folder")
        return files
    if not path.is_file():
        raise DataFormatError(str(path), None, "no such file or folder")
    return [path]


def _resources(path: Path) -> Iterator[tuple[int | None, object]]:
    """(line number or None, parsed JSON) of each resource of a file."""
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(str(path), None, f"not valid UTF-8 ({exc.reason})") from None
    if path.suffix.lower() == ".ndjson":
        for line_no, line in enumerate(content.splitlines(), start=1):
            if line.strip():
                yield line_no, _parsed(line, path, line_no)
    else:
        yield None, _parsed(content, path, None)


def _parsed(text: str, path: Path, line_no: int | None):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(str(path), line_no or exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})") \
            from None


def read_fhir_charts(path: str | Path) -> list[Chart]:
    """The charts of the FHIR documents under ``path`` (see the module docstring).

    Raises DataFormatError naming the file, the line (NDJSON) and the FHIR element of the first problem."""
    charts: list[Chart] = []
    seen: set[str] = set()
    for file in fhir_files(path):
        for line_no, resource in _resources(file):
            try:
                documents = read_documents(resource)
            except FhirInputError as exc:
                raise DataFormatError(str(file), line_no, str(exc)) from None
            for document in documents:
                chart_id = document.document_id or f"{file.stem}-{len(charts) + 1}"
                while chart_id in seen:
                    chart_id = f"{chart_id}-{len(charts) + 1}"
                seen.add(chart_id)
                charts.append(Chart(id=chart_id, text=document.text, codes=list(document.codes), specialty=None,
                                    meta=_meta(document)))
    return charts


def _meta(document: FhirDocument) -> dict[str, object]:
    fields = {"patient_id": document.patient_id, "encounter_id": document.encounter_id,
              "provider": document.provider, "signed_by": document.signed_by,
              "document_date": document.document_date.isoformat() if document.document_date else None,
              "document_type": document.document_type, "sex": document.sex, "age_years": document.age_years}
    return {k: v for k, v in fields.items() if v is not None}
