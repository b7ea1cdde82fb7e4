"""Section detection: which part of the note (HPI, family history, assessment, ...) a span is in.

Headers are recognised at the start of a line, alone on the line or followed by a
colon. Header strings are data (``resources/section_headers.json``). Text before
the first header is in section ``"preamble"``; an unknown all-caps header line
opens section ``"other"``.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from spacy.language import Language
from spacy.tokens import Doc

from suggest.pipeline import extensions as _extensions  # noqa: F401  (registers doc._ and span._ attributes)
from suggest.pipeline.resources import load_json

PREAMBLE = "preamble"
OTHER = "other"


@dataclass(frozen=True, slots=True)
class Section:
    """A section of a note: ``name`` from ``start`` (the header's first character) to ``end``."""

    name: str
    start: int
    end: int
    header: str


class SectionDetector:
    """Finds section headers line by line and stores them as ``doc._.sections``."""

    def __init__(self, headers: dict[str, list[str]]):
        self.header_to_section: dict[str, str] = {}
        for section, variants in headers.items():
            for variant in variants:
                self.header_to_section[variant.lower()] = section
        alternatives = "|".join(
            re.escape(h).replace(r"\ ", r"\s+") for h in sorted(self.header_to_section, key=len, reverse=True)
        )
        # A known header at line start: alone on the line (optional colon) or followed by ':' / ' - '.
        self._known = re.compile(
            rf"^[ \t]*(?:[#*•\-]+[ \t]*)?(?P<h>{alternatives})[ \t]*(?:(?P<colon>:)|(?=\n|$)|[ \t]+-[ \t])",
            re.IGNORECASE | re.MULTILINE,
        )
        self._caps = re.compile(r"^[ \t]*(?P<h>[A-Z][A-Z /&\-]{3,60}?)[ \t]*:?[ \t]*$", re.MULTILINE)

    def find(self, text: str) -> list[Section]:
        """Sections of ``text`` in order; they cover the whole text."""
        starts: list[tuple[int, str, str]] = []
        for m in self._known.finditer(text):
            header = re.sub(r"\s+", " ", m.group("h").lower())
            line_end = text.find("\n", m.end())
            rest = text[m.end(): line_end if line_end >= 0 else len(text)]
            # "Cardiovascular: Denies ..." has a colon but is not a section; only accept
            # short headers that are alone or introduce text after a colon.
            if not m.group("colon") and rest.strip() and not m.group(0).rstrip().endswith("-"):
                continue
            starts.append((m.start("h"), self.header_to_section[header], m.group("h")))
        known_positions = {s for s, _, _ in starts}
        for m in self._caps.finditer(text):
            pos = m.start("h")
            if pos not in known_positions and len(m.group("h").split()) <= 6:
                starts.append((pos, OTHER, m.group("h")))
        starts.sort()
        sections: list[Section] = []
        if not starts or starts[0][0] > 0:
            first = starts[0][0] if starts else len(text)
            sections.append(Section(PREAMBLE, 0, first, ""))
        for i, (pos, name, header) in enumerate(starts):
            end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
            sections.append(Section(name, pos, end, header))
        return sections

    def __call__(self, doc: Doc) -> Doc:
        text = doc._.source_text
        sections = self.find(text if text is not None else doc.text)
        doc._.sections = sections
        doc._.section_index = SectionIndex([s.start for s in sections], [s.name for s in sections])
        return doc


@dataclass(frozen=True, slots=True)
class SectionIndex:
    """Section starts and names of a document, for lookups by character offset."""

    starts: list[int]
    names: list[str]

    def at(self, char: int) -> str:
        """Name of the section holding character offset ``char``."""
        if not self.starts:
            return PREAMBLE
        return self.names[max(bisect.bisect_right(self.starts, char) - 1, 0)]


def section_at(doc: Doc, char: int) -> str:
    """Name of the section holding character offset ``char`` of ``doc``."""
    index = doc._.section_index
    if index is None:
        sections: list[Section] = doc._.sections or []
        index = doc._.section_index = SectionIndex([s.start for s in sections], [s.name for s in sections])
    return index.at(char)


@Language.factory(
    "clinical_sections_v1",
    assigns=["doc._.sections", "doc._.section_index"],
    default_config={"headers_file": "section_headers.json"},
)
def make_section_detector(nlp: Language, name: str, *, headers_file: str) -> SectionDetector:
    """Build the section detector from its header data file."""
    return SectionDetector(load_json(headers_file)["sections"])
