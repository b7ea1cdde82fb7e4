"""HL7 FHIR R4 in and out, validated with ``fhir.resources``' R4B models (the nearest to R4 4.0.1 that it ships; its
default models are R5).

- :mod:`suggest.fhir.reading`: clinical notes from a ``DocumentReference`` (``text/plain`` or ``text/html``, base64
  ``data``), a ``Bundle`` of them, or a ``document`` Bundle whose ``Composition`` sections are read in order; the
  patient, encounter, author, authenticator, date and document type map onto the chart's fields.
- :mod:`suggest.fhir.writing`: suggestions as ``Condition`` resources (``provisional``) with their confidence and
  evidence as extensions and a ``Provenance`` naming the model; a coded chart as ``confirmed`` Conditions and, when
  the caller gives its references, a ``Claim``; ``OperationOutcome`` for errors; the ``CapabilityStatement``.

The R4 / R4B differences that matter here: none of the elements used differ between R4 and R4B for
DocumentReference, Condition, Claim, Bundle, Composition, Provenance and OperationOutcome. (R5, the library's
default, renamed ``DocumentReference.authenticator`` to ``attester`` and moved ``context.encounter`` to
``DocumentReference.context`` as a list of references; its models are never used here.)
"""

ICD10CM_SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC_SYSTEM = "http://loinc.org"
#: The base of this product's extensions (documented in the README).
EXTENSION_BASE = "https://icd10cm-suggest.github.io/fhir/StructureDefinition/"
FHIR_JSON = "application/fhir+json"
