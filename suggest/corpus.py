"""Corpus files: one chart per line as JSON (JSONL).

A line looks like ``{"id": "c1", "text": "...", "codes": ["E11.22", "N18.31"],
"specialty": "endocrinology", "meta": {...}}``. ``id`` and ``text`` are required,
``codes`` is required unless the caller reads uncoded charts, ``specialty`` and
``meta`` are optional. Every line is validated; a bad one raises
:class:`~suggest.errors.DataFormatError` naming the file, the line and the field.

This module is deliberately light (standard library only) so that every part of
the project can read and write corpora without heavy imports.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from suggest.errors import DataFormatError
from suggest.types import Chart

#: Fields a corpus line may carry.
FIELDS = ("id", "text", "codes", "specialty", "meta")

# An ICD-10-CM code written without its dot: letter, digit, alphanumeric, then up to 4 more.
_CM_NO_DOT = re.compile(r"^[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}$")
_CM_WITH_DOT = re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")


def normalize_code(code: str) -> str:
    """Write an ICD-10-CM code the canonical way: uppercase, trimmed, dot after 3 characters.

    ``"e1122"`` and ``" e11.22 "`` give ``"E11.22"``; ``"r52"`` gives ``"R52"``. Strings
    that do not look like ICD-10-CM codes (for example ICD-10-PCS codes such as
    ``"0DTJ4ZZ"``) are only trimmed and uppercased.
    """
    text = code.strip().upper().replace(" ", "")
    if text.endswith(".") and _CM_WITH_DOT.match(text[:-1]):
        text = text[:-1]
    if "." not in text and len(text) > 3 and _CM_NO_DOT.match(text):
        return f"{text[:3]}.{text[3:]}"
    return text


def chart_from_dict(obj: Any, path: str, line_no: int | None, *, require_codes: bool = True) -> Chart:
    """Validate one decoded corpus record and build a :class:`Chart`.

    Codes are normalised with :func:`normalize_code` and de-duplicated (first occurrence kept).
    Raises DataFormatError naming ``path:line_no`` and the offending field.
    """

    def fail(message: str) -> DataFormatError:
        return DataFormatError(path, line_no, message)

    if not isinstance(obj, dict):
        raise fail(f"expected a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(FIELDS))
    if unknown:
        raise fail(f"unknown field '{unknown[0]}' (allowed: {', '.join(FIELDS)})")
    for name in ("id", "text"):
        if name not in obj:
            raise fail(f"missing field '{name}'")
    chart_id, text = obj["id"], obj["text"]
    if not isinstance(chart_id, str) or not chart_id.strip():
        raise fail("field 'id' must be a non-empty string")
    if not isinstance(text, str):
        raise fail("field 'text' must be a string")
    if "codes" not in obj and require_codes:
        raise fail("missing field 'codes'")
    raw_codes = obj.get("codes", [])
    if not isinstance(raw_codes, list) or not all(isinstance(c, str) for c in raw_codes):
        raise fail("field 'codes' must be a list of strings")
    codes: list[str] = []
    for raw in raw_codes:
        code = normalize_code(raw)
        if not code:
            raise fail("field 'codes' contains an empty code")
        if code not in codes:
            codes.append(code)
    specialty = obj.get("specialty")
    if specialty is not None and not isinstance(specialty, str):
        raise fail("field 'specialty' must be a string or null")
    meta = obj.get("meta", {})
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise fail("field 'meta' must be an object")
    return Chart(id=chart_id, text=text, codes=codes, specialty=specialty or None, meta=meta)


def iter_jsonl(path: str | os.PathLike[str], *, require_codes: bool = True) -> Iterator[Chart]:
    """Yield the charts of a JSONL corpus one by one, validating every line.

    Blank lines are skipped. Bad JSON, a missing or mistyped field, or an ``id``
    seen before raise DataFormatError naming the file and the line.
    """
    name = str(path)
    seen: dict[str, int] = {}
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise DataFormatError(name, None, "no such file") from None
    except IsADirectoryError:
        raise DataFormatError(name, None, "is a directory, expected a JSONL file") from None
    with handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise DataFormatError(name, line_no, f"not valid UTF-8 ({exc.reason})") from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFormatError(name, line_no, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
            chart = chart_from_dict(obj, name, line_no, require_codes=require_codes)
            if chart.id in seen:
                raise DataFormatError(name, line_no, f"duplicate id '{chart.id}' (first on line {seen[chart.id]})")
            seen[chart.id] = line_no
            yield chart


def read_jsonl(path: str | os.PathLike[str], *, require_codes: bool = True) -> list[Chart]:
    """Read and validate a whole JSONL corpus (see :func:`iter_jsonl`)."""
    return list(iter_jsonl(path, require_codes=require_codes))


def _dump(chart: Chart) -> str:
    return json.dumps(chart.to_dict(), ensure_ascii=False, separators=(",", ":"))


def write_jsonl(charts: Iterable[Chart], path: str | os.PathLike[str]) -> int:
    """Write charts as JSONL and return how many were written.

    ``path`` ``"-"`` writes to standard output. A file is written atomically: to a
    temporary file beside it, renamed over the target only when complete, so a
    failure never leaves a half-written corpus. Parent folders are created.
    """
    if str(path) == "-":
        count = 0
        for chart in charts:
            sys.stdout.write(_dump(chart) + "\n")
            count += 1
        sys.stdout.flush()
        return count
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            for chart in charts:
                out.write(_dump(chart) + "\n")
                count += 1
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return count
