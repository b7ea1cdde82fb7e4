"""Request bodies and query strings of the JSON API, validated with pydantic v2.

Each model forbids unknown fields so that a typo (``"txt"``) is a 400 naming the field rather than silently ignored.
Their JSON schemas are published in ``/openapi.json``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

MAX_TEXT = 200_000
"""Longest chart text accepted, in characters (the 1 MB body limit applies first)."""
MAX_ID = 2**31 - 1
"""Largest chart id (PostgreSQL's integer; SQLite's is wider): a larger one names no chart."""
MAX_PAGE = 1_000_000
"""Largest page number of a listing."""
MAX_CODES = 200
"""Most codes a chart holds."""
CODE_PATTERN = r"^[A-Za-z][0-9][0-9A-Za-z](\.?[0-9A-Za-z]{1,4})?$"
"""An ICD-10-CM code as a client may spell it: either case, with or without the dot (``e1122``, ``E11.22``)."""
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]([ -~]{0,198}[!-~])?$"
"""An ``Idempotency-Key`` header: 1 to 200 printable ASCII characters, no space at either end (HTTP drops those)."""


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters are not accepted")
    return value


# Stated as "not: pattern" rather than a pattern that matches the whole string: a generator reads the latter as a
# regular expression to build every long string from, which makes boundary lengths very slow to draw.
NoNul = Annotated[str, AfterValidator(_no_nul), Field(json_schema_extra={"not": {"pattern": r"\x00"}})]
"""A string without NUL characters (PostgreSQL cannot store one; SQLite would)."""
Code = Annotated[str, Field(pattern=CODE_PATTERN)]


def _whole_number_as_int(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


Integer = Annotated[int, BeforeValidator(_whole_number_as_int)]
"""A JSON integer, which JSON Schema lets a client spell ``10.0`` too."""


def _iso_date_text(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


QueryDate = Annotated[dt.date, BeforeValidator(_iso_date_text)]
"""A date in a query string: YYYY-MM-DD only (pydantic would also read ``0`` as 1970-01-01)."""


def _known_document_type(value: str | None) -> str | None:
    from suggest.completeness import default_rules

    known = default_rules().document_types
    if value is not None and value not in known:
        raise ValueError(f"unknown document_type; known: {', '.join(sorted(known))}")
    return value


def _document_type_enum(schema: dict[str, Any]) -> None:
    from suggest.completeness import default_rules

    schema["enum"] = [*sorted(default_rules().document_types), None]


DocumentType = Annotated[NoNul | None, AfterValidator(_known_document_type),
                         Field(description="A document type the completeness checks know (see /v1/me).",
                               json_schema_extra=_document_type_enum)]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


NotBlank = Annotated[NoNul, AfterValidator(_not_blank), Field(json_schema_extra={"pattern": r"\S"})]
"""A string with at least one character that is not white space."""

EARLIEST_DOCUMENT_DATE = dt.date(1900, 1, 1)
"""The earliest document date a chart may carry: an earlier one is a typing error."""


def _plausible_document_date(value: dt.date | None) -> dt.date | None:
    # A day of slack: the coder's day may be tomorrow in UTC.
    latest = dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=1)
    if value is not None and not EARLIEST_DOCUMENT_DATE <= value <= latest:
        raise ValueError(f"a document date between {EARLIEST_DOCUMENT_DATE.isoformat()} and today, not "
                         f"{value.isoformat()}")
    return value


DocumentDate = Annotated[dt.date | None, AfterValidator(_plausible_document_date),
                         Field(description="The date of service (YYYY-MM-DD): not in the future, not before 1900.")]


def _absent() -> None:
    return None


def optional_not_null(**constraints: Any) -> Any:
    """A field that may be left out but not sent as null (a default factory keeps ``null`` out of the schema)."""
    return Field(default_factory=_absent, **constraints)


class _Body(BaseModel):
    """A JSON body: unknown fields refused, and JSON types taken as they are (``"10"`` is not a number, ``0`` is
    not a date)."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=False)


def _untitled_properties(schema: dict[str, Any]) -> None:
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)


class _Query(BaseModel):
    """A query string: every value arrives as text, so numbers and flags are read from it. A parameter left out is
    None, and no parameter can be sent as null (so the schemas say neither); the schema of each one is a parameter's
    schema in /openapi.json."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, json_schema_extra=_untitled_properties)


Setting = Literal["outpatient", "inpatient", "mentions"]
_SETTING_DOC = ("Care setting whose coding rules select the codes: outpatient (Section IV), inpatient (uncertain "
                "diagnoses kept) or mentions (every coded mention). Default: the model's (recorded in the response).")


_SPECIALTY_DOC = "One of GET /v1/specialties (the specialties the served model knows); 400 otherwise."
_SIGNED_BY_DOC = ("Who authenticated the document (a FHIR DocumentReference's authenticator): satisfies the signature "
                  "check when the text holds no signature line.")


class PatientInfo(_Body):
    """What the caller knows of the patient, for the age and sex edits (else read from the text)."""

    sex: Literal["female", "male"] | None = Field(None, description="The patient's sex.")
    age_years: float | None = Field(None, ge=0, le=130, description="The patient's age in years.")


class SuggestRequest(_Body):
    text: NoNul = Field(max_length=MAX_TEXT, description="Chart text to code.")
    top_k: Integer = Field(10, ge=1, le=100, description="Number of suggestions to return.")
    min_confidence: float = Field(0.0, ge=0.0, le=1.0, description="Drop suggestions below this confidence.")
    specialty: NoNul | None = Field(None, max_length=64, description="Optional specialty hint: " + _SPECIALTY_DOC)
    setting: Setting | None = Field(None, description=_SETTING_DOC)
    patient: PatientInfo | None = Field(None, description="The patient's sex and age, when known.")


class BatchChart(_Body):
    id: NoNul | None = Field(None, max_length=128)
    text: NoNul = Field(max_length=MAX_TEXT)
    specialty: NoNul | None = Field(None, max_length=64, description=_SPECIALTY_DOC)
    patient: PatientInfo | None = None


class BatchSuggestRequest(_Body):
    charts: list[BatchChart] = Field(min_length=1, max_length=100)
    top_k: Integer = Field(10, ge=1, le=100)
    min_confidence: float = Field(0.0, ge=0.0, le=1.0)
    setting: Setting | None = Field(None, description=_SETTING_DOC)


Status = Literal["new", "in_progress", "on_hold", "coded", "completed"]
"""Where a chart is in the workflow: new (waiting in the queue), in_progress (taken by its assignee), on_hold (waiting
for a provider's answer), coded (codes assigned, to be reviewed), completed (filed)."""
Priority = Literal["low", "normal", "high", "urgent"]
_PRIORITY_DOC = "The queue takes urgent charts first, then high, normal and low."
_DUE_DOC = "The day the chart must be coded by (YYYY-MM-DD); the queue takes earlier due dates first."
Version = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(_whole_number_as_int)]

_CONFIRM_DOC = ("Save although the code edits of the chart's codes hold an error (the findings of POST /v1/charts/check "
                "with severity error that concern codes); the override is recorded in the audit log. Without it such a "
                "save is a 409 listing the findings.")


class ChartCreate(_Body):
    patient_id: NotBlank = Field(min_length=1, max_length=64)
    encounter_id: NoNul | None = Field(None, max_length=64)
    text: NoNul = Field(min_length=1, max_length=MAX_TEXT)
    codes: list[Code] = Field(max_length=MAX_CODES, description="ICD-10-CM codes of the code set's release; "
                              "normalised (upper case, dotted).")
    provider: NoNul | None = Field(None, max_length=200)
    signed_by: NoNul | None = Field(None, max_length=200, description=_SIGNED_BY_DOC)
    document_date: DocumentDate = None
    specialty: NoNul | None = Field(None, max_length=64, description=_SPECIALTY_DOC)
    document_type: DocumentType = None
    priority: Priority = Field("normal", description=_PRIORITY_DOC)
    due_date: dt.date | None = Field(None, description=_DUE_DOC)
    confirm_findings: bool = Field(False, description=_CONFIRM_DOC)


class ChartPatch(_Body):
    """Only the fields given change; the chart's codes, patient and text can be replaced but not erased."""

    codes: list[Code] = optional_not_null(max_length=MAX_CODES)
    patient_id: NotBlank = optional_not_null(min_length=1, max_length=64)
    encounter_id: NoNul | None = Field(None, max_length=64)
    text: NoNul = optional_not_null(min_length=1, max_length=MAX_TEXT)
    provider: NoNul | None = Field(None, max_length=200)
    signed_by: NoNul | None = Field(None, max_length=200, description=_SIGNED_BY_DOC)
    document_date: DocumentDate = None
    specialty: NoNul | None = Field(None, max_length=64, description=_SPECIALTY_DOC)
    document_type: DocumentType = None
    priority: Priority = optional_not_null(description=_PRIORITY_DOC)
    due_date: dt.date | None = Field(None, description=_DUE_DOC)
    confirm_findings: bool = Field(False, description=_CONFIRM_DOC)
    # The bounds go before the validator: after it, pydantic leaves them out of the JSON schema of a nullable field.
    version: Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(_whole_number_as_int)] | None = Field(
        None, description="If given, the update applies only to this version (409 otherwise).")


class FeedbackItem(_Body):
    code: Code
    action: Literal["accepted", "rejected", "added"]
    confidence: float | None = Field(None, ge=0.0, le=1.0)


class ShownItem(_Body):
    code: Code
    confidence: float = Field(ge=0.0, le=1.0)
    selected: bool = Field(description="Whether the model selected it (confidence at or above its threshold).")


class FeedbackRequest(_Body):
    items: list[FeedbackItem] = Field(min_length=1, max_length=200)
    model_version: NoNul | None = Field(None, max_length=64)
    shown: list[ShownItem] | None = Field(None, max_length=100, description=(
        "The suggestions the coder was shown, best first, as the API gave them: recorded with the feedback, they are "
        "what the live precision, recall and calibration judge against the chart's final codes."))


class CheckRequest(_Body):
    """The text to check, or a saved chart (``chart_id``) whose text, codes and document type stand in for those
    not given."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["text"]}, {"required": ["chart_id"]}]})

    text: NoNul = optional_not_null(max_length=MAX_TEXT)
    codes: list[Code] = Field(default_factory=list, max_length=MAX_CODES)
    document_type: DocumentType = None
    chart_id: Integer = optional_not_null(ge=1, le=MAX_ID)
    patient_id: NoNul | None = Field(None, max_length=64, description="The form's patient ID: satisfies the record "
                                     "number check.")
    encounter_id: NoNul | None = Field(None, max_length=64, description="The form's encounter.")
    provider: NoNul | None = Field(None, max_length=200, description="The form's provider (the signature check "
                                   "still reads the text: the document must be signed).")
    signed_by: NoNul | None = Field(None, max_length=200, description=_SIGNED_BY_DOC)
    document_date: DocumentDate = None
    patient: PatientInfo | None = Field(None, description="The patient's sex and age from the form, for the age and "
                                        "sex edits (else read from the text).")


class StatusChange(_Body):
    """Move a chart through the workflow. Allowed moves: new -> in_progress (take it); in_progress -> on_hold, coded
    or new (release it); on_hold -> in_progress; coded -> in_progress or completed; completed -> in_progress (reopen,
    admins only). Only the assignee or an admin moves a taken chart."""

    status: Status = Field(description="The status to move to.")
    version: Version = Field(description="The chart's version as the caller saw it: a chart changed since is a 409, so "
                                         "two coders cannot both take it.")
    assignee: NotBlank | None = Field(None, max_length=120, description="Admins only: who takes the chart (default: the "
                                      "caller); with the chart's own status, reassigns it.")
    note: NoNul | None = Field(None, max_length=500, description="Why (kept in the chart's history).")


class ProfileUpdate(_Body):
    specialties: list[Annotated[NotBlank, Field(max_length=64)]] = Field(
        max_length=50, description="The specialties whose charts the user's next chart takes; empty: any chart.")
    display_name: NoNul | None = Field(None, max_length=200)


class QueryCreate(_Body):
    """A question to the provider about the chart. Give a template (GET /v1/query-templates), a question, or both (the
    question then replaces the template's). ``start``/``end`` mark the text the query concerns: the provider sees that
    span and nothing else of the chart."""

    provider: NotBlank = Field(max_length=120, description="The user name of a provider (a token of role provider).")
    template: NoNul | None = Field(None, max_length=64, description="A template id of GET /v1/query-templates.")
    question: NotBlank | None = Field(None, max_length=4000)
    options: list[Annotated[NotBlank, Field(max_length=200)]] | None = Field(
        None, max_length=20, description="The answers offered (default: the template's).")
    start: Annotated[int, Field(ge=0, le=MAX_TEXT)] | None = Field(None, description="Start offset of the span.")
    end: Annotated[int, Field(ge=1, le=MAX_TEXT)] | None = Field(None, description="End offset of the span.")


class QueryAnswer(_Body):
    answer: NotBlank = Field(max_length=4000, description="The provider's answer.")
    option: NoNul | None = Field(None, max_length=200, description="One of the query's options.")
    amendment: NotBlank | None = Field(None, max_length=20_000, description="Text added to the chart as a signed "
                                       "addendum (the chart's history keeps the text before it).")
    version: Version = Field(description="The query's version as the provider saw it (409 otherwise).")


class QueryClose(_Body):
    """Close an answered query (read), or withdraw an open one."""

    version: Version = Field(description="The query's version (409 otherwise).")


MAX_IMPORT_TEXT = 20_000_000
"""Largest import file, in characters (the body limit of POST /v1/imports is raised to hold it)."""


class ImportDefaults(_Body):
    """Values for the fields a record leaves out."""

    specialty: NoNul | None = Field(None, max_length=64, description=_SPECIALTY_DOC)
    document_type: DocumentType = None
    priority: Priority | None = Field(None, description=_PRIORITY_DOC)
    due_date: dt.date | None = Field(None, description=_DUE_DOC)
    provider: NoNul | None = Field(None, max_length=200)


class ImportRequest(_Body):
    """A file of charts for the queue. ``jsonl``: one chart per line with POST /v1/charts' fields (``patient_id`` and
    ``text`` required; ``codes``, ``priority``, ``due_date``... optional). ``csv``: a header row naming the same fields
    as columns (``codes`` separated by ``;``). ``fhir``: a DocumentReference, a Bundle of them, or NDJSON (a FHIR
    bulk-data export). All or nothing: one bad record refuses the file, naming its line."""

    format: Literal["jsonl", "csv", "fhir"]
    content: NoNul = Field(min_length=1, max_length=MAX_IMPORT_TEXT, description="The file's text (UTF-8).")
    filename: NoNul | None = Field(None, max_length=200)
    defaults: ImportDefaults | None = None


class ReloadRequest(_Body):
    model: NoNul | None = Field(None, max_length=500, description="Model reference to load (folder, 'default' or "
                                "models:/name@alias); default: the configured model, else the MLflow champion.")


class ChartQuery(_Query):
    code: Code = optional_not_null(description="Code or code prefix (E11 finds E11.9)")
    patient_id: NoNul = optional_not_null(max_length=64)
    from_: QueryDate = optional_not_null(alias="from", description="document_date >=")
    to: QueryDate = optional_not_null(description="document_date <=")
    q: NoNul = optional_not_null(max_length=200, description="Words that must all occur in the text")
    page: int = Field(1, ge=1, le=MAX_PAGE)
    per_page: int = Field(20, ge=1, le=200)


class WorklistQuery(_Query):
    status: Status = optional_not_null()
    specialty: NoNul = optional_not_null(max_length=64)
    document_type: NoNul = optional_not_null(max_length=64)
    assignee: NoNul = optional_not_null(max_length=120, description="A user, `me`, or `none` (unassigned)")
    priority: Priority = optional_not_null()
    min_age_days: int = optional_not_null(ge=0, le=36_500, description="Waiting at least this many days")
    max_age_days: int = optional_not_null(ge=0, le=36_500, description="Waiting at most this many days")
    due_before: QueryDate = optional_not_null(description="due_date <=")
    sort: Literal["queue", "oldest", "newest", "due"] = Field(
        "queue", description="queue: the next chart's order (priority, due date, age)")
    page: int = Field(1, ge=1, le=MAX_PAGE)
    per_page: int = Field(20, ge=1, le=200)


class QueryListQuery(_Query):
    status: Literal["open", "answered", "closed"] = optional_not_null()
    chart_id: int = optional_not_null(ge=1, le=MAX_ID)
    provider: NoNul = optional_not_null(max_length=120, description="Coders and admins only; a provider sees theirs")
    page: int = Field(1, ge=1, le=MAX_PAGE)
    per_page: int = Field(50, ge=1, le=200)


class AnalyticsQuery(_Query):
    from_: QueryDate = optional_not_null(alias="from", description="First day (default: 89 days before `to`)")
    to: QueryDate = optional_not_null(description="Last day (default: today, UTC)")
    specialty: NoNul = optional_not_null(max_length=64, description="quality: one specialty only")
    model_version: NoNul = optional_not_null(max_length=64, description="quality, calibration, misses: one model "
                                             "version only")
    coder: NoNul = optional_not_null(max_length=120, description="throughput: one coder (admins; a coder sees "
                                     "only their own)")
    by: Literal["family", "specialty", "day", "model_version", "overall"] = Field(
        "family", description="quality: the rows' grouping")
    limit: int = Field(25, ge=1, le=500, description="codes, quality by family, misses: rows per list")


class CodeSearchQuery(_Query):
    q: NoNul = Field(min_length=1, max_length=200, description="Words or a code")
    limit: int = Field(20, ge=1, le=100)


class AuditQuery(_Query):
    chart_id: int = optional_not_null(ge=1, le=MAX_ID)
    user: NoNul = optional_not_null(max_length=120)
    page: int = Field(1, ge=1, le=MAX_PAGE)
    per_page: int = Field(50, ge=1, le=500)


class ExportQuery(_Query):
    only_feedback: bool = Field(False, description="Only charts with feedback")


class PathParams(_Query):
    """The path parameters of the routes, by the name of the route's variable (Flask's converters read them; the
    document names them by their alias)."""

    chart_id: int = Field(alias="id", ge=1, le=MAX_ID, description="Chart id")
    code: str = Field(description="ICD-10-CM code, with or without dot")
    query_id: int = Field(ge=1, le=MAX_ID, description="Provider query id")
    job_id: int = Field(ge=1, le=MAX_ID, description="Import id")
    figure: Literal["status", "throughput", "completeness", "codes", "quality", "calibration", "misses"] = Field(
        description="The figure")
    user: str = Field(description="User name")


class SaveHeaders(_Query):
    """The request headers a chart save reads (``api.web.idempotency_key`` reads and checks the one there is)."""

    idempotency_key: str = optional_not_null(
        alias="Idempotency-Key", min_length=1, max_length=200, pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Makes the save safe to retry: a new, unique value per chart (a UUID, say), sent again unchanged "
                    "with every retry of that save. The first request with a key saves the chart and records the key "
                    "for the caller's user; a repeat with the same JSON body (key order and spacing aside) saves "
                    "nothing and answers 201 with the chart saved first, in its current state, and "
                    "`Idempotent-Replayed: true`. Keys are per user and do not expire.")
