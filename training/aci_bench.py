"""ACI-BENCH clinic notes joined with our gold ICD-10-CM codes: the yardstick on real notes.

ACI-BENCH (Yim et al., 2023, CC BY 4.0) ships 87 real clinic visit notes (train 67, valid 20) with
no codes. ``bench/data/aci_bench_codes.jsonl`` holds the codes a careful outpatient coder assigned
to each note (conventions in ``bench/data/README.md``): ids, split, codes and a coarse specialty,
never chart text. The text is read at run time from the read-only corpora beside the project
(``<shared>/data/aci-bench/<split>.csv``), so nothing of the dataset is copied into the project.

>>> charts = load_aci_bench("valid")          # needs ../shared (or $SUGGEST_SHARED_DIR)
>>> charts[0].id, charts[0].codes[:2]
('D2N068', ['I11.0', 'I50.9'])
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

from suggest.errors import DataFormatError, SuggestError
from suggest.paths import shared_dir
from suggest.types import Chart

#: The dataset's splits that we coded.
SPLITS = ("train", "valid")
#: Where the gold codes live, relative to the project root.
GOLD_PATH = Path(__file__).resolve().parents[1] / "bench" / "data" / "aci_bench_codes.jsonl"
#: Where the notes live, relative to the shared corpora folder.
NOTES_SUBDIR = Path("data") / "aci-bench"


def read_gold(path: str | Path = GOLD_PATH) -> list[dict[str, Any]]:
    """Read the gold file: one ``{"id", "split", "codes", "specialty"}`` record per note.

    Raises DataFormatError naming the file, the line and the field when a line is malformed
    or an id repeats.
    """
    path = Path(path)
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SuggestError(f"cannot read the ACI-BENCH gold codes {path}: {exc.strerror}") from exc
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(str(path), line_no, f"not valid JSON ({exc.msg})") from exc
        if not isinstance(obj, dict):
            raise DataFormatError(str(path), line_no, "expected a JSON object")
        for name in ("id", "split", "specialty"):
            if not isinstance(obj.get(name), str) or not obj[name]:
                raise DataFormatError(str(path), line_no, f"field '{name}' must be a non-empty string")
        if obj["split"] not in SPLITS:
            raise DataFormatError(str(path), line_no, f"field 'split' must be one of {', '.join(SPLITS)}")
        codes = obj.get("codes")
        if not isinstance(codes, list) or not codes or not all(isinstance(c, str) and c for c in codes):
            raise DataFormatError(str(path), line_no, "field 'codes' must be a non-empty list of strings")
        if obj["id"] in seen:
            raise DataFormatError(str(path), line_no, f"id {obj['id']!r} repeats")
        seen.add(obj["id"])
        records.append(obj)
    return records


def _notes_file(split: str, shared: Path | None) -> Path:
    root = shared if shared is not None else shared_dir()
    if root is None:
        raise SuggestError(
            "ACI-BENCH notes not found: the shared corpora folder (../shared) is absent; "
            "set SUGGEST_SHARED_DIR to the folder that holds data/aci-bench/"
        )
    path = Path(root) / NOTES_SUBDIR / f"{split}.csv"
    if not path.is_file():
        raise SuggestError(f"ACI-BENCH notes not found: {path} does not exist")
    return path


def _read_notes(path: Path) -> dict[str, str]:
    """Map encounter id -> note text of one ACI-BENCH split file."""
    csv.field_size_limit(min(sys.maxsize, 10**9))  # dialogues and notes exceed the 128 kB default
    notes: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"encounter_id", "note"} - set(reader.fieldnames or [])
        if missing:
            raise DataFormatError(str(path), 1, f"missing column(s): {', '.join(sorted(missing))}")
        for row in reader:
            encounter = (row.get("encounter_id") or "").strip()
            if not encounter:
                raise DataFormatError(str(path), reader.line_num, "empty 'encounter_id'")
            if encounter in notes:
                raise DataFormatError(str(path), reader.line_num, f"encounter_id {encounter!r} repeats")
            notes[encounter] = row.get("note") or ""
    return notes


def load_aci_bench(split: str, shared: Path | None = None, *, gold_path: str | Path = GOLD_PATH) -> list[Chart]:
    """Load one ACI-BENCH split as coded charts, in the gold file's order.

    Parameters
    ----------
    split : {"train", "valid"}
        The dataset split (67 and 20 notes).
    shared : Path, optional
        The shared corpora folder; default :func:`suggest.paths.shared_dir`.
    gold_path : path, optional
        The gold codes file; default ``bench/data/aci_bench_codes.jsonl``.

    Returns
    -------
    list of Chart
        ``text`` is the visit note, ``codes`` the gold codes (first-listed diagnosis first),
        ``meta`` is ``{"source": "aci-bench", "split": split}``.

    Raises
    ------
    SuggestError
        Unknown split, shared folder or notes file absent, or a gold id with no note.
    """
    if split not in SPLITS:
        raise SuggestError(f"unknown ACI-BENCH split {split!r}: expected one of {', '.join(SPLITS)}")
    notes_path = _notes_file(split, shared)
    notes = _read_notes(notes_path)
    charts: list[Chart] = []
    for record in read_gold(gold_path):
        if record["split"] != split:
            continue
        text = notes.get(record["id"])
        if text is None:
            raise SuggestError(f"ACI-BENCH gold id {record['id']!r} has no note in {notes_path}")
        charts.append(
            Chart(
                id=record["id"],
                text=text,
                codes=list(record["codes"]),
                specialty=record["specialty"],
                meta={"source": "aci-bench", "split": split},
            )
        )
    return charts
