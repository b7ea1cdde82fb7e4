"""Response bodies of the JSON API, as pydantic v2 models.

The routes build every JSON answer through these models, and ``/openapi.json`` publishes their JSON schemas as
the responses of each operation (``api.openapi``), so the document and the server cannot drift apart: a field of
the wrong type, a missing one or one the model does not know is an error (a 500 that fails the tests), never a
silent change of the API. A field that a response leaves out when it has no value (``Finding.code``) may be left
out but is never null; ``dump`` leaves out exactly the fields the route did not set.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, RootModel

from api.auth import ROLES
from api.schemas import Priority, Setting, Status, optional_not_null


def _iso_datetime(value: str) -> str:
    if dt.datetime.fromisoformat(value).tzinfo is None:
        raise ValueError("a date-time without its time zone")
    return value


def _iso_date(value: str) -> str:
    dt.date.fromisoformat(value)
    return value


DateTime = Annotated[str, AfterValidator(_iso_datetime), Field(json_schema_extra={"format": "date-time"})]
"""A time as ISO 8601 text with its time zone (the store writes UTC, ``+00:00``)."""
Date = Annotated[str, AfterValidator(_iso_date), Field(json_schema_extra={"format": "date"})]
"""A date as YYYY-MM-DD."""


class _Out(BaseModel):
    """A response body: no field the model does not name, and values of the declared types, not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


def dump(model: BaseModel) -> dict[str, Any]:
    """The JSON-ready dict of a response: the fields the route set, in the model's order."""
    return model.model_dump(mode="json", exclude_unset=True)


# ----------------------------------------------------------------------------- errors
class Error(_Out):
    """Every 4xx (and the rare 500) is this JSON; never HTML, never chart text."""

    error: str = Field(description="What was wrong, safe to show.")
    field: str = optional_not_null(description="The offending field.")


class CodeNotFound(Error):
    near_matches: list[str] = Field(description="Existing codes close to the one asked for, billable first.")


# ----------------------------------------------------------------------------- suggestions
class ModelHeader(_Out):
    name: str
    version: str


class Assertion(_Out):
    """The ConText flags of the mention."""

    negated: bool
    historical: bool
    family: bool
    hypothetical: bool
    uncertain: bool


class Evidence(_Out):
    start: int
    end: int
    text: str
    section: str
    assertion: Assertion


class RuleNote(_Out):
    rule: str
    action: Literal["added", "selected", "dropped", "note"]
    why: str


class Suggestion(_Out):
    code: str
    description: str
    confidence: float = Field(ge=0, le=1)
    selected: bool = Field(description="confidence >= the model threshold")
    billable: bool
    sources: list[str]
    evidence: list[Evidence]
    rules: list[RuleNote] = Field(description="What the coding rules did to this suggestion, and why")
    billable_children: list[str] = optional_not_null(
        description="The billable codes under a code that is not billable (left out for a billable one).")


class _Suggested(_Out):
    model: ModelHeader
    codeset_release: str
    setting: Setting


class SuggestResponse(_Suggested):
    suggestions: list[Suggestion]
    warnings: list[str]


class BatchResult(_Out):
    id: str
    suggestions: list[Suggestion]
    warnings: list[str]


class BatchSuggestResponse(_Suggested):
    results: list[BatchResult]


# ----------------------------------------------------------------------------- code set
class CodeHit(_Out):
    code: str
    description: str
    score: float
    matched_term: str
    billable: bool


class CodeHits(_Out):
    release: str
    results: list[CodeHit]


class CodeChild(_Out):
    code: str
    description: str | None
    billable: bool


class Ancestor(_Out):
    code: str
    description: str | None


class CodeValidation(_Out):
    code: str
    status: Literal["billable", "not_billable", "invalid"]
    description: str | None
    billable_descendants: list[str]
    near_matches: list[str]


class InheritedExcludes(_Out):
    code: str = Field(description="The ancestor that carries the notes.")
    notes: list[str]


class CodeDetail(_Out):
    release: str
    code: str
    description: str
    billable: bool
    parent: str | None
    children: list[CodeChild]
    chapter: str
    chapter_title: str
    block: str
    block_title: str
    inclusion_terms: list[str]
    excludes1: list[str]
    excludes2: list[str]
    code_first: list[str]
    use_additional_code: list[str]
    code_also: list[str]
    seventh_characters: dict[str, str]
    notes: list[str]
    validation: CodeValidation
    ancestors: list[Ancestor]
    excludes1_inherited: list[InheritedExcludes] = Field(description="Excludes1 notes of the code's ancestors.")


# ----------------------------------------------------------------------------- completeness
class Finding(_Out):
    rule: str
    severity: Literal["error", "warning", "info"]
    message: str
    code: str = optional_not_null()
    start: int = optional_not_null()
    end: int = optional_not_null()


class FindingsConflict(Error):
    """A 409 of a chart save: with ``findings`` (``field`` is ``codes``) when the chart's codes hold code edits of
    severity error and the save did not confirm them (``confirm_findings``); else another conflict (a stale version,
    an Idempotency-Key whose chart was deleted) without them."""

    findings: list[Finding] = optional_not_null(description="The code findings of severity error, then the rest of "
                                                "the code findings (warnings, info), as POST /v1/charts/check gives them.")


class FindingCounts(_Out):
    error: int
    warning: int
    info: int


class CheckResponse(_Out):
    document_type: str
    findings: list[Finding]
    counts: FindingCounts
    document_types: list[str]


# ----------------------------------------------------------------------------- chart store
class _ChartFields(_Out):
    id: int
    patient_id: str
    encounter_id: str | None
    codes: list[str]
    provider: str | None
    signed_by: str | None
    document_date: Date | None
    specialty: str | None
    document_type: str | None
    version: int
    created_at: DateTime
    created_by: str
    updated_at: DateTime
    updated_by: str
    deleted: bool
    status: Status = Field(description="Where the chart is in the workflow.")
    assignee: str | None = Field(description="Who has taken the chart (null: nobody).")
    priority: Priority
    due_date: Date | None
    status_changed_at: DateTime | None = Field(description="When the status last changed (null: never).")


class Chart(_ChartFields):
    text: str


class ChartSummary(_ChartFields):
    snippet: str = Field(description="The start of the text, its white space collapsed.")


class ChartPage(_Out):
    items: list[ChartSummary] = Field(description="Charts without text, with a short snippet.")
    total: int
    page: int
    per_page: int


class HistoryEntry(_Out):
    version: int
    action: Literal["created", "updated", "deleted", "status"]
    changed_at: DateTime
    changed_by: str
    changes: dict[str, Annotated[list[Any], Field(min_length=2, max_length=2)]] = Field(
        description="field: [old, new]")


class History(_Out):
    chart_id: int
    history: list[HistoryEntry]


class Deleted(_Out):
    id: int
    deleted: Literal[True]


class FeedbackRecorded(_Out):
    recorded: int = Field(ge=1)
    chart: Chart


class CorpusLine(_Out):
    """One line of the training export (JSONL)."""

    id: str
    text: str
    codes: list[str]
    meta: dict[str, Any] = optional_not_null()
    specialty: str = optional_not_null()


# ----------------------------------------------------------------------------- worklists and provider queries
class WorkItem(ChartSummary):
    age_days: int = Field(description="Whole days since the chart entered the store.")
    open_queries: int = Field(description="Provider queries of the chart still waiting for an answer.")


class WorklistPage(_Out):
    items: list[WorkItem]
    total: int
    page: int
    per_page: int
    counts: dict[Status, int] = Field(description="Charts by status under the other filters (for the queue's tabs).")


class NextChart(_Out):
    chart: Chart
    specialties: list[str] = Field(description="The caller's specialties the queue was filtered by (empty: any).")


class QueryTemplate(_Out):
    id: str
    title: str
    codes: list[str] = Field(description="The code families (prefixes) whose specificity the query concerns.")
    question: str = Field(description="{finding} is replaced by the text of the query's span.")
    options: list[str]


class QueryTemplates(_Out):
    version: str
    about: str
    templates: list[QueryTemplate]


class ProviderQueryOut(_Out):
    """A provider query. A provider is shown the query and its span's text (``excerpt``), nothing else of the chart."""

    id: int
    chart_id: int
    template: str | None
    question: str
    options: list[str]
    start: int | None
    end: int | None
    excerpt: str | None = Field(description="The text the query concerns (the span, as it was when asked).")
    provider: str
    status: Literal["open", "answered", "closed"]
    answer: str | None
    option: str | None = Field(description="The option the provider chose.")
    amendment: str | None = Field(description="The addendum the answer added to the chart.")
    version: int
    created_by: str
    created_at: DateTime
    answered_at: DateTime | None
    closed_at: DateTime | None
    closed_by: str | None


class QueryPage(_Out):
    items: list[ProviderQueryOut]
    total: int
    page: int
    per_page: int


class QueryResult(_Out):
    query: ProviderQueryOut
    chart_status: Status = Field(description="The chart's status after the change: a chart in progress goes on hold "
                                             "while a query of it is open, and back in progress when its last open "
                                             "query is answered or closed.")


class UserProfileOut(_Out):
    user: str
    roles: list[Literal[ROLES]] = Field(description="The roles of the user's active tokens.")
    display_name: str | None
    specialties: list[str] = Field(description="Empty: the user's next chart takes any chart.")


class UserList(_Out):
    users: list[UserProfileOut]


class ImportJobOut(_Out):
    id: int
    filename: str
    format: Literal["jsonl", "csv", "fhir"]
    status: Literal["precomputing", "done"] = Field(description="precomputing: suggestions are being computed in the "
                                                    "background; done: every chart has them (or failed)")
    total: int = Field(description="Charts imported into the queue.")
    precomputed: int = Field(description="Charts whose suggestions are ready.")
    failed: int = Field(description="Charts the engine could not suggest for (coded without precomputed suggestions).")
    created_by: str
    created_at: DateTime
    finished_at: DateTime | None


class ImportStarted(_Out):
    job: ImportJobOut
    chart_ids: list[int] = Field(description="The new charts, in the file's order.")


class ImportJobs(_Out):
    jobs: list[ImportJobOut]


class StoredSuggestions(SuggestResponse):
    computed_at: DateTime = Field(description="When the background worker computed them.")


class AnalyticsTable(_Out):
    """One figure of the department as a table (the page plots it; the CSV holds the same rows)."""

    figure: str
    title: str
    start: Date = Field(description="First day covered (figures over time).")
    end: Date = Field(description="Last day covered.")
    columns: list[str]
    rows: list[list[str | int | float | None]]


class AnalyticsCsv(RootModel[str]):
    """The figure's table as CSV, a header row first."""


class AuditEntry(_Out):
    id: int
    at: DateTime
    user: str
    action: str
    chart_id: int | None
    codes: list[str] | None
    detail: dict[str, Any] | None


class AuditPage(_Out):
    items: list[AuditEntry]
    page: int
    per_page: int


# ----------------------------------------------------------------------------- service and model
class DocumentTypeLabel(_Out):
    id: str
    label: str


class Me(_Out):
    user: str
    role: Literal[ROLES]
    display_name: str | None
    specialties: list[str] = Field(description="The specialties the user's next chart takes (empty: any).")
    default_document_type: str
    document_types: list[DocumentTypeLabel]


class Specialties(_Out):
    specialties: list[str] = Field(description="The specialties the served model has priors for (learned from its "
                                   "training charts): the values a `specialty` field takes.")


class ModelInfo(_Out):
    name: str
    version: str = Field(description="The card's version: the registry's once loaded from it, 'local' before.")
    ref: str | None
    registry_version: str | None = Field(
        description="The model registry's version of the served model: the one it was loaded from, or the champion's "
                    "when the served folder holds the champion's very file; null when the registry is not known to "
                    "hold it.")
    codeset_release: str | None = Field(description="The ICD-10-CM release the model codes against.")
    threshold: float | None
    card: dict[str, Any] = Field(description="The model card (model_card.json); empty when the model has none.")


class Reloaded(_Out):
    reloaded: Literal[True]
    generation: int
    model: ModelInfo
    previous: ModelInfo | None


class Health(_Out):
    status: Literal["ok"]


class Readiness(_Out):
    status: Literal["ready", "not ready"]
    model_loaded: bool
    database: bool


class Metrics(RootModel[str]):
    """Prometheus' text format."""
