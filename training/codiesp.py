"""Convert a CodiEsp split (English texts + diagnosis TSV) into corpus charts.

A split folder holds ``text_files_en/<doc_id>.txt`` and ``<split>D.tsv`` with lines
``doc_id<TAB>code`` (codes lowercase with the dot, e.g. ``n44.8``). Codes are
normalised to the corpus form (``N44.8``), kept in file order and de-duplicated per
document. Codes missing from the FY2026 code set are kept, and counted in the
:class:`ConversionReport` with examples, so that a user sees what the corpus holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suggest.corpus import normalize_code
from suggest.errors import DataFormatError
from suggest.types import Chart

SPLITS = ("train", "dev", "test")
#: How many example codes a report keeps for each kind of problem.
MAX_EXAMPLES = 10


@dataclass(slots=True)
class ConversionReport:
    """What a conversion found.

    Attributes
    ----------
    charts : int
        Charts produced (one per text file).
    codes : int
        Code labels kept, after per-document de-duplication.
    distinct_codes : int
        Distinct codes among them.
    uncoded_charts : int
        Texts with no code in the TSV (kept with ``codes: []``).
    duplicate_labels : int
        TSV lines that repeated a code already given to the same document (dropped).
    unknown_codes : int
        Labels whose code is not in the FY2026 code set (kept).
    unknown_examples : list of str
        Up to ``MAX_EXAMPLES`` distinct unknown codes, in order of first sight.
    non_billable_codes : int
        Labels whose code is in the code set but is a category, not a billable code (kept).
    non_billable_examples : list of str
        Up to ``MAX_EXAMPLES`` of those.
    orphan_documents : list of str
        Document ids in the TSV with no text file (their labels are dropped).
    """

    charts: int = 0
    codes: int = 0
    distinct_codes: int = 0
    uncoded_charts: int = 0
    duplicate_labels: int = 0
    unknown_codes: int = 0
    unknown_examples: list[str] = field(default_factory=list)
    non_billable_codes: int = 0
    non_billable_examples: list[str] = field(default_factory=list)
    orphan_documents: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few human-readable lines for the CLI."""
        lines = [
            f"charts: {self.charts} ({self.uncoded_charts} without codes)",
            f"codes: {self.codes} labels, {self.distinct_codes} distinct"
            + (f", {self.duplicate_labels} duplicate labels dropped" if self.duplicate_labels else ""),
            f"unknown codes (not in the FY2026 code set, kept): {self.unknown_codes}"
            + (f", e.g. {', '.join(self.unknown_examples)}" if self.unknown_examples else ""),
            f"non-billable codes (categories, kept): {self.non_billable_codes}"
            + (f", e.g. {', '.join(self.non_billable_examples)}" if self.non_billable_examples else ""),
        ]
        if self.orphan_documents:
            lines.append(
                f"documents in the TSV without a text file (labels dropped): {len(self.orphan_documents)}, "
                f"e.g. {', '.join(self.orphan_documents[:MAX_EXAMPLES])}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def read_codiesp_labels(tsv_path: Path) -> dict[str, list[str]]:
    """Read ``doc_id<TAB>code`` lines; return codes per document in file order (with duplicates).

    Blank lines are skipped; any other line that is not exactly two non-empty
    tab-separated fields raises DataFormatError naming the file and line.
    """
    labels: dict[str, list[str]] = {}
    try:
        handle = open(tsv_path, encoding="utf-8")
    except FileNotFoundError:
        raise DataFormatError(str(tsv_path), None, "no such file (expected the CodiEsp diagnosis TSV)") from None
    with handle:
        for line_no, line in enumerate(handle, start=1):
            stripped = line.rstrip("\r\n")
            if not stripped.strip():
                continue
            parts = stripped.split("\t")
            if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
                raise DataFormatError(
                    str(tsv_path), line_no, "expected 'doc_id<TAB>code' (two non-empty tab-separated fields)"
                )
            doc_id, code = parts[0].strip(), normalize_code(parts[1])
            labels.setdefault(doc_id, []).append(code)
    return labels


def read_codiesp(split_dir: str | Path, split: str, *, codeset: Any = None) -> tuple[list[Chart], ConversionReport]:
    """Convert one CodiEsp split folder into charts, sorted by document id.

    Parameters
    ----------
    split_dir : path
        Folder holding ``text_files_en/`` and ``<split>D.tsv``.
    split : {"train", "dev", "test"}
        Which split this is (names the TSV, recorded in each chart's ``meta``).
    codeset : optional
        Code set used to flag unknown codes (``code in codeset``, ``codeset.get(code)``);
        defaults to ``suggest.codeset.load_codeset()``.

    Returns
    -------
    charts, report
    """
    if split not in SPLITS:
        raise DataFormatError(str(split_dir), None, f"unknown split '{split}' (expected one of {', '.join(SPLITS)})")
    root = Path(split_dir)
    text_dir = root / "text_files_en"
    if not text_dir.is_dir():
        raise DataFormatError(str(text_dir), None, "no such folder (expected the CodiEsp English texts)")
    labels = read_codiesp_labels(root / f"{split}D.tsv")
    if codeset is None:
        from suggest.codeset import load_codeset

        codeset = load_codeset()

    report = ConversionReport()
    charts: list[Chart] = []
    distinct: set[str] = set()
    for text_path in sorted(text_dir.glob("*.txt")):
        doc_id = text_path.stem
        try:
            text = text_path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise DataFormatError(str(text_path), None, f"not valid UTF-8 ({exc.reason})") from None
        codes: list[str] = []
        for code in labels.get(doc_id, []):
            if code in codes:
                report.duplicate_labels += 1
                continue
            codes.append(code)
            entry = codeset.get(code)
            if entry is None:
                report.unknown_codes += 1
                if code not in report.unknown_examples and len(report.unknown_examples) < MAX_EXAMPLES:
                    report.unknown_examples.append(code)
            elif not entry.billable:
                report.non_billable_codes += 1
                if code not in report.non_billable_examples and len(report.non_billable_examples) < MAX_EXAMPLES:
                    report.non_billable_examples.append(code)
        if not codes:
            report.uncoded_charts += 1
        report.codes += len(codes)
        distinct.update(codes)
        charts.append(Chart(id=doc_id, text=text, codes=codes, meta={"source": "codiesp", "split": split}))
    if not charts:
        raise DataFormatError(str(text_dir), None, "no .txt files found")
    known = {chart.id for chart in charts}
    report.orphan_documents = sorted(doc for doc in labels if doc not in known)
    report.charts = len(charts)
    report.distinct_codes = len(distinct)
    return charts, report
