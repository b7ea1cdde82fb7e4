"""FHIR R4 resources out: suggestions, coded charts, claims, errors and the server's capabilities.

Suggestions (:func:`suggestion_bundle`): a ``collection`` Bundle holding, per document, one ``Condition`` per
suggested code, best first (``verificationStatus`` ``provisional``; ``code.coding`` in
``http://hl7.org/fhir/sid/icd-10-cm`` with the code set's display; ``subject`` and ``encounter`` from the document;
``evidence.detail`` the DocumentReference when it has an id), a ``Provenance`` naming the model, its version and the
code-set release, and an ``OperationOutcome`` of the chart's completeness findings and the engine's warnings.

Extensions on each suggested Condition (base :data:`suggest.fhir.EXTENSION_BASE`):

=====================  ==================  =====================================================================
extension              value               meaning
=====================  ==================  =====================================================================
``suggestion-confidence``  valueDecimal    calibrated probability that the code belongs on the chart
``suggestion-selected``    valueBoolean    the engine selects it (confidence at or over the model's threshold)
``suggestion-rank``        valueInteger    1 for the best suggestion
``suggestion-evidence``    (complex)       one per evidence span: ``start``, ``end`` (valueInteger: character
                                           offsets into the note as read, end exclusive), ``section``
                                           (valueString), ``assertion`` (valueString, comma-separated flags)
``suggestion-rule``        valueString     what a coding rule did to the suggestion, and why
=====================  ==================  =====================================================================

A coded chart (:func:`coded_bundle`) is the same without extensions, ``confirmed``; :func:`claim` adds a ``Claim``
whose ``diagnosis`` lists the codes in order (``sequence``, ``diagnosisCodeableConcept``).

Every resource is validated with the R4B models before it is returned.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from suggest.fhir import EXTENSION_BASE, ICD10CM_SYSTEM
from suggest.fhir.reading import FhirDocument

VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ISSUE_SEVERITY = {"error": "error", "warning": "warning", "info": "information"}
#: The references a Claim needs from its caller (R4: patient, provider, priority and insurance are required).
CLAIM_PARAMETERS = ("patient", "provider", "insurance", "priority")
PRIORITIES = ("stat", "normal", "deferred")


@dataclass(frozen=True)
class ModelDescription:
    """The model behind the suggestions, for the Provenance."""

    name: str
    version: str
    codeset_release: str


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _validated(resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` once its R4B model accepts it (a failure here is a bug, not bad input)."""
    from fhir.resources.R4B import get_fhir_model_class

    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


def _ext(name: str, **value: Any) -> dict[str, Any]:
    return {"url": EXTENSION_BASE + name, **value}


def _coding(code: str, display: str | None) -> dict[str, Any]:
    coding = {"system": ICD10CM_SYSTEM, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding], **({"text": display} if display else {})}


def _status(code: str) -> dict[str, Any]:
    return {"coding": [{"system": VERIFICATION, "code": code}]}


def _condition(code: str, display: str | None, status: str, document: FhirDocument | None,
               subject: dict[str, Any] | None, encounter: dict[str, Any] | None) -> dict[str, Any]:
    condition: dict[str, Any] = {
        "resourceType": "Condition",
        "verificationStatus": _status(status),
        "category": [{"coding": [{"system": CATEGORY, "code": "encounter-diagnosis"}]}],
        "code": _coding(code, display),
        "subject": subject,
    }
    if encounter:
        condition["encounter"] = encounter
    if document is not None and document.document_id:
        condition["evidence"] = [{"detail": [{"reference": f"DocumentReference/{document.document_id}"}]}]
    return condition


def suggestion_conditions(document: FhirDocument, result) -> list[dict[str, Any]]:
    """One ``provisional`` Condition per suggestion of ``result`` (a ``SuggestResult``), best first."""
    if not document.subject:
        raise ValueError("a Condition needs the document's subject")
    encounter = {"reference": document.encounter_id} if document.encounter_id and "/" in document.encounter_id \
        else None
    conditions = []
    for rank, suggestion in enumerate(result.suggestions, start=1):
        condition = _condition(suggestion.code, suggestion.description, "provisional", document, document.subject,
                               encounter)
        extensions = [_ext("suggestion-confidence", valueDecimal=round(float(suggestion.confidence), 4)),
                      _ext("suggestion-selected", valueBoolean=bool(suggestion.selected)),
                      _ext("suggestion-rank", valueInteger=rank)]
        for evidence in suggestion.evidence:
            flags = ",".join(name for name, on in evidence.assertion.items() if on)
            parts = [{"url": "start", "valueInteger": evidence.start}, {"url": "end", "valueInteger": evidence.end}]
            if evidence.section:
                parts.append({"url": "section", "valueString": evidence.section})
            if flags:
                parts.append({"url": "assertion", "valueString": flags})
            extensions.append(_ext("suggestion-evidence", extension=parts))
        for rule in suggestion.rules:
            extensions.append(_ext("suggestion-rule", valueString=f"{rule['rule']} ({rule['action']}): {rule['why']}"))
        condition["extension"] = extensions
        conditions.append(condition)
    return conditions


def operation_outcome(issues: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """An OperationOutcome of ``issues`` (``severity``, ``code``, ``diagnostics``, ``expression``); an empty list
    gives the single informational issue R4 requires. (Validated with the Bundle or answer that holds it.)"""
    issues = list(issues) or [{"severity": "information", "code": "informational", "diagnostics": "no issues"}]
    return {"resourceType": "OperationOutcome", "issue": issues}


def error_outcome(message: str, *, code: str = "invalid", expression: str | None = None) -> dict[str, Any]:
    """The OperationOutcome of a refused request."""
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": message}
    if expression:
        issue["expression"] = [expression]
    return _validated(operation_outcome([issue]))


def findings_outcome(findings: Sequence[Any], warnings: Sequence[str]) -> dict[str, Any]:
    """A chart's completeness findings (``suggest.completeness.Finding``) and the engine's warnings as issues."""
    issues = [{"severity": ISSUE_SEVERITY.get(f.severity, "information"),
               "code": "incomplete" if not f.code else "business-rule",
               "details": {"coding": [{"system": EXTENSION_BASE + "finding", "code": f.rule}]},
               "diagnostics": f.message, **({"expression": [f"Condition.code.coding.where(code='{f.code}')"]}
                                            if f.code else {})} for f in findings]
    issues += [{"severity": "warning", "code": "informational", "diagnostics": w} for w in warnings]
    return operation_outcome(issues)


def provenance(targets: Sequence[str], model: ModelDescription, document: FhirDocument | None) -> dict[str, Any]:
    """The Provenance of suggestions: the model, its version and the code-set release, and the source document."""
    resource: dict[str, Any] = {
        "resourceType": "Provenance",
        "target": [{"reference": t} for t in targets] or [{"display": "no suggestions"}],
        "recorded": _now(),
        "agent": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                        "code": "assembler"}]},
                   "who": {"identifier": {"system": EXTENSION_BASE + "model", "value": f"{model.name}@{model.version}"},
                           "display": f"icd10cm-suggest model {model.name} version {model.version} "
                                      f"({model.codeset_release})"}}],
    }
    if document is not None and document.document_id:
        resource["entity"] = [{"role": "source", "what": {"reference": f"DocumentReference/{document.document_id}"}}]
    return resource


def suggestion_bundle(items: Sequence[tuple[FhirDocument, Any, Sequence[Any]]],
                      model: ModelDescription) -> dict[str, Any]:
    """The suggestions of each ``(document, SuggestResult, findings)`` as a ``collection`` Bundle (see the module
    docstring)."""
    entries: list[dict[str, Any]] = []
    for document, result, findings in items:
        urls = []
        for condition in suggestion_conditions(document, result):
            urls.append(_urn())
            entries.append({"fullUrl": urls[-1], "resource": condition})
        entries.append({"fullUrl": _urn(), "resource": provenance(urls, model, document)})
        entries.append({"fullUrl": _urn(), "resource": findings_outcome(findings, result.warnings)})
    return _validated({"resourceType": "Bundle", "type": "collection", "timestamp": _now(), "entry": entries})


def patient_reference(patient_id: str) -> dict[str, Any]:
    """A stored chart's patient as a Reference: ``Patient/x`` as a literal reference, anything else (an MRN) as a
    logical one by identifier."""
    if patient_id.startswith("Patient/") and len(patient_id) > len("Patient/"):
        return {"reference": patient_id}
    return {"identifier": {"value": patient_id}}


def coded_bundle(codes: Sequence[tuple[str, str | None]], patient_id: str, encounter_id: str | None = None,
                 claim_resource: dict[str, Any] | None = None) -> dict[str, Any]:
    """A coded chart's codes (``(code, display)``, in order) as ``confirmed`` Conditions, with ``claim_resource``
    after them when given."""
    subject = patient_reference(patient_id)
    encounter = {"reference": encounter_id} if encounter_id and encounter_id.startswith("Encounter/") else None
    entries = [{"fullUrl": _urn(), "resource": _condition(code, display, "confirmed", None, subject, encounter)}
               for code, display in codes]
    if claim_resource is not None:
        entries.append({"fullUrl": _urn(), "resource": claim_resource})
    return _validated({"resourceType": "Bundle", "type": "collection", "timestamp": _now(), "entry": entries})


def claim(codes: Sequence[tuple[str, str | None]], references: dict[str, str]) -> dict[str, Any]:
    """A professional ``Claim`` for the codes (validated with the Bundle :func:`coded_bundle` puts it in): ``references`` gives ``patient``, ``provider`` and ``insurance``
    (references such as ``Patient/1``, ``Practitioner/2``, ``Coverage/3``) and ``priority`` (stat, normal, deferred).

    Raises ValueError naming what is missing or wrong."""
    missing = [name for name in CLAIM_PARAMETERS if not references.get(name)]
    if missing:
        raise ValueError(f"a Claim needs {', '.join(missing)} (R4 requires patient, provider, priority and "
                         f"insurance): give them as query parameters or in a Parameters body")
    if references["priority"] not in PRIORITIES:
        raise ValueError(f"priority {references['priority']!r}: one of {', '.join(PRIORITIES)}")
    if not codes:
        raise ValueError("the chart has no codes to claim")
    return {
        "resourceType": "Claim",
        "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
        "use": "claim",
        "patient": {"reference": references["patient"]},
        "created": _now(),
        "provider": {"reference": references["provider"]},
        "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority",
                                 "code": references["priority"]}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": references["insurance"]}}],
        "diagnosis": [{"sequence": i, "diagnosisCodeableConcept": _coding(code, display)}
                      for i, (code, display) in enumerate(codes, start=1)],
    }


def operation_definitions() -> dict[str, dict[str, Any]]:
    """The service's FHIR operations by id, as OperationDefinition resources (``suggest/resources/fhir_operations.json``)."""
    import json
    from importlib.resources import files

    data = json.loads(files("suggest.resources").joinpath("fhir_operations.json").read_text(encoding="utf-8"))
    return {operation["id"]: operation for operation in data["operations"]}


def capability_statement(base_url: str, codeset_release: str) -> dict[str, Any]:
    """What the FHIR endpoints support, as an R4 CapabilityStatement."""
    operations = operation_definitions().values()

    def listed(items) -> list[dict[str, Any]]:
        return [{"name": o["code"], "definition": o["url"], "documentation": o["description"]} for o in items]

    return _validated({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": _now(),
        "kind": "instance",
        "software": {"name": "icd10cm-suggest"},
        "implementation": {"description": f"Computer-assisted ICD-10-CM coding ({codeset_release})", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "documentation": "Bearer token authentication (suggest tokens create); errors are OperationOutcome.",
            "security": {"service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                                  "code": "OAuth"}], "text": "Bearer token"}]},
            "resource": [{"type": "DocumentReference",
                          "operation": listed(o for o in operations if "DocumentReference" in o.get("resource", []))},
                         {"type": "OperationDefinition", "interaction": [{"code": "read"}]}],
            "operation": listed(o for o in operations if o.get("system")),
        }],
    })
