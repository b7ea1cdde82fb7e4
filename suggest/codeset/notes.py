"""The tabular list's instructional notes as data: code references, note groups and Excludes1 conflicts.

Shared by the chart checks (:mod:`suggest.completeness`) and the coding rules applied at selection
(:mod:`suggest.encoder.rules`), so that both read a note the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_CODE = r"[A-Z]\d[0-9A-Z](?:\.[0-9A-Z]{1,4})?"
_CODE_REF = re.compile(
    rf"(?<![A-Za-z0-9])(?P<lo>{_CODE})(?P<dash>\.?-)?(?:\s*-\s*(?P<hi>{_CODE})(?:\.?-)?)?(?![A-Za-z0-9])")
_PAREN = re.compile(r"\(([^()]*)\)")


@dataclass(frozen=True, slots=True)
class CodeRef:
    """A code reference in an instructional note: the codes starting with ``lo`` (``"E10.-"``, ``"Z79.4"``),
    or, with ``hi``, every code whose leading characters fall between ``lo`` and ``hi`` (``"E08-E13"``)."""

    lo: str
    hi: str | None = None

    @classmethod
    def parse(cls, ref: str) -> CodeRef:
        """A reference as the rule files write it: ``"N18"``, ``"Z79.4"``, ``"I51.4-I51.9"``, ``"O00-O9A"``."""
        m = _CODE_REF.fullmatch(ref.strip().upper())
        if m is None:
            raise ValueError(f"not a code reference: {ref!r}")
        return cls(m.group("lo").rstrip("."), m.group("hi"))

    def matches(self, code: str) -> bool:
        plain = code.replace(".", "")
        lo = self.lo.replace(".", "")
        if self.hi is None:
            return plain.startswith(lo)
        hi = self.hi.replace(".", "")
        return lo <= plain[: len(lo)] and plain[: len(hi)] <= hi

    def __str__(self) -> str:
        return self.lo if self.hi is None else f"{self.lo}-{self.hi}"


class CodeRefs(tuple):
    """Several :class:`CodeRef` matched together: the prefixes by one ``str.startswith`` over all of them, the
    ranges by comparison (rule data tests hundreds of thousands of (references, code) pairs per batch)."""

    def __new__(cls, refs: Iterable[CodeRef]) -> CodeRefs:
        self = super().__new__(cls, refs)
        self._prefixes = tuple(r.lo.replace(".", "") for r in self if r.hi is None)
        self._ranges = tuple((r.lo.replace(".", ""), r.hi.replace(".", "")) for r in self if r.hi is not None)
        # The first letters a matched code can have: most codes tested start with none of them.
        firsts = {p[0] for p in self._prefixes if p}
        firsts.update(chr(c) for lo, hi in self._ranges if lo and hi for c in range(ord(lo[0]), ord(hi[0]) + 1))
        complete = all(self._prefixes) and all(lo and hi for lo, hi in self._ranges)
        self._firsts = frozenset(firsts) if complete else None
        return self

    def __getnewargs__(self) -> tuple[tuple[CodeRef, ...]]:
        return (tuple(self),)

    def matches(self, code: str) -> bool:
        """Whether one of the references matches ``code``."""
        plain = code.replace(".", "")
        firsts = self._firsts
        if firsts is not None and plain[:1] not in firsts:
            return False
        if plain.startswith(self._prefixes):
            return True
        for lo, hi in self._ranges:
            if lo <= plain[: len(lo)] and plain[: len(hi)] <= hi:
                return True
        return False


def parse_code_refs(note: str) -> list[CodeRef]:
    """Code references cited in a note, from its parenthesised groups: ``"type 1 diabetes mellitus (E10.-)"``
    -> ``[CodeRef("E10")]``; ``"(E08-E13)"`` -> a range; ``"(I10, I11.-)"`` -> two references."""
    refs: list[CodeRef] = []
    for group in _PAREN.findall(note):
        for m in _CODE_REF.finditer(group):
            lo = m.group("lo")
            refs.append(CodeRef(lo.rstrip("."), m.group("hi")))
    return refs


def notes_with_owner(codeset, code: str, kind: str) -> list[tuple[str, str]]:
    """Notes of ``kind`` written on the code and on its ancestors, as (owner code, note)."""
    out = []
    for owner in (code, *codeset.ancestors(code)):
        info = codeset.get(owner)
        if info is not None:
            out.extend((owner, note) for note in getattr(info, kind))
    return out


def own_notes(codeset, code: str, kind: str) -> list[tuple[str, list[str]]]:
    """Notes of ``kind`` that apply to ``code``, grouped by the code they are written on (nearest first).

    ``CodeInfo`` lists inherited notes too; a code's own notes are those its parent does not have."""
    out: list[tuple[str, list[str]]] = []
    lineage = [code, *codeset.ancestors(code)]
    for i, owner in enumerate(lineage):
        info = codeset.get(owner)
        if info is None:
            continue
        parent = codeset.get(lineage[i + 1]) if i + 1 < len(lineage) else None
        inherited = set(getattr(parent, kind, ())) if parent is not None else set()
        own = [n for n in getattr(info, kind, ()) if n not in inherited]
        if own:
            out.append((owner, own))
    return out


def group_notes(notes: list[str] | tuple[str, ...]) -> list[str]:
    """Join a lead-in note ending with ':' (``"code to identify control using:"``) with the item notes after it
    (``"insulin (Z79.4)"``, ...), so that the items read as alternatives of one instruction."""
    groups: list[list[str]] = []
    open_group = False
    for note in dict.fromkeys(n.strip(" ,;") for n in notes if n and n.strip(" ,;")):
        starts_new = note.endswith(":") or re.match(r"(?i)(code|use|if|to)\b", note)
        if open_group and not starts_new:
            groups[-1].append(note)
            continue
        groups.append([note])
        open_group = note.endswith(":")
    return [" ".join(g[:1]) + (" " + "; ".join(g[1:]) if len(g) > 1 else "") for g in groups]


@dataclass(frozen=True, slots=True)
class Excludes1Conflict:
    """Two codes that cannot be reported together: ``note``, written on ``owner`` (``code`` or one of its
    ancestors), excludes ``other``."""

    code: str
    other: str
    owner: str
    note: str


def excludes1_conflicts(codeset, codes: list[str]) -> list[Excludes1Conflict]:
    """Excludes1 conflicts among ``codes`` (valid codes), one per pair, in the order of ``codes``."""
    out: list[Excludes1Conflict] = []
    seen: set[frozenset[str]] = set()
    for code in codes:
        lineage = {code, *codeset.ancestors(code)}
        for owner, note in notes_with_owner(codeset, code, "excludes1"):
            refs = parse_code_refs(note)
            if not refs:
                continue
            for other in codes:
                if other == code or other in lineage or code in codeset.ancestors(other):
                    continue
                pair = frozenset((code, other))
                if pair in seen or not any(r.matches(other) for r in refs):
                    continue
                seen.add(pair)
                out.append(Excludes1Conflict(code, other, owner, note))
    return out
