"""Parse the CMS ICD-10-CM tabular-list XML into compact, picklable structures.

The XML (``icd10c-tabular-<Month>-<D>-<YYYY>.xml``) nests ``chapter > section > diag > diag ...``.
Only categories, subcategories and 6-character codes appear as ``diag`` elements: 7th characters
are defined once (``sevenChrDef``) on a category or subcategory and apply to every code below it
unless a descendant redefines them. Expanding them is the job of :mod:`suggest.codeset.core`; this
module records, for every tabular code, which definition applies and which characters are allowed.

Nothing here knows about searching or the public ``CodeInfo`` shape.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

#: Bump when the parsed structures change, so stale caches are rebuilt.
PARSER_VERSION = 5

_MONTHS = (
    "January February March April May June July August September October November December".split()
)
_RELEASE_IN_NAME = re.compile(r"(" + "|".join(_MONTHS) + r")-(\d{1,2})-(\d{4})", re.IGNORECASE)
_TRAILING_RANGE = re.compile(r"\s*\([A-Z]\d[0-9A-Z](?:\.[0-9A-Z]+)?(?:-[A-Z]\d[0-9A-Z](?:\.[0-9A-Z]+)?)?\)\s*$")
_LEADING_JUNK = re.compile(r"^[\s,;:]+")
_SPACES = re.compile(r"\s+")

# "7th characters D and S do not apply to codes in category S06 with 6th character 7 - death due to
# brain injury prior to regaining consciousness, or 8 - death due to other cause ..." (FY2026 wording).
_SEVENTH_EXCEPTION = re.compile(
    r"7th characters? (?P<chars>[0-9A-Z](?:(?:,\s*|,?\s+(?:and|or)\s+)[0-9A-Z])*) do(?:es)? not apply to "
    r"(?:all )?codes (?:in|from) (?:category|subcategory) (?P<scope>[A-Z]\d[0-9A-Z](?:\.[0-9A-Z]+)?)"
    r" with 6th characters? (?P<sixth>.+)",
    re.IGNORECASE,
)
_SIXTH_CHAR_ITEM = re.compile(r"(?:^|,|\bor\b|\band\b)\s*([0-9A-Z])\b(?=\s*(?:-|,|$|\bor\b|\band\b))")


@dataclass(slots=True)
class Node:
    """One ``diag`` element of the tabular list (a category, subcategory or code without its 7th character).

    Notes are kept as they apply to this node only; inheritance is resolved by the code set.
    ``seventh`` indexes :attr:`ParsedRelease.seventh_defs` (the definition in force here, own or
    inherited), -1 if none; ``seventh_allowed`` lists the characters allowed on this node when it is a
    leaf that takes a 7th character (the definition minus exceptions), else "".
    """

    code: str
    description: str
    parent: str | None
    children: tuple[str, ...]
    chapter: str
    block: str
    inclusion_terms: tuple[str, ...]
    excludes1: tuple[str, ...]
    excludes2: tuple[str, ...]
    code_first: tuple[str, ...]
    use_additional_code: tuple[str, ...]
    code_also: tuple[str, ...]
    notes: tuple[str, ...]
    seventh: int = -1
    seventh_allowed: str = ""
    placeholder: bool = False

    def __reduce__(self):
        # Positional fields unpickle about twice as fast as the default per-slot state.
        return (Node, tuple(getattr(self, name) for name in Node.__slots__))


@dataclass(slots=True)
class Grouping:
    """A chapter or a block (section) with the notes that apply to every code inside it."""

    id: str
    title: str
    chapter: str
    code_first: tuple[str, ...] = ()
    use_additional_code: tuple[str, ...] = ()
    inclusion_terms: tuple[str, ...] = ()
    excludes1: tuple[str, ...] = ()
    excludes2: tuple[str, ...] = ()
    code_also: tuple[str, ...] = ()


@dataclass(slots=True)
class ParsedRelease:
    """Everything read from one tabular XML, in tabular order."""

    release: str
    source_name: str
    nodes: dict[str, Node] = field(default_factory=dict)
    chapters: dict[str, Grouping] = field(default_factory=dict)
    blocks: dict[str, Grouping] = field(default_factory=dict)
    seventh_defs: list[dict[str, str]] = field(default_factory=list)
    #: Human-readable record of 7th-character exceptions applied: (scope, sixth chars, removed chars).
    seventh_exceptions: list[tuple[str, str, str]] = field(default_factory=list)


def clean_note(text: str | None) -> str:
    """Collapse whitespace and drop stray leading commas (J18.9's code-first note starts with ", if")."""
    if not text:
        return ""
    return _LEADING_JUNK.sub("", _SPACES.sub(" ", text)).strip()


def release_name(xml_path: Path, version: str | None) -> str:
    """Name the release from the file name (``...-April-1-2026.xml``) and the XML ``<version>``.

    >>> release_name(Path("icd10c-tabular-April-1-2026.xml"), "2026")
    'ICD-10-CM FY2026 (April 1 2026)'
    """
    fy = (version or "").strip()
    match = _RELEASE_IN_NAME.search(xml_path.name)
    if not fy and match:
        fy = match.group(3)
    name = f"ICD-10-CM FY{fy}" if fy else f"ICD-10-CM ({xml_path.name})"
    if match:
        month = match.group(1).capitalize()
        name += f" ({month} {int(match.group(2))} {match.group(3)})"
    return name


def _notes(element: ET.Element, tag: str) -> tuple[str, ...]:
    out: list[str] = []
    for holder in element.findall(tag):
        for note in holder.findall("note"):
            text = clean_note(note.text)
            if text:
                out.append(text)
    return tuple(out)


def _grouping_notes(element: ET.Element) -> dict[str, tuple[str, ...]]:
    return {
        "code_first": _notes(element, "codeFirst"),
        "use_additional_code": _notes(element, "useAdditionalCode"),
        "inclusion_terms": _notes(element, "inclusionTerm") + _notes(element, "includes"),
        "excludes1": _notes(element, "excludes1"),
        "excludes2": _notes(element, "excludes2"),
        "code_also": _notes(element, "codeAlso"),
    }


def _strip_range(title: str) -> str:
    return _TRAILING_RANGE.sub("", clean_note(title))


def _parse_exceptions(notes: tuple[str, ...]) -> list[tuple[str, frozenset[str], frozenset[str]]]:
    """Find "7th characters X and Y do not apply to codes in category Z with 6th character N" rules."""
    rules = []
    for text in notes:
        match = _SEVENTH_EXCEPTION.search(text)
        if not match:
            continue
        removed = frozenset(re.findall(r"[0-9A-Z]", match.group("chars").replace("and", "").replace("or", "")))
        sixth = frozenset(_SIXTH_CHAR_ITEM.findall(match.group("sixth")))
        if removed and sixth:
            rules.append((match.group("scope").replace(".", ""), sixth, removed))
    return rules


def parse_tabular(xml_path: Path) -> ParsedRelease:
    """Parse a CMS tabular-list XML file.

    Raises ``ValueError`` if the file is not an ICD-10-CM tabular list.
    """
    root = ET.parse(xml_path).getroot()
    if root.tag != "ICD10CM.tabular":
        raise ValueError(f"{xml_path}: not an ICD-10-CM tabular list (root element <{root.tag}>)")
    parsed = ParsedRelease(release=release_name(xml_path, root.findtext("version")), source_name=xml_path.name)
    def_index: dict[tuple[tuple[str, str], ...], int] = {}
    exception_rules: list[tuple[str, frozenset[str], frozenset[str]]] = []

    def seventh_def(element: ET.Element) -> int | None:
        holder = element.find("sevenChrDef")
        if holder is None:
            return None
        items = tuple(
            (ext.get("char", "").strip().upper(), clean_note(ext.text)) for ext in holder.findall("extension")
        )
        if items not in def_index:
            def_index[items] = len(parsed.seventh_defs)
            parsed.seventh_defs.append(dict(items))
        return def_index[items]

    def walk(element: ET.Element, parent: str | None, chapter: str, block: str, inherited: int) -> str:
        code = clean_note(element.findtext("name")).upper()
        own = seventh_def(element)
        seventh = inherited if own is None else own
        notes = _notes(element, "notes") + _notes(element, "sevenChrNote")
        exception_rules.extend(_parse_exceptions(notes))
        node = Node(
            code=code,
            description=clean_note(element.findtext("desc")),
            parent=parent,
            children=(),
            chapter=chapter,
            block=block,
            inclusion_terms=_notes(element, "inclusionTerm") + _notes(element, "includes"),
            excludes1=_notes(element, "excludes1"),
            excludes2=_notes(element, "excludes2"),
            code_first=_notes(element, "codeFirst"),
            use_additional_code=_notes(element, "useAdditionalCode"),
            code_also=_notes(element, "codeAlso"),
            notes=notes,
            seventh=seventh,
            placeholder=element.get("placeholder") == "true",
        )
        parsed.nodes[code] = node
        node.children = tuple(walk(child, code, chapter, block, seventh) for child in element.findall("diag"))
        if not node.children and seventh >= 0:
            node.seventh_allowed = "".join(parsed.seventh_defs[seventh])
        return code

    for chapter_el in root.findall("chapter"):
        chapter = clean_note(chapter_el.findtext("name"))
        parsed.chapters[chapter] = Grouping(
            id=chapter,
            title=_strip_range(chapter_el.findtext("desc") or ""),
            chapter=chapter,
            **_grouping_notes(chapter_el),
        )
        for section in chapter_el.findall("section"):
            block = (section.get("id") or "").strip().upper()
            parsed.blocks[block] = Grouping(
                id=block,
                title=_strip_range(section.findtext("desc") or ""),
                chapter=chapter,
                **_grouping_notes(section),
            )
            for diag in section.findall("diag"):
                walk(diag, None, chapter, block, -1)

    # Apply 7th-character exceptions stated in notes. FY2026 has one: category S06 with 6th character
    # 7 or 8 (death before regaining consciousness) takes only "A" (38 codes x 2 = 76 fewer codes).
    for scope, sixth, removed in exception_rules:
        for node in parsed.nodes.values():
            plain = node.code.replace(".", "")
            if node.seventh_allowed and plain.startswith(scope) and len(plain) >= 6 and plain[5] in sixth:
                kept = "".join(c for c in node.seventh_allowed if c not in removed)
                node.seventh_allowed = kept or node.seventh_allowed  # a rule never empties a code
        parsed.seventh_exceptions.append((scope, "".join(sorted(sixth)), "".join(sorted(removed))))
    return parsed
