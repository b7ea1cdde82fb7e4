"""FHIR resources the tests send."""

from __future__ import annotations

import base64
from typing import Any

NOTE = ("Date of service: 03/14/2026\nPatient: Jane Roe   DOB: 01/02/1960   MRN: 00123456\n\n"
        "HISTORY OF PRESENT ILLNESS\nFollow-up of diabetes and blood pressure.\n\n"
        "ASSESSMENT AND PLAN\nType 2 diabetes mellitus with diabetic nephropathy. Essential hypertension.\n")


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def document_reference(text: str = NOTE, **changes: Any) -> dict[str, Any]:
    """A current DocumentReference: a progress note, with subject, encounter, author, authenticator and date."""
    resource = {
        "resourceType": "DocumentReference", "id": "note-1", "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"}]},
        "subject": {"reference": "Patient/p1"}, "date": "2026-03-14T10:30:00Z",
        "author": [{"reference": "Practitioner/dr-roe", "display": "Dr Jane Roe"}],
        "authenticator": {"reference": "Practitioner/dr-roe", "display": "Dr Jane Roe"},
        "context": {"encounter": [{"reference": "Encounter/e1"}]},
        "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "data": b64(text)}}],
    }
    resource.update(changes)
    return resource


def patient(gender: str = "female", birth_date: str = "1960-01-02") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p1", "gender": gender, "birthDate": birth_date}


def document_bundle() -> dict[str, Any]:
    """A document Bundle: its Composition's sections (one nested) and the Patient."""
    div = '<div xmlns="http://www.w3.org/1999/xhtml">{}</div>'
    return {"resourceType": "Bundle", "type": "document", "timestamp": "2026-03-14T11:00:00Z",
            "identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"},
            "entry": [
                {"fullUrl": "urn:uuid:comp-1", "resource": {
                    "resourceType": "Composition", "id": "comp-1", "status": "final",
                    "type": {"coding": [{"system": "http://loinc.org", "code": "34117-2"}]},
                    "subject": {"reference": "Patient/p1"}, "encounter": {"reference": "Encounter/e7"},
                    "date": "2026-03-14", "author": [{"display": "Dr A. Osler"}], "title": "History and physical",
                    "attester": [{"mode": "legal", "party": {"display": "Dr A. Osler, MD"}}],
                    "section": [
                        {"title": "Chief complaint", "text": {"status": "generated", "div": div.format("Chest pain.")}},
                        {"title": "Assessment", "text": {"status": "generated", "div": div.format(
                            "<ul><li>Essential hypertension</li><li>Asthma &amp; allergies</li></ul>")},
                         "section": [{"title": "Plan", "text": {"status": "generated", "div": div.format(
                             "<p>Continue lisinopril.</p>")}}]},
                    ]}},
                {"fullUrl": "urn:uuid:p1", "resource": patient("male", "1950-06-30")},
            ]}
