"""Plain data types shared by the library, the training tools and the service.

These are the small, typed interfaces between modules: a chart as it is stored
in corpora, and a suggestion as the engine returns it. They are dataclasses
with ``to_dict`` so that the CLI and the API serialise them the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class Chart:
    """One coded (or uncoded) chart: a line of a corpus JSONL file.

    Attributes
    ----------
    id : str
        Identifier, unique within its corpus.
    text : str
        The chart text.
    codes : list of str
        Gold ICD-10-CM codes, uppercase with the dot (``"E11.22"``); empty when uncoded.
    specialty : str or None
        Optional specialty hint (``"cardiology"``, ...).
    meta : dict
        Free-form metadata kept as it came.
    """

    id: str
    text: str
    codes: list[str] = field(default_factory=list)
    specialty: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "text": self.text, "codes": list(self.codes)}
        if self.specialty:
            out["specialty"] = self.specialty
        if self.meta:
            out["meta"] = self.meta
        return out


@dataclass(slots=True)
class Evidence:
    """A span of the input text that supports a suggestion.

    ``start``/``end`` index the input string in Python characters (code points),
    so ``text[start:end] == evidence.text``.
    """

    start: int
    end: int
    text: str
    section: str
    assertion: dict[str, bool]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Suggestion:
    """One ranked code suggestion.

    Attributes
    ----------
    code : str
        ICD-10-CM code, uppercase with the dot.
    description : str
        The code-set description (empty if the code is not in the code set).
    confidence : float
        Calibrated probability that the code is correct for the chart.
    selected : bool
        ``confidence >= model threshold``.
    billable : bool
        Whether the code is a billable (leaf) code in the release.
    sources : list of str
        Components that proposed it: ``"dictionary"``, ``"classifier"``, ``"hierarchy"``.
    evidence : list of Evidence
        Supporting spans, best first.
    billable_children : list of str
        For a non-billable code, its billable descendants (at most a handful).
    rules : list of dict
        What the coding rules did to the suggestion and why: ``{"rule", "action", "why"}`` with ``action``
        one of ``added``, ``selected``, ``dropped`` (no longer selected) or ``note`` (the rule agrees, or
        reminds; nothing changed).
    """

    code: str
    description: str
    confidence: float
    selected: bool
    billable: bool
    sources: list[str] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    billable_children: list[str] = field(default_factory=list)
    rules: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "code": self.code,
            "description": self.description,
            "confidence": round(float(self.confidence), 4),
            "selected": bool(self.selected),
            "billable": bool(self.billable),
            "sources": list(self.sources),
            "evidence": [e.to_dict() for e in self.evidence],
            "rules": [dict(r) for r in self.rules],
        }
        if not self.billable:
            out["billable_children"] = list(self.billable_children)
        return out


@dataclass(slots=True)
class SuggestResult:
    """The engine's answer for one chart: suggestions best first, plus warnings
    (for example ``"empty text: nothing to code"``), and the care setting whose rules selected them."""

    suggestions: list[Suggestion]
    warnings: list[str] = field(default_factory=list)
    codeset_release: str = ""
    setting: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "suggestions": [s.to_dict() for s in self.suggestions],
            "warnings": list(self.warnings),
            "codeset_release": self.codeset_release,
            "setting": self.setting,
        }
