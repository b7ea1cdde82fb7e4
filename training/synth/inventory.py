"""The synthetic generator's data: condition inventory, context lists and note templates.

All clinical content lives in JSON files beside this module (``conditions.json``,
``musculoskeletal.json``, ``womens_health.json``, ``context.json``, ``templates.json``);
this module loads them once, checks their structure, and expands condition variants
into the exact codes the generator can emit (:func:`reachable_codes`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from suggest.errors import DataFormatError

DATA_DIR = Path(__file__).resolve().parent
CONDITION_FILES = ("conditions.json", "musculoskeletal.json", "womens_health.json")
SPECIALTIES = ("primary_care", "cardiology", "endocrinology", "pulmonology", "orthopedics", "obgyn", "emergency")
KINDS = ("chronic", "acute", "symptom", "injury", "preventive")
#: 7th characters the generator uses for injuries: initial and subsequent encounter.
SEVENTH = ("A", "D")
_VARIANT_KEYS = {"code", "codes", "names", "hpi", "exam", "results", "symptoms", "vars", "side", "meds"}
_CONDITION_KEYS = {
    "id", "kind", "group", "specialties", "code", "codes", "variants", "names", "pmh", "hpi", "vars", "meds", "exam",
    "plan", "with", "results", "symptoms", "cc", "sex", "min_age", "max_age", "key", "followup", "seventh", "prevalence",
}


def _strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise ValueError(f"duplicate key '{key}'")
    return dict(pairs)


def _load(name: str) -> dict[str, Any]:
    path = DATA_DIR / name
    try:
        return json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_strict_object)
    except (json.JSONDecodeError, ValueError) as exc:
        raise DataFormatError(str(path), getattr(exc, "lineno", None), f"invalid generator data: {exc}") from None


@dataclass(frozen=True, slots=True)
class Variant:
    """One concrete form of a condition: its codes (7th character not yet added) and texts."""

    codes: tuple[str, ...]
    names: tuple[str, ...]
    hpi: tuple[str, ...]
    exam: tuple[str, ...]
    results: tuple[str, ...]
    symptoms: tuple[str, ...]
    vars: dict[str, Any]
    side: str | None


@dataclass(frozen=True, slots=True)
class Inventory:
    """Everything the generator reads, loaded and checked."""

    conditions: tuple[dict[str, Any], ...]
    pregnancy: dict[str, Any]
    context: dict[str, Any]
    templates: dict[str, Any]

    def by_id(self, condition_id: str) -> dict[str, Any]:
        for cond in self.conditions:
            if cond["id"] == condition_id:
                return cond
        raise KeyError(condition_id)


def variants(cond: dict[str, Any]) -> list[Variant]:
    """The variants of a condition (a condition without ``variants`` has exactly one)."""
    raw = cond.get("variants") or [{k: cond[k] for k in ("code", "codes") if k in cond}]
    out = []
    for item in raw:
        codes = tuple(item["codes"]) if "codes" in item else (item["code"],)
        names = tuple(item.get("names") or cond.get("names") or ())
        out.append(
            Variant(
                codes=codes,
                names=names,
                hpi=tuple(item.get("hpi", ())),
                exam=tuple(item.get("exam", ())),
                results=tuple(item.get("results", ())),
                symptoms=tuple(item.get("symptoms", ())),
                vars=dict(item.get("vars", {})),
                side=item.get("side"),
            )
        )
    return out


def apply_with_rules(cond: dict[str, Any], codes: list[str], groups: set[str]) -> list[str]:
    """Combination coding: the first ``with`` rule whose groups are all present rewrites the codes.

    ``replace`` maps a code to its combination code; when nothing was replaced, ``add``
    codes are appended (e.g. E11.65 with CKD also gets E11.22).
    """
    for rule in cond.get("with", ()):
        if set(rule["when"]) <= groups:
            replaced = [rule.get("replace", {}).get(code, code) for code in codes]
            if replaced == codes:
                replaced = codes + [code for code in rule.get("add", ()) if code not in codes]
            return replaced
    return codes


def check_condition(cond: dict[str, Any], where: str, symptom_keys: set[str]) -> None:
    """Raise DataFormatError naming the condition and the field if a condition entry is malformed."""
    cid = cond.get("id", "?")

    def fail(message: str) -> DataFormatError:
        return DataFormatError(where, None, f"condition '{cid}': {message}")

    unknown = set(cond) - _CONDITION_KEYS
    if unknown:
        raise fail(f"unknown field '{sorted(unknown)[0]}'")
    if cond.get("kind") not in KINDS:
        raise fail(f"field 'kind' must be one of {', '.join(KINDS)}")
    bad = [s for s in cond.get("specialties", ()) if s not in SPECIALTIES]
    if bad or not cond.get("specialties"):
        raise fail(f"field 'specialties' must list known specialties (bad: {bad})")
    if sum(k in cond for k in ("code", "codes", "variants")) != 1:
        raise fail("needs exactly one of 'code', 'codes' or 'variants'")
    for item in cond.get("variants", ()):
        if set(item) - _VARIANT_KEYS:
            raise fail(f"variant has unknown field '{sorted(set(item) - _VARIANT_KEYS)[0]}'")
    for variant in variants(cond):
        if not variant.names:
            raise fail(f"variant {variant.codes} has no names")
        for key in variant.symptoms:
            if key not in symptom_keys:
                raise fail(f"unknown symptom key '{key}'")
    for key in cond.get("symptoms", ()):
        if key not in symptom_keys:
            raise fail(f"unknown symptom key '{key}'")
    if cond.get("seventh") and cond["kind"] != "injury":
        raise fail("only injuries take a 7th character")


@lru_cache(maxsize=1)
def load_inventory() -> Inventory:
    """Load and check the generator's data files (cached)."""
    context = _load("context.json")
    templates = _load("templates.json")
    symptom_keys = {s["key"] for s in context["symptoms"]}
    conditions: list[dict[str, Any]] = []
    pregnancy: dict[str, Any] = {}
    for name in CONDITION_FILES:
        data = _load(name)
        for cond in data["conditions"]:
            check_condition(cond, str(DATA_DIR / name), symptom_keys)
            conditions.append(cond)
        pregnancy = data.get("pregnancy", pregnancy)
    ids = [c["id"] for c in conditions]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise DataFormatError(str(DATA_DIR), None, f"duplicate condition id '{dupes[0]}'")
    for item in context["uncertain"]:
        for key in item["symptoms"]:
            if key not in symptom_keys:
                raise DataFormatError(str(DATA_DIR / "context.json"), None, f"uncertain item: unknown symptom key '{key}'")
    return Inventory(tuple(conditions), pregnancy, context, templates)


def condition_codes(cond: dict[str, Any]) -> set[str]:
    """Every code a condition can yield: variants, combination rules and 7th characters."""
    out: set[str] = set()
    for variant in variants(cond):
        codes = list(variant.codes)
        if cond.get("seventh"):
            codes = [code + char for code in codes for char in SEVENTH]
        out.update(codes)
    for rule in cond.get("with", ()):
        out.update(rule.get("replace", {}).values())
        out.update(rule.get("add", ()))
    for med in cond.get("meds", ()):
        if med.get("status"):
            out.add(med["status"])
    return out


def reachable_codes(inventory: Inventory | None = None) -> dict[str, str]:
    """All gold codes the generator can emit, each with where it comes from."""
    inv = inventory or load_inventory()
    ctx = inv.context
    found: dict[str, str] = {}

    def add(code: str | None, source: str) -> None:
        if code:
            found.setdefault(code, source)

    for cond in inv.conditions:
        for code in sorted(condition_codes(cond)):
            add(code, f"condition {cond['id']}")
    # Symptoms are coded only when they are the reason for a visit: a visit of their own,
    # the presenting symptom of an uncertain diagnosis, or a new finding at an annual exam.
    coded_symptoms = {key for item in ctx["uncertain"] for key in item["symptoms"]} | set(ctx["abnormal_findings"])
    for sym in ctx["symptoms"]:
        if (sym.get("specialties") and sym.get("hpi")) or sym["key"] in coded_symptoms:
            add(sym["code"], f"symptom {sym['key']}")
    for section in ("family_history", "personal_history", "status", "allergies", "smoking", "preventive", "immunizations"):
        for item in ctx[section]:
            add(item.get("code"), section)
    preg = inv.pregnancy
    for code in preg["weeks_codes"].values():
        add(code, "pregnancy weeks")
    for table in ("first", "other"):
        for code in preg["supervision"][table].values():
            add(code, "pregnancy supervision")
    for comp in preg["complications"]:
        for key in ("by_trimester", "by_trimester_first", "by_trimester_other"):
            for code in comp.get(key, {}).values():
                add(code, f"pregnancy {comp['id']}")
        for variant in comp.get("variants", ()):
            add(variant["code"], f"pregnancy {comp['id']}")
        add(comp.get("code"), f"pregnancy {comp['id']}")
        for code in comp.get("extra_codes", ()):
            add(code, f"pregnancy {comp['id']}")
    return found
