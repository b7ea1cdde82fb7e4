"""Notes and chart fields read from FHIR R4 resources, and what is refused (naming the element's path)."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from fhir_support import NOTE, b64, document_bundle, document_reference, patient

from suggest.fhir.reading import MAX_NOTE_BYTES, FhirInputError, read_documents


def test_a_document_reference_maps_onto_the_chart_fields():
    (doc,) = read_documents(document_reference())
    assert doc.text == NOTE and doc.document_id == "note-1"
    assert (doc.patient_id, doc.encounter_id, doc.provider, doc.signed_by) == (
        "Patient/p1", "Encounter/e1", "Dr Jane Roe", "Dr Jane Roe")
    assert doc.document_date == dt.date(2026, 3, 14) and doc.document_type == "progress_note"
    assert doc.subject == {"reference": "Patient/p1"}


def test_html_is_reduced_to_text_and_a_subject_identifier_is_the_patient_id():
    html = "<html><body><h2>Assessment</h2><p>Type 2 diabetes &amp; <b>CKD</b> stage 3.</p><script>x()</script>"
    (doc,) = read_documents(document_reference(
        content=[{"attachment": {"contentType": "text/html", "data": b64(html)}}],
        subject={"identifier": {"system": "urn:mrn", "value": "00123456"}}))
    assert doc.text == "Assessment\n\nType 2 diabetes & CKD stage 3."
    assert doc.patient_id == "00123456"


def test_a_bundle_gives_each_document_its_patient_and_its_conditions_codes():
    second = document_reference("Assessment: asthma.", id="note-2", context={"encounter": [{"reference":
                                                                                         "Encounter/e2"}]})
    condition = {"resourceType": "Condition", "subject": {"reference": "Patient/p1"},
                 "encounter": {"reference": "Encounter/e2"},
                 "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "J45909"}]}}
    refuted = copy.deepcopy(condition)
    refuted["code"]["coding"][0]["code"] = "J18.9"
    refuted["verificationStatus"] = {"coding": [{"code": "refuted"}]}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": document_reference()}, {"resource": second}, {"fullUrl": "urn:uuid:p1", "resource": patient()},
        {"resource": condition}, {"resource": refuted}]}
    first, other = read_documents(bundle)
    assert first.codes == [] and other.codes == ["J45.909"]
    assert (first.sex, first.age_years) == ("female", 66.0)  # born 1960-01-02, note of 2026-03-14


def test_a_document_bundle_reads_the_compositions_sections_in_order():
    (doc,) = read_documents(document_bundle())
    assert doc.text == ("CHIEF COMPLAINT\nChest pain.\n\nASSESSMENT\nEssential hypertension\n\nAsthma & allergies"
                        "\n\nPLAN\nContinue lisinopril.")
    assert (doc.signed_by, doc.document_type, doc.encounter_id) == ("Dr A. Osler, MD", "history_and_physical",
                                                                    "Encounter/e7")
    assert (doc.sex, doc.age_years) == ("male", 75.0)


def _without(resource: dict, *path) -> dict:
    resource = copy.deepcopy(resource)
    target = resource
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return resource


INVALID = {
    "not a resource": ([1, 2], 400, ""),
    "another resource type": ({"resourceType": "Patient"}, 400, "resourceType"),
    "no resourceType": ({"status": "current"}, 400, ""),
    "no content": (_without(document_reference(), "content"), 400, "DocumentReference.content"),
    "empty content": (document_reference(content=[]), 400, "DocumentReference.content"),
    "no status": (_without(document_reference(), "status"), 400, "DocumentReference.status"),
    "entered in error": (document_reference(status="entered-in-error"), 400, "DocumentReference.status"),
    "bad base64": (document_reference(content=[{"attachment": {"contentType": "text/plain", "data": "@@@="}}]), 400,
                   "DocumentReference.content[0].attachment.data"),
    "no data": (document_reference(content=[{"attachment": {"contentType": "text/plain"}}]), 400,
                "DocumentReference.content[0].attachment.data"),
    "a URL only": (document_reference(content=[{"attachment": {"contentType": "text/plain", "url": "http://x/1"}}]),
                   400, "DocumentReference.content[0].attachment.url"),
    "a PDF": (document_reference(content=[{"attachment": {"contentType": "application/pdf", "data": b64("%PDF")}}]),
              415, "DocumentReference.content[0].attachment.contentType"),
    "not UTF-8": (document_reference(content=[{"attachment": {"contentType": "text/plain",
                                                               "data": "//79"}}]), 400,
                  "DocumentReference.content[0].attachment.data"),
    "a bad date": (document_reference(date="14/03/2026"), 400, "DocumentReference.date"),
    "an unknown element": (document_reference(note="x"), 400, "DocumentReference.note"),
    "a wrong type": (document_reference(subject="Patient/p1"), 400, "DocumentReference.subject"),
    "an empty bundle": ({"resourceType": "Bundle", "type": "collection"}, 400, "Bundle.entry"),
    "a bundle without documents": ({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": patient()}]}, 400, "Bundle.entry"),
    "a bad entry": ({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": document_reference(status="bogus")}]}, 400, "Bundle.entry[0].resource.status"),
    "entries that are not a list": ({"resourceType": "Bundle", "type": "collection", "entry": True}, 400,
                                    "Bundle.entry"),
    "content without an attachment": (document_reference(content=[{"attachment": None}]), 400,
                                      "DocumentReference.content[0].attachment"),
    "a document bundle without a composition": ({"resourceType": "Bundle", "type": "document", "entry": [
        {"resource": document_reference()}]}, 400, "Bundle.entry[0].resource"),
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_inputs_are_refused_naming_the_element(name):
    resource, status, expression = INVALID[name]
    with pytest.raises(FhirInputError) as caught:
        read_documents(resource)
    assert (caught.value.status, caught.value.expression) == (status, expression)
    assert caught.value.message


def test_a_note_over_the_limit_is_too_large():
    with pytest.raises(FhirInputError) as caught:
        read_documents(document_reference("x" * (MAX_NOTE_BYTES + 1)))
    assert caught.value.status == 413 and caught.value.code == "too-costly"
