"""Build synthetic outpatient charts with gold ICD-10-CM codes.

Each chart is planned first (specialty, visit type, patient, problems and the codes a
coder following the outpatient guidelines would assign) and then written out, either as
a sectioned clinic note or as case-report prose. The rules the plan follows:

* current, documented, managed conditions are coded; every coded condition is named in
  the assessment (or, for history, family, status, social and allergy items, in its section);
* denied symptoms, family history (Z80-Z84 instead), past conditions (Z85-Z87 instead) and
  uncertain diagnoses ("rule out", "concern for", "possible"...) are not coded as the
  condition; for an uncertain diagnosis the presenting symptoms are coded;
* symptoms that belong to a definitive diagnosis are mentioned but not coded;
* combination codes come from the data's ``with`` rules (hypertension with CKD or heart
  failure, diabetes with CKD); injuries carry laterality and a 7th character (A initial,
  D subsequent); pregnancy uses O codes or Z34 plus the Z3A weeks code;
* status codes come from long-term medications (Z79.4, Z79.84, Z79.01, ...).

``meta["not_coded"]`` records the codes a careless coder would have assigned from negated,
family, history and uncertain mentions, so tests (and assertion-detection work) can check them.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from suggest.types import Chart
from training.synth.inventory import Inventory, Variant, apply_with_rules, load_inventory, variants

GENERATOR_VERSION = "1.1"

#: Share of charts where an optional status code is assigned when its item is documented but not addressed.
CODED_SHARE = {"family_history": 0.3, "allergy_status": 0.3}

SPECIALTY_WEIGHTS = {
    "primary_care": 30,
    "cardiology": 12,
    "endocrinology": 10,
    "pulmonology": 10,
    "orthopedics": 12,
    "obgyn": 12,
    "emergency": 14,
}
VISIT_TYPES = {
    "primary_care": {"chronic": 40, "acute": 22, "annual": 18, "symptom": 12, "injury": 8},
    "cardiology": {"chronic": 72, "symptom": 28},
    "endocrinology": {"chronic": 82, "symptom": 18},
    "pulmonology": {"chronic": 62, "acute": 15, "symptom": 23},
    "orthopedics": {"injury": 50, "chronic": 40, "symptom": 10},
    "obgyn": {"prenatal": 45, "gyn": 40, "well_woman": 15},
    "emergency": {"acute": 45, "injury": 25, "symptom": 30},
}
CASE_REPORT_SHARE = 0.2
TYPO_SHARE = 0.15
TRIMESTER_WORDS = {1: "first", 2: "second", 3: "third"}
#: Review-of-systems system -> physical-exam system whose normal line a positive symptom contradicts.
EXAM_SYSTEM_OF = {
    "Cardiovascular": "Cardiovascular",
    "Respiratory": "Respiratory",
    "Gastrointestinal": "Abdomen",
    "Skin": "Skin",
    "Neurological": "Neurological",
    "HEENT": "HEENT",
    "Hematologic": "Neck",
    "Musculoskeletal": "Extremities",
    "Psychiatric": "Psychiatric",
}
#: A new abnormal finding at an annual exam rules out a coded condition of this group.
FINDING_BLOCKS = {"elevated_bp": "htn", "hyperglycemia": "diabetes"}
FINDING_HPI = [
    "Screening labs and measurements today were notable as below.",
    "{Pt} feels well; today's screening was notable as below.",
    "{Pt} has no complaints today.",
]
#: Review-of-systems negatives left out when a code of this prefix is present, so that
#: a note never denies what it codes (e.g. "denies joint pain" in an arthritis visit).
SYSTEMS_BLOCKED_BY_CODE = {
    "M": ("Musculoskeletal",),
    "S": ("Musculoskeletal", "Skin", "Neurological"),
    "F": ("Psychiatric",),
    "G47": ("Psychiatric",),
    "G4": ("Neurological",),
    "G5": ("Neurological",),
    "G6": ("Neurological",),
    "E11.4": ("Neurological",),
    "E10.4": ("Neurological",),
    "L": ("Skin",),
    "B3": ("Skin",),
    "N": ("Genitourinary",),
    "O": ("Genitourinary", "Gastrointestinal"),
    "Z3": ("Genitourinary", "Gastrointestinal"),
    "K": ("Gastrointestinal",),
    "A08": ("Gastrointestinal",),
    "H": ("HEENT",),
    "J0": ("HEENT",),
    "J3": ("HEENT",),
    "D5": ("Hematologic", "Constitutional"),
    "D6": ("Hematologic", "Constitutional"),
}


def _fill(template: str, ctx: dict[str, Any]) -> str:
    """Fill a data template; a missing placeholder is a data bug and raises KeyError naming it."""
    return template.format_map(ctx)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _lower_first(text: str) -> str:
    """Lowercase a leading capital, but keep abbreviations ("HTN", "T2DM") and eponyms ("Graves' disease")."""
    first = text.split(" ", 1)[0]
    if not first[:1].isupper() or any(ch.isupper() or ch.isdigit() or ch == "'" for ch in first[1:]):
        return text
    return text[:1].lower() + text[1:]


def _no_double_history(text: str) -> str:
    return re.sub(r"\b(history of|PMH of|history includes) (history of|hx of|hx) ", r"\1 ", text, flags=re.IGNORECASE)


def _join(items: list[str], conj: str = "and") -> str:
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + f" {conj} " + items[-1]


@dataclass
class Problem:
    """A condition as documented in one chart."""

    key: str
    kind: str
    group: str | None
    codes: list[str]
    name: str
    pmh_name: str | None = None
    cc: str | None = None
    hpi: list[str] = field(default_factory=list)
    exam: list[str] = field(default_factory=list)
    results: list[str] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)
    meds: list[dict[str, Any]] = field(default_factory=list)
    symptoms: set[str] = field(default_factory=set)
    encounter: str | None = None
    uncertain: str | None = None
    presenting: bool = False  # a symptom coded because the diagnosis is still uncertain


@dataclass
class _Pick:
    cond: dict[str, Any]
    variant: Variant
    encounter: str | None = None
    finding: bool = False  # a new abnormal finding at a preventive visit


class _ChartBuilder:
    def __init__(self, inv: Inventory, rng: random.Random, seed: int, index: int):
        self.inv = inv
        self.rng = rng
        self.seed = seed
        self.index = index
        self.ctx_lists = inv.context
        self.tpl = inv.templates
        self.symptoms = {s["key"]: s for s in inv.context["symptoms"]}
        self.not_coded: dict[str, list[str]] = {"negated": [], "family": [], "history": [], "uncertain": []}

    # ----------------------------------------------------------------- helpers
    def choice(self, items):
        return items[self.rng.randrange(len(items))]

    def weighted(self, table: dict[str, float]) -> str:
        keys = list(table)
        return self.rng.choices(keys, weights=[table[k] for k in keys])[0]

    def sample(self, items, k: int):
        k = max(0, min(k, len(items)))
        return self.rng.sample(list(items), k)

    def weighted_sample(self, conds: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
        """Up to k distinct conditions, common ones (``prevalence``) more likely."""
        remaining = list(conds)
        out = []
        while remaining and len(out) < k:
            cond = self.rng.choices(remaining, weights=[c.get("prevalence", 1) for c in remaining])[0]
            remaining.remove(cond)
            out.append(cond)
        return out

    def fits(self, item: dict[str, Any]) -> bool:
        if item.get("sex") and item["sex"] != self.sex:
            return False
        if self.age < item.get("min_age", 0) or self.age > item.get("max_age", 200):
            return False
        return True

    def pool(self, specialty: str | None, kinds: tuple[str, ...], used_groups: set[str], exclude_codes=()) -> list:
        out = []
        for cond in self.inv.conditions:
            if cond["kind"] not in kinds or not self.fits(cond):
                continue
            if specialty and specialty not in cond["specialties"]:
                continue
            group = cond.get("group")
            if group and group != "injury" and group in used_groups:
                continue
            if exclude_codes and any(v.codes[0][:3] in exclude_codes for v in variants(cond)):
                continue
            out.append(cond)
        return out

    # ------------------------------------------------------------- the patient
    def make_patient(self, specialty: str, visit: str) -> None:
        rng = self.rng
        if specialty == "obgyn":
            self.sex = "F"
        else:
            self.sex = "F" if rng.random() < 0.52 else "M"
        if visit == "prenatal":
            self.age = rng.randint(18, 43)
        elif specialty in ("cardiology", "pulmonology"):
            self.age = rng.randint(35, 89)
        else:
            self.age = rng.randint(18, 88)
        first = self.choice(self.tpl["first_names"][self.sex])
        last = self.choice(self.tpl["last_names"])
        female = self.sex == "F"
        self.base_ctx: dict[str, Any] = {
            "Pt": "She" if female else "He",
            "pt": "she" if female else "he",
            "His": "Her" if female else "His",
            "his": "her" if female else "his",
            "him": "her" if female else "him",
            "age": self.age,
            "Age": self.age,
            "Name": self.choice([f"{first} {last}", f"{'Ms.' if female else 'Mr.'} {last}"]),
            "sex_word": "female" if female else "male",
            "sex_letter": "F" if female else "M",
            "man_woman": "woman" if female else "man",
            "year": str(rng.randint(2004, 2023)),
            "a_an": "an" if self.age in (11, 18) or 80 <= self.age <= 89 else "a",
        }
        self.base_ctx["A_an"] = _cap(self.base_ctx["a_an"])

    def vitals(self, groups: set[str], present: set[str], bmi: str | None) -> dict[str, str]:
        rng = self.rng
        if "htn" in groups or "elevated_bp" in present:
            bp = self.choice(["138/86", "142/90", "148/92", "152/88", "128/78", "134/84", "160/96"])
        else:
            bp = self.choice(["118/76", "122/78", "116/72", "124/80", "112/70", "126/82"])
        temp = self.choice(["101.2", "100.8", "102.1"]) if "fever" in present else self.choice(["98.2", "98.6", "97.9", "98.4"])
        if "tachycardia" in present:
            hr = rng.randint(106, 124)
        elif "bradycardia" in present:
            hr = rng.randint(41, 52)
        else:
            hr = rng.randint(62, 96)
        return {
            "bp": bp,
            "hr": str(hr),
            "rr": str(rng.randint(12, 18)),
            "temp": temp,
            "spo2": str(rng.randint(95, 99)),
            "bmi": bmi or f"{rng.uniform(20.5, 29.4):.1f}",
        }

    # ------------------------------------------------------------ problem text
    def render_problem(self, pick: _Pick, ctx: dict[str, Any], groups: set[str], role: str) -> Problem:
        cond, variant = pick.cond, pick.variant
        ctx = dict(ctx)
        for key, values in cond.get("vars", {}).items():
            ctx[key] = self.choice(values) if isinstance(values, list) else values
        for key, values in variant.vars.items():
            ctx[key] = self.choice(values) if isinstance(values, list) else values
        side = variant.side
        if side:
            ctx["side"], ctx["Side"] = side, _cap(side)
        ctx["dur"] = self.choice(self.tpl["durations"])

        def usable(texts) -> list[str]:
            return [t for t in texts if side or ("{side}" not in t and "{Side}" not in t)]

        name = _fill(self.choice(variant.names), ctx)
        ctx["name"] = _lower_first(name)
        codes = list(variant.codes)
        if cond.get("seventh"):
            codes = [code + pick.encounter for code in codes]
        codes = apply_with_rules(cond, codes, groups)

        followup = pick.encounter == "D"
        specific = [] if followup else usable(list(variant.hpi))
        general = usable(cond.get("followup", ())) if followup else usable(cond.get("hpi", ()))
        hpi: list[str] = [self.choice(specific)] if specific else []
        n_hpi = 2 if role == "primary" else 1
        hpi += self.sample([t for t in specific + general if t not in hpi], n_hpi - len(hpi))
        if not hpi:
            hpi = ["{Pt} is here regarding {his} {name}."]
        if pick.finding:  # newly found at this visit: no history, no treatment yet
            hpi = [self.choice(FINDING_HPI)]
        exam = usable(list(variant.exam)) or usable(cond.get("exam", ()))
        results = usable(list(variant.results)) or usable(cond.get("results", ()))
        meds: list[dict[str, Any]] = []
        if cond.get("meds") and cond["kind"] in ("chronic", "acute", "injury") and not pick.finding:
            k = self.rng.choice([0, 1, 1, 2]) if cond["kind"] == "chronic" else self.rng.choice([0, 1])
            meds = self.sample(cond["meds"], k)
        plan = self.sample(usable(cond.get("plan", ())), self.rng.choice([1, 2]))
        pmh_forms = cond.get("pmh")
        cc_forms = usable(cond.get("cc", ()))
        problem = Problem(
            key=cond["id"],
            kind="finding" if pick.finding else cond["kind"],
            group=cond.get("group"),
            codes=codes,
            name=name,
            pmh_name=_fill(self.choice(pmh_forms), ctx) if pmh_forms else _lower_first(name),
            cc=_fill(self.choice(cc_forms), ctx) if cc_forms else None,
            hpi=[_fill(t, ctx) for t in hpi],
            exam=[_fill(self.choice(exam), ctx)] if exam and (role == "primary" or self.rng.random() < 0.5) else [],
            results=[_fill(self.choice(results), ctx)] if results and (pick.finding or self.rng.random() < 0.75) else [],
            plan=[_fill(t, ctx) for t in plan],
            meds=[{"text": m["text"], "status": m.get("status")} for m in meds],
            symptoms=set(cond.get("symptoms", ())) | set(variant.symptoms),
            encounter=pick.encounter,
        )
        if cond.get("key"):
            problem.symptoms.add(cond["key"])
        return problem

    def symptom_condition(self, key: str) -> dict[str, Any]:
        sym = self.symptoms[key]
        return {
            "id": f"symptom_{key}",
            "kind": "symptom",
            "specialties": sym.get("specialties") or ["primary_care"],
            "code": sym["code"],
            "names": sym["names"],
            "hpi": sym.get("hpi") or ["{Pt} reports " + sym["forms"][0] + " for {dur}."],
            "cc": [_cap(sym["forms"][0])],
            "symptoms": [key],
        }

    def pick_of(self, cond: dict[str, Any], specialty: str) -> _Pick:
        encounter = None
        if cond.get("seventh"):
            p_initial = 0.92 if specialty == "emergency" else 0.6
            encounter = "A" if self.rng.random() < p_initial else "D"
        return _Pick(cond, self.choice(variants(cond)), encounter)

    # ------------------------------------------------------------------ visits
    def plan_visit(self, specialty: str, visit: str) -> tuple[list[_Pick], list[dict[str, Any]], dict[str, Any]]:
        """Choose the conditions; returns (picks, uncertain items, extras)."""
        used: set[str] = set()
        picks: list[_Pick] = []
        uncertain: list[dict[str, Any]] = []
        extras: dict[str, Any] = {}
        exclude: set[str] = set()
        blocked_symptoms: set[str] = set()

        def add(cond):
            pick = self.pick_of(cond, specialty)
            picks.append(pick)
            if cond.get("group"):
                used.add(cond["group"])
            return pick

        def comorbidities(k: int, pool_specialty: str | None = "primary_care") -> None:
            pool = self.pool(pool_specialty, ("chronic",), used, exclude)
            if pool_specialty != specialty and specialty in ("cardiology", "endocrinology", "pulmonology"):
                pool += self.pool(specialty, ("chronic",), used, exclude)
            for cond in self.weighted_sample(pool, k):
                if cond.get("group") and cond["group"] in used:
                    continue
                cond_symptoms = set(cond.get("symptoms", ())) | {s for v in variants(cond) for s in v.symptoms}
                if cond_symptoms & blocked_symptoms:
                    continue
                add(cond)

        if visit == "chronic":
            primary_pool = self.pool(specialty, ("chronic",), used)
            add(self.choice(primary_pool))
            comorbidities(self.rng.choice([0, 1, 2, 2, 3]), "primary_care" if specialty != "orthopedics" else "orthopedics")
        elif visit == "acute":
            pool = self.pool(specialty, ("acute",), used)
            add(self.choice(pool))
            comorbidities(self.rng.choice([0, 0, 1, 2]))
        elif visit == "injury":
            pool = self.pool(specialty, ("injury",), used)
            first = add(self.choice(pool))
            if self.rng.random() < 0.1 and first.encounter == "A":
                second = self.pick_of(self.choice([c for c in pool if c["id"] != first.cond["id"]]), specialty)
                second.encounter = "A"
                picks.append(second)
            comorbidities(self.rng.choice([0, 0, 1]))
        elif visit == "symptom":
            uncertain_pool = [
                u for u in self.ctx_lists["uncertain"] if specialty in u["specialties"] and self.fits(u)
            ]
            if uncertain_pool and self.rng.random() < 0.65:
                item = self.choice(uncertain_pool)
                keys = item["symptoms"][: self.rng.choice([1, len(item["symptoms"])])]
                for key in keys:
                    picks.append(_Pick(self.symptom_condition(key), variants(self.symptom_condition(key))[0]))
                uncertain.append({"item": item, "keys": keys})
                exclude.add(item["would_be"][:3])
                blocked_symptoms.update(item["symptoms"])
            else:
                pool = [
                    self.symptom_condition(s["key"])
                    for s in self.ctx_lists["symptoms"]
                    if specialty in s.get("specialties", ()) and s.get("hpi") and self.fits(s)
                ]
                pool += self.pool(specialty, ("symptom",), used)
                cond = self.choice(pool)
                add(cond)
                blocked_symptoms.update(cond.get("symptoms", ()))
            comorbidities(self.rng.choice([0, 1, 1, 2]))
        elif visit == "annual":
            normal = self.rng.random() < 0.5
            extras["preventive"] = self.ctx_lists["preventive"][0 if normal else 1]
            if not normal:
                finding = self.choice(self.ctx_lists["abnormal_findings"])
                cond = self.symptom_condition(finding) if finding in self.symptoms else self.inv.by_id(finding)
                if not self.fits(cond):
                    cond = self.symptom_condition("elevated_bp")
                add(cond).finding = True
                if finding in FINDING_BLOCKS:
                    used.add(FINDING_BLOCKS[finding])
            comorbidities(self.rng.choice([0, 1, 2]))
            if self.rng.random() < 0.4:
                extras["immunization"] = self.choice(self.ctx_lists["immunizations"][0]["forms"])
        elif visit == "prenatal":
            extras["pregnancy"] = self.plan_pregnancy()
        elif visit in ("gyn", "well_woman"):
            if visit == "well_woman":
                normal = self.rng.random() < 0.55
                extras["preventive"] = self.ctx_lists["preventive"][2 if normal else 3]
                if not normal:
                    options = [self.inv.by_id(i) for i in ("breast", "vaginitis", "ovarian_cyst", "fibroids", "menopause")]
                    add(self.choice([c for c in options if self.fits(c)]))
            else:
                pool = self.pool("obgyn", ("chronic", "acute", "preventive"), used)
                add(self.choice(pool))
                if self.rng.random() < 0.3:
                    more = self.pool("obgyn", ("chronic", "acute"), used)
                    if more:
                        add(self.choice(more))
        else:  # pragma: no cover - VISIT_TYPES lists every visit
            raise ValueError(visit)
        return picks, uncertain, extras

    def plan_pregnancy(self) -> dict[str, Any]:
        preg = self.inv.pregnancy
        rng = self.rng
        weeks = rng.randint(8, 40)
        tri = 1 if weeks < 14 else 2 if weeks < 28 else 3
        gravida = self.choice([1, 1, 2, 2, 3, 4])
        para = rng.randint(0, gravida - 1)
        first = gravida == 1
        candidates = []
        for comp in preg["complications"]:
            if weeks < comp.get("min_weeks", 0) or weeks > comp.get("max_weeks", 99):
                continue
            if self.age < comp.get("min_age", 0) or para < comp.get("min_parity", 0):
                continue
            table = comp.get("by_trimester") or comp.get("by_trimester_first" if first else "by_trimester_other")
            if table is not None and str(tri) not in table:
                continue
            candidates.append(comp)
        n = self.weighted({"0": 50, "1": 40, "2": 10})
        comps = self.sample(candidates, int(n))
        return {"weeks": weeks, "tri": tri, "gravida": gravida, "para": para, "first": first, "complications": comps}

    # ---------------------------------------------------------------- the chart
    def build(self) -> Chart:
        rng = self.rng
        specialty = self.weighted(SPECIALTY_WEIGHTS)
        visit = self.weighted(VISIT_TYPES[specialty])
        self.make_patient(specialty, visit)
        picks, uncertain, extras = self.plan_visit(specialty, visit)
        groups = {p.cond.get("group") for p in picks if p.cond.get("group")}

        bmi = None
        for pick in picks:
            if "bmi" in pick.variant.vars:
                bmi = pick.variant.vars["bmi"]
        present_pre = {s for p in picks for s in set(p.cond.get("symptoms", ())) | set(p.variant.symptoms)}
        vit = self.vitals(groups, present_pre, bmi)
        ctx = dict(self.base_ctx)
        ctx.update(vit)

        problems = [
            self.render_problem(p, ctx, groups, "primary" if i == 0 else "other") for i, p in enumerate(picks)
        ]
        if extras.get("pregnancy"):
            problems = self.pregnancy_problems(extras["pregnancy"], ctx) + problems
        if extras.get("preventive"):
            prev = extras["preventive"]
            problems.insert(
                0,
                Problem(
                    key=prev["id"],
                    kind="preventive",
                    group=None,
                    codes=[prev["code"]],
                    name=self.choice(prev["names"]),
                    cc="Well-woman examination" if prev["id"].startswith("gyn") else "Annual physical examination",
                    plan=self.sample(self.preventive_plan(), 2),
                ),
            )
        for entry in uncertain:
            # The uncertain diagnosis hangs on the first of its presenting symptoms.
            keys = [f"symptom_{key}" for key in entry["keys"]]
            for problem in problems:
                if problem.key in keys:
                    problem.presenting = True
                if problem.key == keys[0]:
                    problem.uncertain = self.choice(entry["item"]["forms"])
                    problem.plan = list(entry["item"]["workup"])
                    self.not_coded["uncertain"].append(entry["item"]["would_be"])

        codes: list[str] = []

        def add_codes(items):
            for code in items:
                if code and code not in codes:
                    codes.append(code)

        for problem in problems:
            add_codes(problem.codes)
        for problem in problems:
            if problem.kind == "chronic":
                add_codes(m["status"] for m in problem.meds)

        # History, status, family, social and allergies.
        categories = {c[:3] for c in codes}
        history = []
        for item in self.sample(
            [h for h in self.ctx_lists["personal_history"] if self.fits(h)], self.rng.choice([0, 0, 0, 1, 1, 2])
        ):
            if item["code"][:3] in categories or (item.get("would_be") or "")[:3] in categories:
                continue
            history.append(_fill(self.choice(item["forms"]), ctx))
            add_codes([item["code"]])
            if item.get("would_be"):
                self.not_coded["history"].append(item["would_be"])
        status_pool = [
            s
            for s in self.ctx_lists["status"]
            if self.fits(s) and specialty in s.get("specialties", ()) and visit in s.get("visits", (visit,))
        ]
        status_forms = []
        if status_pool and rng.random() < 0.3:
            item = self.choice(status_pool)
            if item["code"] not in codes:
                status_forms.append(_fill(self.choice(item["forms"]), ctx))
                add_codes([item["code"]])
        surgery_pool = [s for s in self.ctx_lists["surgeries_uncoded"] if self.fits(s)]
        surgeries = [_fill(s["form"], ctx) for s in self.sample(surgery_pool, rng.choice([0, 1, 1, 2]))]

        family = []
        if rng.random() < 0.55:
            for item in self.sample(self.ctx_lists["family_history"], rng.choice([1, 1, 2])):
                if item["would_be"] in codes or item["code"] in codes:
                    continue
                rels = [r for r in self.ctx_lists["relatives"] if r["sex"] == item.get("rel_sex", r["sex"])]
                rel = self.choice(rels)
                family.append(_cap(_fill(self.choice(item["forms"]), {"rel": rel["name"], "rel_his": rel["his"]})))
                # Outpatient coders add Z80-Z84 when the family history matters to the visit; a listed,
                # unaddressed one is often left out. The share keeps the model's confidence honest.
                if rng.random() < CODED_SHARE["family_history"]:
                    add_codes([item["code"]])
                self.not_coded["family"].append(item["would_be"])

        smoking = self.ctx_lists["smoking"][
            self.rng.choices(range(len(self.ctx_lists["smoking"])), weights=[s["weight"] for s in self.ctx_lists["smoking"]])[0]
        ]
        if visit == "prenatal" and smoking["code"] in ("F17.210", "F17.290"):
            smoking = self.ctx_lists["smoking"][-1]
        smoking_text = _fill(self.choice(smoking["forms"]), ctx)
        add_codes([smoking["code"]])
        if smoking["code"] in ("F17.210", "F17.290") and rng.random() < 0.6:
            problems.append(
                Problem(
                    key="tobacco",
                    kind="chronic",
                    group=None,
                    codes=[smoking["code"]],
                    name=self.choice(smoking["plan_name"]),
                    plan=list(smoking["plan"]),
                )
            )
        if rng.random() < 0.25:
            allergy = self.choice(self.ctx_lists["allergies"])
            allergy_text = self.choice(allergy["forms"])
            if rng.random() < CODED_SHARE["allergy_status"]:
                add_codes([allergy["code"]])
        else:
            allergy_text = self.choice(self.ctx_lists["no_allergies"])
        if extras.get("immunization"):
            add_codes(["Z23"])

        present = set().union(*(p.symptoms for p in problems)) if problems else set()
        blocked_systems = {self.symptoms[k]["system"] for k in present if k in self.symptoms}
        for code in codes:
            for prefix, systems in SYSTEMS_BLOCKED_BY_CODE.items():
                if code.startswith(prefix):
                    blocked_systems.update(systems)
        negatives = [
            s
            for s in self.ctx_lists["symptoms"]
            if s["key"] not in present
            and s["code"] not in codes
            and s["system"] not in blocked_systems
            and self.fits(s)
        ]
        if rng.random() < TYPO_SHARE:
            self.add_typos(problems)
        parts = {
            "specialty": specialty,
            "visit": visit,
            "problems": problems,
            "history": history,
            "status": status_forms,
            "surgeries": surgeries,
            "family": family,
            "smoking": smoking_text,
            "allergies": allergy_text,
            "immunization": extras.get("immunization"),
            "present": present,
            "negatives": negatives,
            "ctx": ctx,
        }
        style = "case_report" if rng.random() < CASE_REPORT_SHARE else "clinic"
        text = self.case_report(parts) if style == "case_report" else self.clinic_note(parts)
        chart_id = f"synth-{self.seed}-{self.index:06d}"
        meta = {
            "source": "synthetic",
            "seed": self.seed,
            "generator_version": GENERATOR_VERSION,
            "style": style,
            "visit": visit,
            "not_coded": {k: sorted(set(v)) for k, v in self.not_coded.items() if v},
        }
        return Chart(id=chart_id, text=text, codes=codes, specialty=specialty, meta=meta)

    def preventive_plan(self) -> list[str]:
        """Health-maintenance plan lines that fit the patient's age and sex (none of them coded)."""
        lines = [
            "Age-appropriate cancer screening reviewed.",
            "Fasting labs ordered: CBC, CMP, lipid panel, A1c.",
            "Diet and exercise counseling provided.",
        ]
        if self.age >= 45:
            lines.append("Colonoscopy is due; referral placed.")
        if self.sex == "F" and self.age >= 40:
            lines.append("Screening mammogram ordered.")
        if self.sex == "F" and 21 <= self.age <= 65:
            lines.append("Pap smear collected.")
        return lines

    def pregnancy_problems(self, plan: dict[str, Any], ctx: dict[str, Any]) -> list[Problem]:
        preg = self.inv.pregnancy
        weeks, tri = plan["weeks"], plan["tri"]
        pctx = dict(ctx)
        pctx.update(
            weeks=weeks,
            tri_word=TRIMESTER_WORDS[tri],
            g=plan["gravida"],
            p=plan["para"],
            dating=self.choice(["LMP", "first-trimester ultrasound", "dating ultrasound"]),
            fh=str(max(weeks - self.rng.randint(-1, 2), 12)),
            fht=str(self.rng.randint(128, 158)),
            grav="primigravida" if plan["first"] else "multigravida",
        )
        weeks_code = preg["weeks_codes"][str(weeks)]
        sup = preg["supervision"]
        problems: list[Problem] = []
        hpi = [_fill(preg["hpi"][0], pctx)] + [_fill(t, pctx) for t in self.sample(preg["hpi"][1:], 2)]
        if not plan["complications"]:
            table = sup["first" if plan["first"] else "other"]
            names = sup["names_first" if plan["first"] else "names_other"]
            problems.append(
                Problem(
                    key="pregnancy",
                    kind="preventive",
                    group="pregnancy",
                    codes=[table[str(tri)], weeks_code],
                    name=_fill(self.choice(names), pctx),
                    cc="Prenatal visit",
                    hpi=hpi,
                    exam=[_fill(self.choice(preg["exam"]), pctx)],
                    plan=self.sample(preg["plan"], 2),
                )
            )
            return problems
        problems.append(
            Problem(
                key="pregnancy_weeks",
                kind="preventive",
                group="pregnancy",
                codes=[weeks_code],
                name=_fill(self.choice(sup["names_weeks"]), pctx),
                cc="Prenatal visit",
                hpi=hpi,
                exam=[_fill(self.choice(preg["exam"]), pctx)],
                plan=self.sample(preg["plan"], 1),
            )
        )
        for comp in plan["complications"]:
            names = comp.get("names")
            if "variants" in comp:
                variant = self.choice(comp["variants"])
                codes = [variant["code"]]
                names = variant["names"]
                meds = variant.get("meds", [])
            else:
                table = comp.get("by_trimester") or comp.get("by_trimester_first" if plan["first"] else "by_trimester_other")
                codes = [table[str(tri)]] if table else [comp["code"]]
                meds = []
            codes += comp.get("extra_codes", [])
            problems.append(
                Problem(
                    key=f"pregnancy_{comp['id']}",
                    kind="acute",
                    group=None,
                    codes=codes,
                    name=_fill(self.choice(names), pctx),
                    hpi=[_fill(t, pctx) for t in comp.get("hpi", ())],
                    results=[_fill(t, pctx) for t in comp.get("results", ())],
                    plan=[_fill(t, pctx) for t in comp.get("plan", ())] + [f"Continue {m}." for m in meds],
                )
            )
        # Complications first: they are the reason for the visit.
        return problems[1:] + problems[:1]

    # ------------------------------------------------------------ clinic note
    def header(self, key: str) -> str:
        return self.choice(self.tpl["headers"][key])

    def clinic_note(self, parts: dict[str, Any]) -> str:
        rng = self.rng
        tpl = self.tpl
        ctx = dict(parts["ctx"])
        problems: list[Problem] = parts["problems"]
        primary = problems[0]
        visit = parts["visit"]
        style = self.choice(tpl["header_styles"])
        bullet = self.choice(tpl["bullets"])
        sections: list[tuple[str, str]] = []

        chronic_names = [p.pmh_name for p in problems if p.kind == "chronic" and p.pmh_name and p.key != "tobacco"]
        pmh_items = chronic_names + parts["history"]
        cc = primary.cc or (f"Follow-up of {primary.pmh_name or _lower_first(primary.name)}" if primary.kind == "chronic" else primary.name)
        if visit == "annual":
            cc = self.choice(["Annual exam.", "Annual physical", "Wellness visit"])
        elif visit == "well_woman":
            cc = self.choice(["Well-woman exam", "Annual gynecologic exam"])
        elif visit == "chronic" and rng.random() < 0.5:
            cc = self.choice(["Follow-up of chronic problems.", "Follow-up", "Medication management", cc])
        ctx["cc_lower"] = _lower_first(cc.rstrip("."))
        ctx["primary"] = _lower_first(primary.name)
        reason_key = visit
        if visit == "injury" and primary.encounter == "D":
            reason_key = "injury_followup"
        ctx["reason"] = _fill(self.choice(tpl["reasons"][reason_key]), ctx)
        ctx["pmh_list"] = _join(pmh_items[:4])
        intro = _no_double_history(_fill(self.choice(tpl["intro"] if pmh_items else tpl["intro_no_pmh"]), ctx))

        hpi_sentences = [intro]
        for problem in problems:
            hpi_sentences += problem.hpi
        negs = self.sample(parts["negatives"], rng.choice([2, 3, 3, 4]))
        if negs:
            items = _join([self.choice(s["forms"]) for s in negs], "or")
            hpi_sentences.append(_fill(self.choice(tpl["denial_lead"]), {**ctx, "items": items}))
            self.not_coded["negated"] += [s["code"] for s in negs]
        hpi_text = self.paragraphs(hpi_sentences)

        sections.append(("cc", cc))
        sections.append(("hpi", hpi_text))
        sections.append(("pmh", self.listing(pmh_items, bullet) if pmh_items else self.choice(["None.", "Noncontributory.", "No significant past medical history."])))
        psh = parts["status"] + parts["surgeries"]
        sections.append(("psh", self.listing(psh, bullet) if psh else self.choice(["None.", "No prior surgeries."])))
        fam = parts["family"]
        sections.append(("fh", " ".join(f + "." for f in fam) if fam else self.choice(self.ctx_lists["family_negative"])))
        occupation = self.choice(self.ctx_lists["occupations"])
        social = [
            f"{ctx['Pt']} {occupation}.",
            parts["smoking"],
            self.choice(self.ctx_lists["alcohol"]),
            self.choice(self.ctx_lists["drugs"]),
        ]
        sections.append(("sh", " ".join(social)))
        meds = []
        for problem in problems:
            if problem.kind == "chronic":
                meds += [m["text"] for m in problem.meds]
        sections.append(("meds", self.listing([_cap(m) for m in meds], bullet) if meds else "None."))
        sections.append(("allergies", parts["allergies"]))
        sections.append(("ros", self.ros(parts)))
        sections.append(("pe", self.exam(parts, ctx)))
        results = [r for p in problems for r in p.results]
        sections.append(("results", "\n".join(results) if results else self.choice(tpl["no_results"])))
        sections += self.assessment_plan(parts, ctx)

        out = []
        for key, body in sections:
            out.append(_fill(style, {"h": self.header(key), "body": body}))
        provider = self.choice(tpl["providers"])
        clinic = self.choice(tpl["clinics"][parts["specialty"]])
        date = f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/{rng.randint(2024, 2026)}"
        out.append(_fill(self.choice(tpl["signature"]), {"provider": provider, "clinic": clinic, "date": date}))
        return "\n\n".join(out) + "\n"

    def paragraphs(self, sentences: list[str]) -> str:
        paras, current = [], []
        for sentence in sentences:
            current.append(sentence)
            if len(current) >= 2 and self.rng.random() < 0.4:
                paras.append(" ".join(current))
                current = []
        if current:
            paras.append(" ".join(current))
        return "\n\n".join(paras)

    def listing(self, items: list[str], bullet: str) -> str:
        if not bullet and self.rng.random() < 0.5:
            return _cap(", ".join(items)) + "."
        return "\n".join(f"{bullet or '- '}{_cap(item)}" for item in items)

    def ros(self, parts: dict[str, Any]) -> str:
        tpl = self.tpl
        by_system: dict[str, list[dict]] = {}
        for sym in parts["negatives"]:
            by_system.setdefault(sym["system"], []).append(sym)
        positives: dict[str, list[str]] = {}
        for key in sorted(parts["present"]):
            sym = self.symptoms.get(key)
            if sym:
                positives.setdefault(sym["system"], []).append(self.choice(sym["forms"]))
        lines = []
        systems = list(self.ctx_lists["ros_systems"])
        chosen = set(self.sample(systems, self.rng.randint(3, 7))) | set(positives)
        for system in systems:
            if system not in chosen:
                continue
            if system in positives:
                lines.append(_fill(self.choice(tpl["ros_pos_line"]), {"system": system, "items": _join(positives[system])}))
            elif by_system.get(system):
                negs = self.sample(by_system[system], self.rng.choice([1, 2, 2, 3]))
                self.not_coded["negated"] += [s["code"] for s in negs]
                items = _join([self.choice(s["forms"]) for s in negs], "or")
                lines.append(_fill(self.choice(tpl["ros_line"]), {"system": system, "items": items}))
        if self.rng.random() < 0.5:
            lines.append(self.choice(tpl["ros_all_neg"]))
        bullet = self.choice(["", "• ", "- "])
        return "\n".join(bullet + line for line in lines)

    def exam(self, parts: dict[str, Any], ctx: dict[str, Any]) -> str:
        tpl = self.tpl
        findings = [e for p in parts["problems"] for e in p.exam]
        lowered = " ".join(findings).lower()
        vit = f"BP {ctx['bp']}, HR {ctx['hr']}, RR {ctx['rr']}, Temp {ctx['temp']} F"
        if "spo2" not in lowered:  # an exam finding states the saturation itself
            vit += f", SpO2 {ctx['spo2']}% on room air"
        if "bmi" not in lowered:
            vit += f", BMI {ctx['bmi']}"
        lines = [f"{self.header('vitals')}: {vit}."]
        abnormal_systems = {EXAM_SYSTEM_OF.get(self.symptoms[k]["system"]) for k in parts["present"] if k in self.symptoms}
        for system, normals in tpl["normal_exam"].items():
            if system in abnormal_systems or any(word in lowered for word in tpl["exam_conflicts"].get(system, ())):
                continue
            if system not in ("General",) and self.rng.random() < 0.3:
                continue
            lines.append(f"{system}: {self.choice(normals)}")
        lines += findings
        return "\n".join(lines)

    def ap_entries(self, parts: dict[str, Any]) -> list[tuple[str, list[str]]]:
        """(assessment line, plan lines) per problem, best first."""
        tpl = self.tpl
        entries = []
        for problem in parts["problems"]:
            if problem.uncertain:
                dx = problem.uncertain
                label = _fill(self.choice(tpl["uncertain_forms"]), {"symptom": problem.name, "dx": dx})
            elif problem.kind == "symptom" and problem.key.startswith("symptom_") and self.rng.random() < 0.5:
                label = _fill(self.choice(tpl["symptom_only_forms"]), {"symptom": problem.name})
            else:
                label = problem.name.rstrip(".") + "."
            plan = list(problem.plan)
            if problem.kind == "chronic" and problem.meds and self.rng.random() < 0.7:
                plan.insert(0, f"Continue {problem.meds[0]['text']}.")
            elif problem.kind != "chronic" and problem.meds:
                plan.insert(0, f"Start {problem.meds[0]['text']}.")
            entries.append((label, plan))
        for item in parts["history"]:
            if self.rng.random() < 0.3:
                entries.append((_fill(self.choice(tpl["history_ap"]), {"item": _cap(item)}), []))
        if parts.get("immunization"):
            entries.append(("Health maintenance.", [parts["immunization"]]))
        return entries

    def assessment_plan(self, parts: dict[str, Any], ctx: dict[str, Any]) -> list[tuple[str, str]]:
        tpl = self.tpl
        entries = self.ap_entries(parts)
        style = self.choice(tpl["ap_styles"])
        closer = self.choice(tpl["closers"])
        if style == "separate":
            assessment = "\n".join(f"{i}. {label}" for i, (label, _) in enumerate(entries, 1))
            plan_lines = [line for _, plan in entries for line in plan] + [closer]
            return [("assessment", assessment), ("plan", "\n".join(f"- {line}" for line in plan_lines))]
        blocks = []
        for i, (label, plan) in enumerate(entries, 1):
            if style == "numbered":
                blocks.append("\n".join([f"{i}. {label}"] + [f"   - {line}" for line in plan]))
            elif style == "colon":
                blocks.append(f"{label.rstrip('.')}: {' '.join(plan)}" if plan else label)
            elif style == "hash":
                blocks.append("\n".join([f"# {label.rstrip('.')}"] + [f"- {line}" for line in plan]))
            else:  # aci
                lines = [label]
                if plan:
                    lines.append(f"• {self.choice(tpl['aci_labels']['treatment'])}: {' '.join(plan)}")
                blocks.append("\n".join(lines))
        body = "\n\n".join(blocks) + "\n\n" + closer
        return [("ap", body)]

    # ------------------------------------------------------------- case report
    def case_report(self, parts: dict[str, Any]) -> str:
        tpl = self.tpl
        ctx = dict(parts["ctx"])
        problems: list[Problem] = parts["problems"]
        primary = problems[0]
        chronic_names = [p.pmh_name for p in problems if p.kind == "chronic" and p.pmh_name and p.key != "tobacco"]
        pmh_items = chronic_names + parts["history"]
        cc = primary.cc or primary.name
        ctx["cc_lower"] = _lower_first(cc.rstrip("."))
        ctx["dur"] = self.choice(tpl["durations"])
        ctx["pmh_list"] = _join(pmh_items)
        settings = tpl["case_settings"].get(parts["specialty"], tpl["case_settings"]["default"])
        ctx["setting"] = self.choice(settings)
        routine = parts["visit"] in ("annual", "well_woman", "prenatal", "chronic")
        opener_key = ("case_openers_routine" if routine else "case_openers") + ("" if pmh_items else "_no_pmh")
        sentences = [_no_double_history(_fill(self.choice(tpl[opener_key]), ctx))]
        for problem in problems:
            sentences += problem.hpi
        if parts["status"]:
            sentences.append(f"Surgical history: {_join(parts['status'] + parts['surgeries'])}.")
        if parts["family"]:
            sentences.append(f"Family history: {'; '.join(_lower_first(f) for f in parts['family'])}.")
        sentences.append(parts["smoking"])
        negs = self.sample(parts["negatives"], self.rng.choice([2, 3]))
        if negs:
            sentences.append(f"{ctx['Pt']} denied {_join([self.choice(s['forms']) for s in negs], 'or')}.")
            self.not_coded["negated"] += [s["code"] for s in negs]
        meds = [m["text"] for p in problems if p.kind == "chronic" for m in p.meds]
        if meds:
            sentences.append(f"Usual treatment: {_join(meds)}.")
        allergies = parts["allergies"]
        if allergies not in self.ctx_lists["no_allergies"]:
            sentences.append(f"Allergies: {allergies}.")
        findings = [e for p in problems for e in p.exam]
        vitals = f"blood pressure {ctx['bp']} mmHg, heart rate {ctx['hr']} bpm, temperature {ctx['temp']} F"
        if "spo2" not in " ".join(findings).lower():
            vitals += f", oxygen saturation {ctx['spo2']}%"
        sentences.append(self.choice(tpl["case_exam_lead"]) + vitals + ".")
        sentences += findings
        results = [r for p in problems for r in p.results]
        if results:
            sentences.append(self.choice(tpl["case_results_lead"]) + " ".join(results))
        for problem in problems:
            if problem.uncertain:
                sentences.append(_cap(_fill(self.choice(tpl["case_uncertain"]), {"dx": problem.uncertain})))
        diagnosed = [_lower_first(p.name) for p in problems if not p.presenting]
        symptom_named = [_lower_first(p.name) for p in problems if p.presenting]
        if symptom_named:
            sentences.append(f"Presenting problems: {_join(symptom_named)}.")
        if diagnosed:
            sentences.append(_fill(self.choice(tpl["case_dx_lead"]), {"dx_list": _join(diagnosed)}))
        for problem in problems:
            sentences += problem.plan[:1]
        if parts.get("immunization"):
            sentences.append(parts["immunization"])
        sentences.append(self.choice(tpl["case_closers"]))
        return "\n".join(sentences) + "\n"

    # ------------------------------------------------------------------ typos
    def add_typos(self, problems: list[Problem]) -> None:
        """Swap two letters in a longer word of one or two history sentences (never in the assessment)."""
        sentences = [(p, i) for p in problems for i in range(len(p.hpi))]
        for problem, i in self.sample(sentences, self.rng.choice([1, 2])):
            words = list(re.finditer(r"\b[a-z]{7,}\b", problem.hpi[i]))
            if not words:
                continue
            match = self.choice(words)
            word = match.group(0)
            j = self.rng.randrange(1, len(word) - 2)
            typo = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
            problem.hpi[i] = problem.hpi[i][: match.start()] + typo + problem.hpi[i][match.end() :]


def generate_chart(seed: int, index: int, inventory: Inventory | None = None) -> Chart:
    """The ``index``-th chart of the corpus for ``seed`` (independent of how many are generated)."""
    rng = random.Random(f"synth:{seed}:{index}")
    return _ChartBuilder(inventory or load_inventory(), rng, seed, index).build()


def generate_charts(n: int, seed: int) -> list[Chart]:
    """Generate ``n`` synthetic charts; the same ``(n, seed)`` always gives the same charts.

    Chart ``i`` depends only on ``seed`` and ``i``, so a larger ``n`` extends a smaller one.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    inventory = load_inventory()
    return [generate_chart(seed, i, inventory) for i in range(n)]
