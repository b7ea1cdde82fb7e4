"""FHIR resources out: every one validates with the R4B models, and carries what the product promises."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir_support import document_reference

from suggest.fhir import EXTENSION_BASE, ICD10CM_SYSTEM
from suggest.fhir.reading import read_documents
from suggest.fhir.writing import ModelDescription, capability_statement, claim, coded_bundle, suggestion_bundle


def _extension(resource: dict, name: str):
    return next(e for e in resource["extension"] if e["url"] == EXTENSION_BASE + name)


def test_suggestions_become_provisional_conditions_with_confidence_evidence_and_provenance(small_model):
    (document,) = read_documents(document_reference())
    result = small_model.suggest(document.text, top_k=5)
    bundle = suggestion_bundle([(document, result, [])], ModelDescription("test-suggester", "3", "FY2026"))
    Bundle.model_validate(bundle)
    resources = [e["resource"] for e in bundle["entry"]]
    conditions = [r for r in resources if r["resourceType"] == "Condition"]
    assert [c["code"]["coding"][0]["code"] for c in conditions] == [s.code for s in result.suggestions]
    first, suggestion = conditions[0], result.suggestions[0]
    assert first["code"]["coding"][0]["system"] == ICD10CM_SYSTEM
    assert first["code"]["coding"][0]["display"] == suggestion.description
    assert first["verificationStatus"]["coding"][0]["code"] == "provisional"
    assert first["subject"] == {"reference": "Patient/p1"} and first["encounter"] == {"reference": "Encounter/e1"}
    assert _extension(first, "suggestion-confidence")["valueDecimal"] == round(suggestion.confidence, 4)
    assert _extension(first, "suggestion-rank")["valueInteger"] == 1
    evidence = _extension(first, "suggestion-evidence")["extension"]
    start = next(e["valueInteger"] for e in evidence if e["url"] == "start")
    end = next(e["valueInteger"] for e in evidence if e["url"] == "end")
    assert document.text[start:end] == suggestion.evidence[0].text
    provenance = next(r for r in resources if r["resourceType"] == "Provenance")
    assert provenance["agent"][0]["who"]["identifier"]["value"] == "test-suggester@3"
    assert len(provenance["target"]) == len(conditions)


def test_a_coded_chart_exports_confirmed_conditions_and_a_claim_only_with_its_references():
    codes = [("E11.21", "Type 2 diabetes mellitus with diabetic nephropathy"), ("I10", None)]
    references = {"patient": "Patient/p1", "provider": "Practitioner/dr-roe", "insurance": "Coverage/c1",
                  "priority": "normal"}
    resource = claim(codes, references)
    bundle = coded_bundle(codes, "00123456", "Encounter/e1", resource)
    Bundle.model_validate(bundle)
    conditions = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Condition"]
    assert {c["verificationStatus"]["coding"][0]["code"] for c in conditions} == {"confirmed"}
    assert conditions[0]["subject"] == {"identifier": {"value": "00123456"}}
    assert [(d["sequence"], d["diagnosisCodeableConcept"]["coding"][0]["code"]) for d in resource["diagnosis"]] == [
        (1, "E11.21"), (2, "I10")]
    with pytest.raises(ValueError, match="a Claim needs insurance, priority"):
        claim(codes, {"patient": "Patient/p1", "provider": "Practitioner/1"})
    with pytest.raises(ValueError, match="priority 'urgent'"):
        claim(codes, {**references, "priority": "urgent"})


def test_the_capability_statement_and_the_operation_definitions_validate():
    from fhir.resources.R4B.operationdefinition import OperationDefinition

    from suggest.fhir.writing import operation_definitions

    statement = capability_statement("http://localhost:8000/fhir/r4", "ICD-10-CM FY2026")
    CapabilityStatement.model_validate(statement)
    assert statement["fhirVersion"] == "4.0.1"
    assert [o["name"] for o in statement["rest"][0]["resource"][0]["operation"]] == ["suggest", "extract"]
    assert [o["name"] for o in statement["rest"][0]["operation"]] == ["export", "claim"]
    definitions = operation_definitions()
    for identifier, definition in definitions.items():
        OperationDefinition.model_validate(definition)
        assert definition["url"].endswith("/" + identifier)
    listed = [o["definition"] for o in statement["rest"][0]["resource"][0]["operation"] + statement["rest"][0]["operation"]]
    assert sorted(listed) == sorted(d["url"] for d in definitions.values())
