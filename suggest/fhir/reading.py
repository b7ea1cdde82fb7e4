"""Clinical notes from FHIR R4 resources.

Accepted (:func:`read_documents`): a ``DocumentReference``; a ``Bundle`` of any type but ``document`` holding
DocumentReferences (with, optionally, the ``Patient`` resources they point to and ``Condition`` resources coding
them); a ``document`` Bundle whose first entry is a ``Composition``, its sections' narratives read in order.

Mapping (FHIR element -> chart field):

============================================  =====================================================================
DocumentReference / Composition               chart
============================================  =====================================================================
``content[0].attachment.data`` / sections     ``text`` (``text/plain``, or ``text/html`` reduced to text)
``subject``                                   ``patient_id``: the identifier's value, else the reference
``context.encounter[0]`` / ``encounter``      ``encounter_id``: the identifier's value, else the reference
``author[0]``                                 ``provider``: its display, else its reference
``authenticator`` / ``attester`` (legal)      ``signed_by`` (display, else reference): the document's signature for
                                              the completeness check
``date`` (else ``context.period.start``)      ``document_date``
``type.coding`` (LOINC)                       ``document_type`` (:data:`LOINC_DOCUMENT_TYPES`)
``Patient.gender`` / ``birthDate``            the patient's sex and age at the document's date (age and sex edits)
``id`` (else ``masterIdentifier.value``)      the chart's id in files (``suggest data fhir``)
============================================  =====================================================================

Every problem raises :class:`FhirInputError` naming the FHIR path of the element (``DocumentReference.content[0]
.attachment.contentType``), as an ``OperationOutcome.issue.expression`` does.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from suggest.completeness import ChartForm
from suggest.errors import SuggestError
from suggest.fhir import ICD10CM_SYSTEM, LOINC_SYSTEM

#: The largest note accepted from an attachment, in bytes once decoded (a body of 1.5 MB holds 1 MB in base64).
MAX_NOTE_BYTES = 1_000_000
TEXT_TYPES = ("text/plain", "text/html")
#: LOINC document types -> the chart's document types (``suggest/resources/completeness.json``).
LOINC_DOCUMENT_TYPES = {
    "11506-3": "progress_note",        # Progress note
    "34108-1": "clinic_note",          # Outpatient note
    "34117-2": "history_and_physical", # History and physical note
    "11488-4": "consultation",         # Consult note
    "18842-5": "discharge_summary",    # Discharge summary
    "11504-8": "operative_note",       # Surgical operation note
    "34111-5": "emergency_note",       # Emergency department note
}
_DOCUMENT_STATUSES = ("current", "superseded")


class FhirInputError(SuggestError):
    """A FHIR input that cannot be read: ``expression`` is the FHIR path of the element, ``status`` the HTTP status
    it deserves (400 invalid, 413 too large, 415 an attachment type that is not text), ``code`` the
    OperationOutcome issue type."""

    def __init__(self, expression: str, message: str, *, status: int = 400, code: str = "invalid") -> None:
        super().__init__(f"{expression}: {message}" if expression else message)
        self.expression, self.message, self.status, self.code = expression, message, status, code


@dataclass
class FhirDocument:
    """One note read from FHIR, with what the resources said of it."""

    text: str
    path: str
    document_id: str | None = None
    subject: dict[str, Any] | None = None
    patient_id: str | None = None
    encounter_id: str | None = None
    provider: str | None = None
    signed_by: str | None = None
    document_date: dt.date | None = None
    document_type: str | None = None
    sex: str | None = None
    age_years: float | None = None
    codes: list[str] = field(default_factory=list)

    def chart_form(self) -> ChartForm:
        """What the document says besides its text, as the completeness check's form."""
        return ChartForm(patient_id=self.patient_id, encounter_id=self.encounter_id, provider=self.provider,
                         signed_by=self.signed_by, document_date=self.document_date, sex=self.sex,
                         age_years=self.age_years)


def read_documents(obj: Any) -> list[FhirDocument]:
    """The notes of a FHIR resource (parsed JSON): see the module docstring.

    Raises
    ------
    FhirInputError
        Not a resource accepted here, a resource that does not validate, a note that cannot be read.
    """
    if not isinstance(obj, dict):
        raise FhirInputError("", "expected a FHIR resource (a JSON object with a resourceType)")
    kind = obj.get("resourceType")
    if kind == "DocumentReference":
        return [_from_document_reference(obj, "DocumentReference", {})]
    if kind == "Bundle":
        return _from_bundle(obj)
    what = f"resourceType {kind!r}" if isinstance(kind, str) else "a JSON object without a resourceType"
    raise FhirInputError("resourceType" if kind is not None else "", f"{what} is not accepted here: send a "
                         "DocumentReference, a Bundle of them, or a document Bundle (Composition)")


def validated(obj: dict, kind: str, path: str):
    """``obj`` as the R4B model of ``kind``; a validation error names the first bad element's path."""
    from pydantic import ValidationError

    from fhir.resources.R4B import get_fhir_model_class

    model = get_fhir_model_class(kind)
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        location = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"] if p != "__root__")
        location = location.replace(".resource_type", ".resourceType")
        raise FhirInputError(path + location, _plain(error["msg"])) from None


def _plain(message: str) -> str:
    return message.replace("Value error, ", "").split("\n")[0][:300]


def _from_bundle(obj: dict) -> list[FhirDocument]:
    entries = obj.get("entry")
    if isinstance(entries, list) and entries:  # the shell here, each resource below by its own type
        shell = {**obj, "entry": [{k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e
                                  for e in entries]}
    else:
        shell = obj
    bundle = validated(shell, "Bundle", "Bundle")
    entries = entries or []
    resources: list[tuple[str, dict, str | None]] = []
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict):
            resources.append((f"Bundle.entry[{i}].resource", resource, entry.get("fullUrl")))
    patients = _patients(resources)
    if bundle.type == "document":
        if not resources or resources[0][1].get("resourceType") != "Composition":
            raise FhirInputError("Bundle.entry[0].resource", "a document Bundle starts with its Composition")
        path, composition, _url = resources[0]
        return [_from_composition(validated(composition, "Composition", path), path, patients, resources)]
    documents = [_from_document_reference(resource, path, patients)
                 for path, resource, _url in resources if resource.get("resourceType") == "DocumentReference"]
    if not documents:
        raise FhirInputError("Bundle.entry", "the Bundle holds no DocumentReference (nor is it a document Bundle)")
    _attach_conditions(documents, resources)
    return documents


def _patients(resources: list[tuple[str, dict, str | None]]) -> dict[str, Any]:
    """The Bundle's Patient resources by every name a reference may use (``Patient/id``, the full URL)."""
    found: dict[str, Any] = {}
    for path, resource, url in resources:
        if resource.get("resourceType") != "Patient":
            continue
        patient = validated(resource, "Patient", path)
        for name in (f"Patient/{patient.id}" if patient.id else None, url):
            if name:
                found[name] = patient
    return found


def _from_document_reference(raw: dict, path: str, patients: dict[str, Any]) -> FhirDocument:
    doc = validated(raw, "DocumentReference", path)
    for i, content in enumerate(raw.get("content") or []):  # the model decodes base64 leniently: check it strictly
        data = (content.get("attachment") or {}).get("data") if isinstance(content, dict) else None
        if isinstance(data, str):
            _base64(data, f"{path}.content[{i}].attachment.data")
    if doc.status not in _DOCUMENT_STATUSES:
        raise FhirInputError(f"{path}.status", f"status {doc.status!r}: only current (or superseded) documents are "
                             "coded")
    if not doc.content:
        raise FhirInputError(f"{path}.content", "no content: the note goes in content[0].attachment.data")
    text = _attachment_text(doc.content, f"{path}.content")
    patients = {**patients, **{f"#{c.id}": c for c in (doc.contained or []) if c.get_resource_type() == "Patient"}}
    when = doc.date.date() if doc.date else None
    encounter = None
    if doc.context is not None:
        if when is None and doc.context.period is not None and doc.context.period.start is not None:
            when = _as_date(doc.context.period.start)
        encounter = (doc.context.encounter or [None])[0]
    document = FhirDocument(
        text=text, path=path, document_id=doc.id or (doc.masterIdentifier.value if doc.masterIdentifier else None),
        subject=_reference_json(doc.subject), patient_id=_reference_name(doc.subject),
        encounter_id=_reference_name(encounter), provider=_person_name((doc.author or [None])[0]),
        signed_by=_person_name(doc.authenticator), document_date=when,
        document_type=_document_type(doc.type))
    _patient_facts(document, doc.subject, patients)
    return document


def _from_composition(composition, path: str, patients: dict[str, Any], resources) -> FhirDocument:
    if composition.status not in ("final", "amended", "corrected", "preliminary"):
        raise FhirInputError(f"{path}.status", f"status {composition.status!r}: an entered-in-error document is not "
                             "coded")
    parts: list[str] = []

    def walk(sections, where: str) -> None:
        for i, section in enumerate(sections or []):
            body = _html_text(section.text.div) if section.text is not None and section.text.div else ""
            if section.title or body:
                parts.append("\n".join(p for p in (section.title and section.title.upper(), body) if p))
            walk(section.section, f"{where}[{i}].section")

    walk(composition.section, f"{path}.section")
    text = "\n\n".join(parts).strip()
    if not text:
        raise FhirInputError(f"{path}.section", "the Composition's sections hold no narrative text")
    signer = next((a.party for a in composition.attester or [] if a.mode in ("legal", "official", "professional")
                   and a.party is not None), None)
    document = FhirDocument(
        text=text, path=path, document_id=composition.id or (composition.identifier.value if composition.identifier
                                                             else None),
        subject=_reference_json(composition.subject), patient_id=_reference_name(composition.subject),
        encounter_id=_reference_name(composition.encounter), provider=_person_name((composition.author or
                                                                                    [None])[0]),
        signed_by=_person_name(signer), document_date=_as_date(composition.date),
        document_type=_document_type(composition.type))
    _patient_facts(document, composition.subject, patients)
    _attach_conditions([document], resources)
    return document


def _attachment_text(contents, path: str) -> str:
    """The text of the first attachment that is text (``text/plain`` or ``text/html``)."""
    types = []
    for i, content in enumerate(contents):
        attachment = content.attachment if content is not None else None
        if attachment is None:
            raise FhirInputError(f"{path}[{i}].attachment", "no attachment: the note goes in attachment.data")
        mime, _sep, params = (attachment.contentType or "text/plain").partition(";")
        mime = mime.strip().lower()
        types.append(mime)
        if mime not in TEXT_TYPES:
            continue
        where = f"{path}[{i}].attachment"
        if attachment.data is None:
            if attachment.url:
                raise FhirInputError(f"{where}.url", "the note is not fetched from a URL: send it in attachment.data")
            raise FhirInputError(f"{where}.data", "no data: the note goes in attachment.data (base64)")
        raw = attachment.data  # decoded by the model, checked strictly by _from_document_reference
        if len(raw) > MAX_NOTE_BYTES:
            raise FhirInputError(f"{where}.data", f"the note is {len(raw):,} bytes, over the limit of "
                                 f"{MAX_NOTE_BYTES:,}", status=413, code="too-costly")
        charset = re.search(r"charset\s*=\s*\"?([\w.:-]+)", params, re.I)
        try:
            text = raw.decode(charset.group(1) if charset else "utf-8")
        except (LookupError, UnicodeDecodeError):
            raise FhirInputError(f"{where}.data", f"the note is not valid {charset.group(1) if charset else 'UTF-8'} "
                                 "text") from None
        text = _html_text(text) if mime == "text/html" else text
        if "\x00" in text:
            raise FhirInputError(f"{where}.data", "the note holds NUL characters")
        return text
    raise FhirInputError(f"{path}[0].attachment.contentType", f"no text attachment (found {', '.join(types)}): "
                         "send text/plain or text/html", status=415, code="not-supported")


def _base64(value: str, path: str) -> bytes:
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise FhirInputError(path, "not valid base64") from None


class _TextOfHtml(HTMLParser):
    """The text of an HTML fragment, a line break after each block element."""

    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "section",
              "pre", "blockquote", "dt", "dd"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _html_text(html: str) -> str:
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _reference_json(reference) -> dict[str, Any] | None:
    return reference.model_dump(mode="json", exclude_none=True) if reference is not None else None


def _reference_name(reference) -> str | None:
    """A reference as a chart field: its identifier's value, else the reference, else its display."""
    if reference is None:
        return None
    if reference.identifier is not None and reference.identifier.value:
        return str(reference.identifier.value)[:64]
    return (reference.reference or reference.display or None) and str(reference.reference or reference.display)[:200]


def _person_name(reference) -> str | None:
    """An author or signer as a chart field: the display (a name), else the reference or identifier."""
    if reference is not None and reference.display:
        return str(reference.display)[:200]
    return _reference_name(reference)


def _document_type(concept) -> str | None:
    for coding in (concept.coding or []) if concept is not None else []:
        if coding.system in (LOINC_SYSTEM, None) and coding.code in LOINC_DOCUMENT_TYPES:
            return LOINC_DOCUMENT_TYPES[coding.code]
    return None


def _as_date(value) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", value):
        return dt.date.fromisoformat(value[:10])
    return None


def _patient_facts(document: FhirDocument, subject, patients: dict[str, Any]) -> None:
    """The patient's sex and age (at the document's date, else today) when the subject's Patient is at hand."""
    patient = patients.get(subject.reference) if subject is not None and subject.reference else None
    if patient is None:
        return
    if patient.gender in ("male", "female"):
        document.sex = patient.gender
    birth = _as_date(patient.birthDate)
    if birth is not None:
        on = document.document_date or dt.date.today()
        years = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
        if 0 <= years <= 130:
            document.age_years = float(years)


def _attach_conditions(documents: list[FhirDocument], resources) -> None:
    """ICD-10-CM codes of the Bundle's Condition resources, onto the document of the same encounter (or the only
    document): what ``suggest data fhir`` reads as gold codes. Refuted and entered-in-error ones are left out."""
    from suggest.corpus import normalize_code

    for path, resource, _url in resources:
        if resource.get("resourceType") != "Condition":
            continue
        condition = validated(resource, "Condition", path)
        status = condition.verificationStatus.coding[0].code if condition.verificationStatus and \
            condition.verificationStatus.coding else None
        if status in ("refuted", "entered-in-error"):
            continue
        codes = [normalize_code(c.code) for c in (condition.code.coding or []) if condition.code is not None
                 and c.system == ICD10CM_SYSTEM and c.code]
        encounter = _reference_name(condition.encounter)
        owners = [d for d in documents if encounter and d.encounter_id == encounter] or \
            (documents if len(documents) == 1 else [])
        for document in owners:
            document.codes.extend(c for c in codes if c not in document.codes)
