"""Request bodies of the JSON API, validated with pydantic v2.

Each model forbids unknown fields so that a typo (``"txt"``) is a 400 naming the field rather than silently ignored.
Their JSON schemas are published in ``/openapi.json``.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_TEXT = 200_000
"""Longest chart text accepted, in characters (the 1 MB body limit applies first)."""
MAX_ID = 2**31 - 1
"""Largest chart id (PostgreSQL's integer; SQLite's is wider): a larger one names no chart."""
MAX_PAGE = 1_000_000
"""Largest page number of a listing."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


Setting = Literal["outpatient", "inpatient", "mentions"]
_SETTING_DOC = ("Care setting whose coding rules select the codes: outpatient (Section IV), inpatient (uncertain "
                "diagnoses kept) or mentions (every coded mention). Default: the model's (recorded in the response).")


class PatientInfo(_Body):
    """What the caller knows of the patient, for the age and sex edits (else read from the text)."""

    sex: Literal["female", "male"] | None = Field(None, description="The patient's sex.")
    age_years: float | None = Field(None, ge=0, le=130, description="The patient's age in years.")


class SuggestRequest(_Body):
    text: str = Field(max_length=MAX_TEXT, description="Chart text to code.")
    top_k: int = Field(10, ge=1, le=100, description="Number of suggestions to return.")
    min_confidence: float = Field(0.0, ge=0.0, le=1.0, description="Drop suggestions below this confidence.")
    specialty: str | None = Field(None, max_length=64, description="Optional specialty hint.")
    setting: Setting | None = Field(None, description=_SETTING_DOC)
    patient: PatientInfo | None = Field(None, description="The patient's sex and age, when known.")


class BatchChart(_Body):
    id: str | None = Field(None, max_length=128)
    text: str = Field(max_length=MAX_TEXT)
    specialty: str | None = Field(None, max_length=64)
    patient: PatientInfo | None = None


class BatchSuggestRequest(_Body):
    charts: list[BatchChart] = Field(min_length=1, max_length=100)
    top_k: int = Field(10, ge=1, le=100)
    min_confidence: float = Field(0.0, ge=0.0, le=1.0)
    setting: Setting | None = Field(None, description=_SETTING_DOC)


class ChartCreate(_Body):
    patient_id: str = Field(min_length=1, max_length=64)
    encounter_id: str | None = Field(None, max_length=64)
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    codes: list[str] = Field(max_length=200, description="ICD-10-CM codes; normalised (upper case, dotted).")
    provider: str | None = Field(None, max_length=200)
    document_date: dt.date | None = None
    specialty: str | None = Field(None, max_length=64)
    document_type: str | None = Field(None, max_length=64)


class ChartPatch(_Body):
    codes: list[str] | None = Field(None, max_length=200)
    patient_id: str | None = Field(None, min_length=1, max_length=64)
    encounter_id: str | None = Field(None, max_length=64)
    text: str | None = Field(None, min_length=1, max_length=MAX_TEXT)
    provider: str | None = Field(None, max_length=200)
    document_date: dt.date | None = None
    specialty: str | None = Field(None, max_length=64)
    document_type: str | None = Field(None, max_length=64)
    version: int | None = Field(
        None, ge=1, description="If given, the update applies only to this version (409 otherwise).")


class FeedbackItem(_Body):
    code: str = Field(min_length=1, max_length=10)
    action: Literal["accepted", "rejected", "added"]
    confidence: float | None = Field(None, ge=0.0, le=1.0)


class FeedbackRequest(_Body):
    items: list[FeedbackItem] = Field(min_length=1, max_length=200)
    model_version: str | None = Field(None, max_length=64)


class CheckRequest(_Body):
    text: str | None = Field(None, max_length=MAX_TEXT)
    codes: list[str] = Field(default_factory=list, max_length=200)
    document_type: str | None = Field(None, max_length=64)
    chart_id: int | None = Field(None, ge=1, le=MAX_ID)


class ReloadRequest(_Body):
    model: str | None = Field(None, max_length=500, description="Model reference to load (folder, 'default' or "
                              "models:/name@alias); default: the configured model, else the MLflow champion.")


class ChartQuery(_Body):
    code: str | None = Field(None, max_length=10)
    patient_id: str | None = Field(None, max_length=64)
    from_: dt.date | None = Field(None, alias="from")
    to: dt.date | None = None
    q: str | None = Field(None, max_length=200)
    page: int = Field(1, ge=1, le=MAX_PAGE)
    per_page: int = Field(20, ge=1, le=200)
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class CodeSearchQuery(_Body):
    q: str = Field(min_length=1, max_length=200)
    limit: int = Field(20, ge=1, le=100)


class AuditQuery(_Body):
    chart_id: int | None = Field(None, ge=1, le=MAX_ID)
    user: str | None = Field(None, max_length=120)
    page: int = Field(1, ge=1, le=MAX_PAGE)
    per_page: int = Field(50, ge=1, le=500)
