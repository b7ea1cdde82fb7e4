"""The ICD-10-CM code set: codes, hierarchy, notes, 7th-character expansion, validation and search.

Billable codes in FY2026: 74,719 (CMS: FY2025's 74,260 + 487 new - 28 deleted). The tabular XML holds
36,343 leaf ``diag`` entries; the rest come from expanding 7th characters (``sevenChrDef``, inherited
by descendants unless redefined), padding codes shorter than 6 characters with the placeholder X
("E11.37" + "1" -> "E11.37X1", "S06.0X0" + "A" -> "S06.0X0A"). Two details make the count exact:

- Exceptions stated in notes are honoured: "7th characters D and S do not apply to codes in category
  S06 with 6th character 7 ... or 8": 38 codes take only "A", so naive expansion gives 74,795 (76 more).
- ``simple-icd-10-cm`` reports 74,724 "leaves" because its dotted code list repeats five categories that
  are also one-category blocks (B20, F99, P84, R99, Z66); its undotted code list has exactly 74,719 leaves,
  the same set as ours (``tests/test_codeset.py`` checks this).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import pickle
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from suggest.codeset._tabular import PARSER_VERSION, Node, ParsedRelease, parse_tabular

log = logging.getLogger(__name__)

#: The tabular list shipped by the ``simple-icd-10-cm`` package, used when no path is given.
DEFAULT_XML_RESOURCE = ("simple_icd_10_cm.data", "icd10c-tabular-April-1-2026.xml")

_CODE_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_NEAR_MATCH_LIMIT = 10
_DESCENDANTS_IN_VALIDATION = 20
_ANCESTOR_NOTE_KINDS = ("excludes1", "excludes2", "inclusion_terms", "code_also")
_SIDE_WORDS = re.compile(r"\b(right|left|bilateral|unspecified)\b", re.IGNORECASE)
_NOT_CODE_CHARS = re.compile(r"[\s.]")
Side = Literal["right", "left", "bilateral", "unspecified"]


def _without_sides(description: str) -> str:
    """A description without its side words ("Nondisplaced spiral fracture of shaft of fibula"): the siblings of a
    side family share it."""
    return " ".join(_SIDE_WORDS.sub(" ", description.lower()).split())


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """One ICD-10-CM code with its place in the hierarchy and its instructional notes.

    Attributes
    ----------
    code : str
        Dotted uppercase code: ``"E11.22"``, categories ``"E11"``, 7th-character codes ``"S72.001A"``.
    description : str
        Official title; for 7th-character codes, the stem's title + ", " + the 7th character's meaning.
    billable : bool
        True for a leaf code valid for billing.
    parent : str or None
        ``"E11.2"`` for ``"E11.22"``; the stem (``"S72.001"``) for a 7th-character code; None for a category.
    children : tuple of str
        Direct children; for a stem that takes a 7th character, its expanded codes.
    chapter, chapter_title : str
        Chapter number as in the XML (``"4"``) and its title.
    block, block_title : str
        Section id (``"E08-E13"``) and its title.
    inclusion_terms : tuple of str
        Inclusion terms and "Includes" notes of the code (of the stem for 7th-character codes).
    excludes1, excludes2 : tuple of str
        Excludes notes written on the code itself (``CodeSet.ancestor_notes`` gives those above it).
    code_first, use_additional_code : tuple of str
        Notes on the code and inherited from its ancestors, block and chapter, nearest first.
    code_also : tuple of str
        "Code also" notes on the code (of the stem for 7th-character codes).
    seventh_characters : dict
        Applicable 7th-character definitions (``{"A": "initial encounter for closed fracture", ...}``),
        empty if none apply. Exceptions are honoured (S06.1X7 takes only "A").
    notes : tuple of str
        Other notes (general remarks, 7th-character instructions) on the code and its ancestors.
    """

    code: str
    description: str
    billable: bool
    parent: str | None
    children: tuple[str, ...]
    chapter: str
    chapter_title: str
    block: str
    block_title: str
    inclusion_terms: tuple[str, ...]
    excludes1: tuple[str, ...]
    excludes2: tuple[str, ...]
    code_first: tuple[str, ...]
    use_additional_code: tuple[str, ...]
    code_also: tuple[str, ...]
    seventh_characters: dict[str, str]
    notes: tuple[str, ...] = ()

    def __hash__(self) -> int:  # the dict field would make the generated hash fail
        return hash(self.code)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True, slots=True)
class Validation:
    """The verdict on one code string.

    ``status`` is "billable", "not_billable" (a valid category or subcategory) or "invalid".
    ``billable_descendants`` lists up to 20 billable codes under a non-billable code;
    ``near_matches`` suggests existing codes for an invalid one (one edit away or under its longest
    valid prefix), billable ones first.
    """

    code: str
    status: Literal["billable", "not_billable", "invalid"]
    description: str | None
    billable_descendants: list[str] = field(default_factory=list)
    near_matches: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """True if the code exists in the release (billable or not)."""
        return self.status != "invalid"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CodeOutline:
    """Where a code sits, without its notes and terms: what a model reads of every candidate
    (``CodeSet.outline``)."""

    code: str
    billable: bool
    chapter: str
    block: str
    takes_seventh: bool  # it has 7th characters (a stem that takes one, or a code with one)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One search result: the code, its description, a relevance score and the term that matched."""

    code: str
    description: str
    score: float
    matched_term: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


class CodeSet:
    """One ICD-10-CM release. Build it with :func:`load_codeset`.

    Codes are accepted in any case, with or without the dot and surrounding spaces
    (``"e1122"``, ``" E11.22 "``); results always use the dotted uppercase form.
    """

    def __init__(self, parsed: ParsedRelease, index: Any = None):
        import numpy as np

        from suggest.codeset._packed import PackedNodes, SeventhCharacterCodes

        if not isinstance(parsed.nodes, PackedNodes):
            parsed.nodes = PackedNodes(parsed.nodes)
        self._parsed = parsed
        self._nodes = parsed.nodes
        self.release: str = parsed.release
        expanded: dict[str, tuple[str, str]] = {}
        billable: list[str] = []
        for code, node in self._nodes.items():
            if node.seventh_allowed:
                for char in node.seventh_allowed:
                    full = self._with_seventh(code, char)
                    expanded[full] = (code, char)
                    billable.append(full)
            elif not node.children:
                billable.append(code)
        #: 7th-character code -> (stem, character)
        self._expanded = SeventhCharacterCodes(expanded)
        self._billable = np.array([code.encode("ascii") for code in billable], dtype=bytes)
        self._index = index
        self._index_lock = threading.Lock()
        self._inherited_memo: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {}
        self._default_child: dict[str, str | None] = {}
        self._side_families: dict[str, dict[str, Side]] = {}
        self._info = functools.lru_cache(maxsize=8192)(self._build_info)

    # ----------------------------------------------------------------- formatting
    @staticmethod
    def normalize(code: str) -> str:
        """Format a code string: uppercase, trimmed, dot after the 3rd character (no validation).

        >>> CodeSet.normalize(" s72001a ")
        'S72.001A'
        """
        return _normalized(code) if isinstance(code, str) else _normalized(str(code))

    @staticmethod
    def _with_seventh(stem: str, char: str) -> str:
        plain = stem.replace(".", "").ljust(6, "X") + char
        return f"{plain[:3]}.{plain[3:]}"

    # ----------------------------------------------------------------- lookups
    def __contains__(self, code: object) -> bool:
        if not isinstance(code, str):
            return False
        key = self.normalize(code)
        return key in self._nodes or key in self._expanded

    def __len__(self) -> int:
        """Number of codes: categories, subcategories and billable codes (not chapters or blocks)."""
        return len(self._nodes) + len(self._expanded)

    def __reduce__(self):
        # Picklable (e.g. inside a joblib model) without its lock and lookup cache; this carries the
        # whole release (~12 MB): prefer storing ``release`` and calling ``load_codeset`` again.
        return (CodeSet, (self._parsed, self._index))

    def __repr__(self) -> str:
        return f"<CodeSet {self.release}: {len(self)} codes, {len(self._billable)} billable>"

    def get(self, code: str) -> CodeInfo | None:
        """The :class:`CodeInfo` of a code, or None if it is not a code of this release."""
        if not isinstance(code, str):
            return None
        key = self.normalize(code)
        if key not in self._nodes and key not in self._expanded:
            return None
        return self._info(key)

    def outline(self, code: str) -> CodeOutline | None:
        """The chapter, block and kind of a code, or None if it is not a code of this release: ``get`` without
        the notes, terms and description (cheaper, and nothing is kept)."""
        if not isinstance(code, str):
            return None
        key = self.normalize(code)
        expanded = self._expanded.get(key)
        node = self._nodes.get(expanded[0] if expanded else key)
        if node is None:
            return None
        return CodeOutline(key, bool(expanded) or not (node.children or node.seventh_allowed), node.chapter,
                           node.block, bool(self._seventh_characters(node)))

    def description(self, code: str) -> str | None:
        """The description of a code, or None if unknown (cheaper than ``get``)."""
        key = self.normalize(code)
        node = self._nodes.get(key)
        if node is not None:
            return node.description
        if key in self._expanded:
            stem, char = self._expanded[key]
            return self._expanded_description(stem, char)
        return None

    def is_billable(self, code: str) -> bool:
        """True if the code exists and is billable."""
        key = self.normalize(code)
        if key in self._expanded:
            return True
        node = self._nodes.get(key)
        return node is not None and not node.children and not node.seventh_allowed

    def billable_codes(self) -> list[str]:
        """All billable codes in tabular order (74,719 for FY2026)."""
        return [code.decode("ascii") for code in self._billable.tolist()]

    def codes(self) -> Iterator[str]:
        """Every code in tabular order: categories, subcategories, stems and 7th-character codes."""
        for code, node in self._nodes.items():
            yield code
            for char in node.seventh_allowed:
                yield self._with_seventh(code, char)

    def parent(self, code: str) -> str | None:
        """The parent code, None for a category or an unknown code."""
        key = self.normalize(code)
        if key in self._expanded:
            return self._expanded[key][0]
        node = self._nodes.get(key)
        return node.parent if node else None

    def ancestors(self, code: str) -> list[str]:
        """Ancestors of a code, nearest first, up to its category (empty for a category or unknown code)."""
        out: list[str] = []
        current = self.parent(code)
        while current is not None:
            out.append(current)
            current = self._nodes[current].parent
        return out

    def ancestor_notes(self, code: str, kind: str) -> list[tuple[str, str]]:
        """Notes of one kind written above a code, nearest first, as ``(source, note)``.

        Sources are ancestor codes, then the block (``"E08-E13"``) and the chapter (``"chapter 4"``).
        ``kind`` is a note field of :class:`CodeInfo` ("excludes1", "excludes2", "inclusion_terms",
        "code_also"); excludes notes on a category or block apply to every code under it. Notes
        already on the code itself (a 7th-character code shares its stem's) are not repeated.
        """
        if kind not in _ANCESTOR_NOTE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(_ANCESTOR_NOTE_KINDS)}, got {kind!r}")
        info = self.get(code)
        if info is None:
            return []
        seen = set(getattr(info, kind))
        out: list[tuple[str, str]] = []
        sources: list[tuple[str, Any]] = [(a, self._nodes[a]) for a in self.ancestors(info.code)]
        if info.block in self._parsed.blocks:
            sources.append((info.block, self._parsed.blocks[info.block]))
        if info.chapter in self._parsed.chapters:
            sources.append((f"chapter {info.chapter}", self._parsed.chapters[info.chapter]))
        for source, holder in sources:
            for note in getattr(holder, kind):
                if note not in seen:
                    seen.add(note)
                    out.append((source, note))
        return out

    def children(self, code: str) -> list[str]:
        """Direct children; for a stem that takes a 7th character, its 7th-character codes."""
        key = self.normalize(code)
        node = self._nodes.get(key)
        if node is None:
            return []
        if node.seventh_allowed:
            return [self._with_seventh(key, c) for c in node.seventh_allowed]
        return list(node.children)

    def seventh_character_code(self, stem: str, char: str) -> str | None:
        """The billable code of ``stem`` with 7th character ``char`` (X-padded: ``S06.0X1`` + ``D`` ->
        ``S06.0X1D``), or None when the code set has no such code."""
        code = self._with_seventh(self.normalize(stem), char)
        return code if code in self._expanded else None

    def default_child(self, code: str) -> str | None:
        """The billable code a coder takes when a chart names only this (non-billable) category.

        Its only billable descendant; else its billable ".9" child (the tabular list's unspecified or
        uncomplicated form); else its "unspecified" descendant nearest the category. None for a billable code
        or when the choice is not determined (``E11`` -> ``E11.9``, ``J18`` -> ``J18.9``, ``I50`` -> ``I50.9``).
        """
        info = self.get(code)
        if info is None or info.billable:
            return None
        found = self._default_child.get(info.code, "")
        if found == "":
            found = self._default_child[info.code] = self._find_default_child(info.code)
        return found

    def _find_default_child(self, code: str) -> str | None:
        count, first, nearest_unspecified = self._billable_summary(code)
        if count == 1:
            return first
        # The tabular list's convention: a category's ".9" child is its unspecified (or uncomplicated) form.
        # Below the category level a ".9" child often narrows instead ("Low back pain": M54.59 "Other low back
        # pain", "other fetus" as the 7th character 9): there the "unspecified" child is the default (M54.50).
        children = [child for child in self.children(code) if self.is_billable(child)]
        nine = next((child for child in children if child[-1] == "9"), None)
        if nine is not None:
            own = self.description(code)
            if _says_more(_NARROWING_WORDS, own, self.description(nine)):
                unspecified = next((child for child in children
                                    if _says_more(_UNSPECIFIED_WORDS, own, self.description(child))), None)
                return unspecified or nine
            return nine
        return nearest_unspecified[1] if nearest_unspecified is not None else None

    def _billable_summary(self, code: str) -> tuple[int, str | None, tuple[int, str] | None]:
        """For the billable codes under a non-billable ``code`` (``billable_descendants``): how many, the first in
        tabular order, and the "unspecified" one nearest the top as (depth, code), ties to the lowest code; an
        "unspecified" code is one whose description says so, not only "with unspecified". One walk over the
        tree; a 7th-character code's description is its stem's and its character's, read once per stem."""

        def unspecified(lowered: str) -> bool:
            return "unspecified" in lowered and "with unspecified" not in lowered

        count, first, nearest = 0, None, None
        stack = [(code, self._walk_depth(code))]
        while stack:
            current, depth = stack.pop()
            node = self._nodes.peek(current)
            if node.seventh_allowed:
                stem_words = node.description.lower()
                meanings = self._parsed.seventh_defs[node.seventh]
                for char in node.seventh_allowed:
                    full = self._with_seventh(current, char)
                    count += 1
                    first = first or full
                    if unspecified(f"{stem_words}, {meanings[char].lower()}") and (
                            nearest is None or (depth + 1, full) < nearest):
                        nearest = (depth + 1, full)
            elif not node.children:
                count += 1
                first = first or current
                if unspecified(node.description.lower()) and (nearest is None or (depth, current) < nearest):
                    nearest = (depth, current)
            stack.extend((child, depth + 1) for child in reversed(node.children))
        return count, first, nearest

    def _walk_depth(self, code: str) -> int:
        """``len(ancestors(code))`` for a walk over many codes: read without filling the look-up caches."""
        expanded = self._expanded.peek(code)
        current = expanded[0] if expanded is not None else getattr(self._nodes.peek(code), "parent", None)
        depth = 0
        while current is not None:
            depth += 1
            current = self._nodes.peek(current).parent
        return depth

    def billable_descendants(self, code: str, limit: int | None = None) -> list[str]:
        """Billable codes under a code in tabular order (the code itself if it is billable)."""
        key = self.normalize(code)
        if key in self._expanded:
            return [key]
        if key not in self._nodes:
            return []
        out: list[str] = []
        stack = [key]
        while stack and (limit is None or len(out) < limit):
            current = stack.pop()
            node = self._nodes.peek(current)
            if node.seventh_allowed:
                out.extend(self._with_seventh(current, c) for c in node.seventh_allowed)
            elif not node.children:
                out.append(current)
            stack.extend(reversed(node.children))
        return out if limit is None else out[:limit]

    def side_family(self, code: str) -> dict[str, Side]:
        """The codes that differ from ``code`` in its side only, ``code`` included, with their sides
        (``M77.00`` -> ``{"M77.01": "right", "M77.02": "left", "M77.00": "unspecified"}``; an injury keeps its 7th
        character). Empty when ``code`` has no right and left siblings."""
        key = self.normalize(code)
        found = self._side_families.get(key)
        if found is None:
            found = self._side_families[key] = self._find_side_family(key)
            for member in found:  # every member of a family has the same one (read off the same parent)
                self._side_families.setdefault(member, found)
        return found

    def _find_side_family(self, code: str) -> dict[str, Side]:
        stem = self.seventh_character_stem(code)
        if not _SIDE_WORDS.search(self.description(stem or code) or ""):
            return {}  # a code that names no side is no member of a side family (most codes: decided quickly)
        # Siblings that differ in their side only; where the parent also holds other kinds (displaced and
        # nondisplaced fractures of each side), the siblings whose description is this one's but for its side.
        return self._side_siblings(code, same_words=False) or self._side_siblings(code, same_words=True)

    def _side_siblings(self, code: str, same_words: bool) -> dict[str, Side]:
        stem = self.seventh_character_stem(code)
        char = code[-1] if stem is not None and stem != code else None
        parent = self.parent(stem or code)
        if parent is None or not self.is_billable(code):
            return {}
        family: dict[str, Side] = {}
        own = _without_sides(self.description(stem or code) or "")
        for sibling in self.children(parent):
            full = self.seventh_character_code(sibling, char) if char else sibling
            if full is None or not self.is_billable(full):
                continue
            description = self.description(sibling) or ""
            if "unilateral" in description.lower():  # M17.1-: the bilateral code is another category (M17.0)
                return {}
            if same_words and _without_sides(description) != own:
                continue
            words = {w.lower() for w in _SIDE_WORDS.findall(description)}
            sides = words & {"right", "left", "bilateral"}
            side: Side | None = sides.pop() if len(sides) == 1 else ("unspecified" if not sides and words else None)
            if side is None or side in family.values():
                return {}
            family[full] = side
        if code not in family or not {"right", "left"} <= set(family.values()):
            return {}
        return family

    def seventh_character_stem(self, code: str) -> str | None:
        """The tabular code a 7th character was added to, None if the code has no 7th character.

        ``"S72.001A" -> "S72.001"``, ``"S06.0X0A" -> "S06.0X0"``, ``"E11.37X1" -> "E11.37"``
        (placeholder X padding is not part of the stem when the tabular code is shorter).
        """
        found = self._expanded.get(self.normalize(code))
        return found[0] if found else None

    def terms(self, code: str) -> list[str]:
        """Description and inclusion terms of a code (empty if unknown), for dictionary matching."""
        info = self.get(code)
        if info is None:
            return []
        return [info.description, *info.inclusion_terms]

    def all_terms(self) -> Iterator[tuple[str, str, str]]:
        """Yield ``(code, term, kind)`` for every tabular code, kind "description" or "inclusion".

        7th-character codes are not repeated: their terms are yielded once, on the stem
        (``seventh_character_stem``); map a stem to its codes with ``children``.
        """
        for code, node in self._nodes.items():
            yield code, node.description, "description"
            for term in node.inclusion_terms:
                yield code, term, "inclusion"

    # ----------------------------------------------------------------- validation
    def validate(self, code: str) -> Validation:
        """Say whether a code string is billable, a valid non-billable code, or invalid (with near matches)."""
        key = self.normalize(code)
        if key in self._expanded or key in self._nodes:
            billable = self.is_billable(key)
            return Validation(
                code=key,
                status="billable" if billable else "not_billable",
                description=self.description(key),
                billable_descendants=[] if billable else self.billable_descendants(key, _DESCENDANTS_IN_VALIDATION),
            )
        return Validation(code=key, status="invalid", description=None, near_matches=self.near_matches(key))

    def near_matches(self, code: str, limit: int = _NEAR_MATCH_LIMIT) -> list[str]:
        """Existing codes close to a (probably invalid) code string, billable first.

        Candidates are codes one edit away (a character deleted, inserted, replaced or two
        swapped) and the billable codes under the longest valid prefix.
        """
        plain = self.normalize(code).replace(".", "")
        if not plain:
            return []
        target = self.normalize(plain)
        candidates: dict[str, tuple[int, int, int]] = {}  # code -> sort key

        def consider(candidate_plain: str, kind: int) -> None:
            candidate = self.normalize(candidate_plain)
            if candidate == target or candidate in candidates:
                return
            if candidate in self._nodes or candidate in self._expanded:
                shared = len(os.path.commonprefix([candidate_plain, plain]))
                candidates[candidate] = (0 if self.is_billable(candidate) else 1, kind, -shared)

        n = len(plain)
        for i in range(n):
            consider(plain[:i] + plain[i + 1 :], 0)
            if i + 1 < n:
                consider(plain[:i] + plain[i + 1] + plain[i] + plain[i + 2 :], 0)
            for ch in _CODE_CHARS:
                if ch != plain[i]:
                    consider(plain[:i] + ch + plain[i + 1 :], 1)
        for i in range(n + 1):
            for ch in _CODE_CHARS:
                consider(plain[:i] + ch + plain[i:], 1)
        for cut in range(n - 1, 2, -1):
            prefix = self.normalize(plain[:cut])
            if prefix in self._nodes:
                for near in self.billable_descendants(prefix, limit):
                    if near not in candidates and near != target:
                        candidates[near] = (0, 2, -cut)
                siblings_of = self._nodes[prefix].parent
                if siblings_of and len(candidates) < limit:
                    for near in self.billable_descendants(siblings_of, limit):
                        candidates.setdefault(near, (0, 3, -cut))
                break
        ranked = sorted(candidates, key=lambda c: (candidates[c], c))
        return ranked[:limit]

    # ----------------------------------------------------------------- search
    def search(self, query: str, limit: int = 10, billable_only: bool = False) -> list[SearchHit]:
        """Ranked keyword search over descriptions and inclusion terms.

        A query that is a code (``"J18.9"``, ``"e112"``) returns that code first, then the codes under it.
        Otherwise terms are scored BM25-style after light normalisation (case, punctuation, plural and
        suffix folding, common clinical abbreviations such as "htn" or "chf"), preferring billable codes
        and terms that cover the whole query. With ``billable_only``, a stem that takes a 7th character
        is returned as its best-matching (else first, usually "initial encounter") 7th-character code.
        """
        from suggest.codeset import _search

        return _search.search(self, self.search_index, query, limit=limit, billable_only=billable_only)

    @property
    def search_index(self) -> Any:
        """The inverted index behind :meth:`search` (built on first use when not cached)."""
        if self._index is None:
            with self._index_lock:
                if self._index is None:
                    from suggest.codeset import _search

                    self._index = _search.build_index(self)
        return self._index

    # ----------------------------------------------------------------- internals
    def _expanded_description(self, stem: str, char: str) -> str:
        node = self._nodes[stem]
        meaning = self._parsed.seventh_defs[node.seventh][char]
        return f"{node.description}, {meaning}"

    def _seventh_characters(self, node: Node) -> dict[str, str]:
        if node.seventh < 0:
            return {}
        definition = self._parsed.seventh_defs[node.seventh]
        if node.seventh_allowed:
            return {c: definition[c] for c in node.seventh_allowed}
        return dict(definition)

    def _inherited(self, code: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """(code_first, use_additional_code, notes) of a tabular code with its ancestors', nearest first."""
        found = self._inherited_memo.get(code)
        if found is not None:
            return found
        node = self._nodes[code]
        if node.parent is not None:
            above = self._inherited(node.parent)
        else:
            groupings = [
                g for g in (self._parsed.blocks.get(node.block), self._parsed.chapters.get(node.chapter)) if g
            ]
            above = (
                tuple(n for g in groupings for n in g.code_first),
                tuple(n for g in groupings for n in g.use_additional_code),
                (),
            )
        found = (
            tuple(dict.fromkeys(node.code_first + above[0])),
            tuple(dict.fromkeys(node.use_additional_code + above[1])),
            tuple(dict.fromkeys(node.notes + above[2])),
        )
        self._inherited_memo[code] = found
        return found

    def _build_info(self, key: str) -> CodeInfo:
        expanded = self._expanded.get(key)
        node = self._nodes[expanded[0] if expanded else key]
        block = self._parsed.blocks.get(node.block)
        chapter = self._parsed.chapters.get(node.chapter)
        code_first, use_additional_code, notes = self._inherited(node.code)
        return CodeInfo(
            code=key,
            description=self._expanded_description(*expanded) if expanded else node.description,
            billable=bool(expanded) or not (node.children or node.seventh_allowed),
            parent=node.code if expanded else node.parent,
            children=() if expanded else tuple(self.children(key)),
            chapter=node.chapter,
            chapter_title=chapter.title if chapter else "",
            block=node.block,
            block_title=block.title if block else "",
            inclusion_terms=node.inclusion_terms,
            excludes1=node.excludes1,
            excludes2=node.excludes2,
            code_first=code_first,
            use_additional_code=use_additional_code,
            code_also=node.code_also,
            seventh_characters=self._seventh_characters(node),
            notes=notes,
        )


@functools.lru_cache(maxsize=50_000)  # every look-up normalises its code first
def _normalized(code: str) -> str:
    plain = _NOT_CODE_CHARS.sub("", code).upper()
    return plain if len(plain) <= 3 else f"{plain[:3]}.{plain[3:]}"


# --------------------------------------------------------------------- loading
_LOADED: dict[Path, CodeSet] = {}
_DEFAULT_LOADED: list[CodeSet] = []  # the default release, once loaded
_LOAD_LOCK = threading.Lock()


def default_xml_path() -> Path:
    """The FY2026 tabular XML shipped by ``simple-icd-10-cm``.

    Located through the package's import spec rather than ``importlib.resources.files``, because
    the latter imports ``simple_icd_10_cm``, whose import alone loads its whole code set (~2 s).
    """
    from suggest.errors import SuggestError

    package, name = DEFAULT_XML_RESOURCE
    top, _, sub = package.partition(".")
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        raise SuggestError(f"the {top} package is not installed: install simple-icd-10-cm or pass an XML path")
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*sub.split("."), name)


def load_codeset(xml_path: str | os.PathLike | None = None) -> CodeSet:
    """Load an ICD-10-CM release from its tabular-list XML (default: FY2026 from ``simple-icd-10-cm``).

    The first load parses the XML and builds the search index (about 2 s) and caches both under
    ``suggest.paths.cache_dir()``, keyed by the file's sha256 and the parser version; later loads
    read the cache (well under 1 s). Results are memoised per path in the process.

    Raises ``SuggestError`` if the file is missing or is not a tabular list.
    """
    from suggest.errors import SuggestError

    if xml_path is None and _DEFAULT_LOADED:  # every suggestion asks: finding the package's file costs more
        return _DEFAULT_LOADED[0]
    path = Path(xml_path).expanduser().resolve() if xml_path is not None else default_xml_path()
    with _LOAD_LOCK:
        if path in _LOADED:
            if xml_path is None:
                _DEFAULT_LOADED[:] = [_LOADED[path]]
            return _LOADED[path]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SuggestError(f"cannot read ICD-10-CM tabular XML {path}: {exc.strerror or exc}") from exc
        codeset = _load_cached(path, hashlib.sha256(data).hexdigest())
        if codeset is None:
            try:
                parsed = parse_tabular(path)
            except (ValueError, SyntaxError) as exc:  # ET.ParseError is a SyntaxError
                raise SuggestError(f"{path}: not a readable ICD-10-CM tabular XML ({exc})") from exc
            codeset = CodeSet(parsed)
            _store_cache(path, hashlib.sha256(data).hexdigest(), codeset)
        _LOADED[path] = codeset
        if xml_path is None:
            _DEFAULT_LOADED[:] = [codeset]
        return codeset


def _cache_version() -> str:
    from suggest.codeset._packed import TABLES_VERSION
    from suggest.codeset._search import INDEX_VERSION

    return f"{PARSER_VERSION}.{INDEX_VERSION}.{TABLES_VERSION}"


def _cache_file(digest: str) -> Path:
    from suggest.paths import cache_dir

    return cache_dir() / f"codeset-v{_cache_version()}-{digest[:32]}.pickle"


def _load_cached(path: Path, digest: str) -> CodeSet | None:
    cache = _cache_file(digest)
    try:
        with cache.open("rb") as handle:
            payload = pickle.load(handle)
    except FileNotFoundError:
        return None
    except Exception as exc:  # a corrupt or incompatible cache is rebuilt, never fatal
        log.warning("ignoring unreadable code-set cache %s (%s)", cache, exc)
        return None
    if payload.get("version") != _cache_version() or payload.get("sha256") != digest:
        return None
    parsed: ParsedRelease = payload["parsed"]
    return CodeSet(parsed, index=payload["index"])


def _store_cache(path: Path, digest: str, codeset: CodeSet) -> None:
    cache = _cache_file(digest)
    payload = {
        "version": _cache_version(),
        "sha256": digest,
        "source": path.name,
        "parsed": codeset._parsed,
        "index": codeset.search_index,
    }
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache.parent, prefix=cache.name, suffix=".tmp", delete=False) as tmp:
            try:
                pickle.dump(payload, tmp, protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:
                os.unlink(tmp.name)
                raise
        # Caches of other versions are left alone: checkouts of other versions share this folder.
        os.replace(tmp.name, cache)
    except OSError as exc:
        log.warning("could not write code-set cache %s (%s); the next load will parse again", cache, exc)


_NARROWING_WORDS = re.compile(r"\b(other|multiple)\b")
_UNSPECIFIED_WORDS = re.compile(r"\b(unspecified|uncomplicated|without complications?)\b")


def _says_more(words: re.Pattern, parent_description: str, child_description: str) -> bool:
    """Whether a child's description says ``words`` more often than its parent's: "other" or "multiple" added, a
    narrower kind or site; "unspecified" (or "uncomplicated") added, the parent's unspecified form ("Low back pain"
    -> "Low back pain, unspecified"), not a sibling sharing the parent's own "unspecified"."""
    return len(words.findall(child_description.lower())) > len(words.findall(parent_description.lower()))
