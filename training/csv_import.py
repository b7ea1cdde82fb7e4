"""Import charts from a CSV file with columns ``id,text,codes`` (and optional ``specialty``).

The header row is required. ``codes`` holds codes separated by ``;`` (``"E11.22; N18.31"``),
in any case, with or without the dot; it may be empty for an uncoded chart. Errors name
the file and the line (the physical line where the record starts).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from suggest.corpus import chart_from_dict
from suggest.errors import DataFormatError
from suggest.types import Chart

REQUIRED_COLUMNS = ("id", "text", "codes")
OPTIONAL_COLUMNS = ("specialty",)


def _raise_field_limit() -> None:
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:
            limit //= 10


def read_csv_charts(path: str | Path) -> list[Chart]:
    """Read charts from a CSV file; see the module docstring for the format.

    Raises DataFormatError naming the file and the line for a missing header or column,
    a row with the wrong number of fields, an empty id or text, or a duplicate id.
    """
    name = str(path)
    _raise_field_limit()
    try:
        handle = open(path, encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise DataFormatError(name, None, "no such file") from None
    charts: list[Chart] = []
    seen: dict[str, int] = {}
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataFormatError(name, 1, f"unreadable CSV header ({exc})") from None
        if header is None:
            raise DataFormatError(name, None, "empty file (expected a header row: id,text,codes)")
        columns = [col.strip().lower() for col in header]
        missing = [col for col in REQUIRED_COLUMNS if col not in columns]
        if missing:
            raise DataFormatError(
                name, 1, f"header lacks column '{missing[0]}' (expected id,text,codes[,specialty]; got {','.join(columns)})"
            )
        unknown = [col for col in columns if col not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
        if unknown:
            raise DataFormatError(name, 1, f"unknown column '{unknown[0]}' (allowed: id, text, codes, specialty)")
        index = {col: columns.index(col) for col in columns}
        while True:
            start_line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise DataFormatError(name, start_line, f"malformed CSV ({exc})") from None
            except UnicodeDecodeError as exc:
                raise DataFormatError(name, start_line, f"not valid UTF-8 ({exc.reason})") from None
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(columns):
                raise DataFormatError(name, start_line, f"expected {len(columns)} fields, found {len(row)}")
            record: dict[str, object] = {
                "id": row[index["id"]].strip(),
                "text": row[index["text"]],
                "codes": [code for code in (c.strip() for c in row[index["codes"]].split(";")) if code],
            }
            if "specialty" in index and row[index["specialty"]].strip():
                record["specialty"] = row[index["specialty"]].strip()
            if not record["text"].strip():  # type: ignore[union-attr]
                raise DataFormatError(name, start_line, "field 'text' is empty")
            chart = chart_from_dict(record, name, start_line)
            if chart.id in seen:
                raise DataFormatError(name, start_line, f"duplicate id '{chart.id}' (first on line {seen[chart.id]})")
            seen[chart.id] = start_line
            charts.append(chart)
    return charts
