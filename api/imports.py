"""Bulk import into the queue: charts from a JSONL, CSV or FHIR file become new charts in the worklist, and the
engine's suggestions for them are computed in the background, so that a coder who opens one finds them ready.

An import is all or nothing: every record is validated first (a bad one is a 400 naming its line and field, and
nothing is stored). The charts are then saved in one transaction with an ``import_jobs`` row, and one
``precompute_queue`` row per chart. The precompute worker (a thread in each service process, started on its first
request) claims a batch of queued charts with a conditional UPDATE (so two processes never compute one chart; a claim
older than ``STALE_CLAIM`` is taken over, e.g. from a killed process), runs ``suggest_batch`` on it, stores the
suggestions in ``chart_suggestions`` keyed by the text's sha256, and counts the job's progress.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import os
import threading
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from api.auth import Principal
from api.chart_checks import known_specialties
from api.db import ChartRow, ChartSuggestions, ImportJob, PrecomputeItem, utcnow
from api.errors import ApiError, NotFound
from api.schemas import MAX_ID, ChartCreate, ImportRequest
from api.store import audit, create_chart, iso

log = logging.getLogger("api.imports")

IMPORT_MAX_BODY_BYTES = 25_000_000
"""Body limit of POST /v1/imports (the file's text as a JSON string, escapes included)."""
MAX_ERRORS = 20
"""Bad records listed in a refused import (the first ones)."""
BATCH = 16
"""Charts the precompute worker suggests for at once."""
STALE_CLAIM = dt.timedelta(minutes=5)
CSV_LIST_SEPARATORS = (";", "|", ",")


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------- reading a file
def _validated(record: dict[str, Any], defaults: dict[str, Any], where: str, errors: list[str]) -> ChartCreate | None:
    merged = {**{k: v for k, v in defaults.items() if v is not None}, **{k: v for k, v in record.items()
                                                                         if v is not None}}
    merged.setdefault("codes", [])
    try:
        return ChartCreate.model_validate_json(json.dumps(merged))
    except ValidationError as exc:
        err = exc.errors(include_input=False, include_url=False)[0]
        field = ".".join(str(p) for p in err.get("loc", ())) or "record"
        message = "field required" if err.get("type") == "missing" else \
            "unknown field" if err.get("type") == "extra_forbidden" else err.get("msg", "invalid value")
        errors.append(f"{where}: {field}: {message}")
        return None


def _jsonl(content: str, defaults: dict, errors: list[str]) -> list[ChartCreate]:
    out = []
    for line_no, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"line {line_no}: invalid JSON ({exc.msg})")
            continue
        if not isinstance(record, dict):
            errors.append(f"line {line_no}: expected a JSON object")
            continue
        chart = _validated(record, defaults, f"line {line_no}", errors)
        if chart is not None:
            out.append(chart)
    return out


def _csv(content: str, defaults: dict, errors: list[str]) -> list[ChartCreate]:
    reader = csv.DictReader(io.StringIO(content))
    if not reader.fieldnames or "text" not in reader.fieldnames:
        errors.append("line 1: the header must name the columns, among them text and patient_id")
        return []
    out = []
    for row in reader:
        line_no = reader.line_num
        if None in row:
            errors.append(f"line {line_no}: more cells than the header has columns")
            continue
        record: dict[str, Any] = {k: v for k, v in row.items() if v not in (None, "")}
        if "codes" in record:
            raw = record["codes"]
            sep = next((s for s in CSV_LIST_SEPARATORS if s in raw), None)
            record["codes"] = [c.strip() for c in (raw.split(sep) if sep else raw.split()) if c.strip()]
        chart = _validated(record, defaults, f"line {line_no}", errors)
        if chart is not None:
            out.append(chart)
    return out


def _fhir(content: str, defaults: dict, errors: list[str]) -> list[ChartCreate]:
    from api.fhir import chart_fields
    from suggest.fhir.reading import FhirInputError, read_documents

    try:
        resources = [(None, json.loads(content))]
    except json.JSONDecodeError:  # NDJSON: a bulk-data export, one resource per line
        resources = []
        for line_no, line in enumerate(content.splitlines(), start=1):
            if line.strip():
                try:
                    resources.append((line_no, json.loads(line)))
                except json.JSONDecodeError as exc:
                    errors.append(f"line {line_no}: invalid JSON ({exc.msg})")
                    return []
    out = []
    for line_no, resource in resources:
        where = f"line {line_no}" if line_no else "document"
        try:
            documents = read_documents(resource)
        except FhirInputError as exc:
            errors.append(f"{where}: {exc.expression}: {exc.message}")
            continue
        for k, doc in enumerate(documents, start=1):
            chart = _validated(chart_fields(doc), defaults, f"{where}, document {k}", errors)
            if chart is not None:
                out.append(chart)
    return out


_READERS = {"jsonl": _jsonl, "csv": _csv, "fhir": _fhir}


def read_import(body: ImportRequest) -> list[ChartCreate]:
    """The charts of an import, each validated as POST /v1/charts validates one; 400 listing the first bad records
    by line when any is bad (nothing is imported then)."""
    defaults = body.defaults.model_dump(exclude_none=True) if body.defaults else {}
    errors: list[str] = []
    charts = _READERS[body.format](body.content, defaults, errors)
    if errors:
        shown = "; ".join(errors[:MAX_ERRORS]) + (f"; and {len(errors) - MAX_ERRORS} more" if len(errors) > MAX_ERRORS
                                                   else "")
        raise ApiError(f"{body.filename or 'the file'}: {len(errors)} bad record(s), nothing imported: {shown}",
                       field="content")
    if not charts:
        raise ApiError(f"{body.filename or 'the file'} holds no chart", field="content")
    return charts


# ----------------------------------------------------------------------------- jobs
def start_import(session: Session, body: ImportRequest, charts: list[ChartCreate], who: Principal,
                 codes_check) -> tuple[ImportJob, list[int]]:
    """Save the charts as new charts of the queue and queue their suggestions; ``codes_check(chart, i)`` validates
    each chart's codes against the code set (raising the API's 400). Returns the job and the new charts' ids."""
    for i, chart in enumerate(charts):
        codes_check(chart, i)
    now = utcnow()
    job = ImportJob(created_by=who.user, created_at=now, filename=(body.filename or "")[:200], format=body.format,
                    status="precomputing", total=len(charts), precomputed=0, failed=0)
    session.add(job)
    session.flush()
    ids = []
    for chart in charts:
        row = create_chart(session, chart, who)
        session.add(PrecomputeItem(chart_id=row.id, job_id=job.id))
        ids.append(row.id)
    session.flush()
    audit(session, who, "import", None, None, {"job": job.id, "charts": len(charts), "format": body.format})
    return job, ids


def job_dict(job: ImportJob) -> dict[str, Any]:
    return {"id": job.id, "filename": job.filename, "format": job.format, "status": job.status, "total": job.total,
            "precomputed": job.precomputed, "failed": job.failed, "created_by": job.created_by,
            "created_at": iso(job.created_at), "finished_at": iso(job.finished_at)}


def get_job(session: Session, job_id: int, who: Principal) -> ImportJob:
    job = session.get(ImportJob, job_id) if 1 <= job_id <= MAX_ID else None
    if job is None or (job.created_by != who.user and not who.is_admin):
        raise NotFound(f"no import {job_id}")
    return job


def list_jobs(session: Session, who: Principal, limit: int = 50) -> list[ImportJob]:
    stmt = select(ImportJob).order_by(ImportJob.id.desc()).limit(limit)
    if not who.is_admin:
        stmt = stmt.where(ImportJob.created_by == who.user)
    return list(session.scalars(stmt))


def stored_suggestions(session: Session, chart: ChartRow) -> ChartSuggestions | None:
    """The suggestions precomputed for the chart's current text, None when there are none (or the text changed)."""
    found = session.get(ChartSuggestions, chart.id)
    if found is None or found.text_sha256 != text_sha256(chart.text):
        return None
    return found


# ----------------------------------------------------------------------------- the precompute worker
def precompute_once(sessions, served, worker: str, batch: int = BATCH) -> int:
    """Claim and suggest one batch of queued charts with the ``served`` model; returns how many were done (0: the
    queue is empty)."""
    model = served.model
    now = utcnow()
    with sessions() as session, session.begin():
        candidates = list(session.scalars(
            select(PrecomputeItem.chart_id).where(or_(PrecomputeItem.claimed_by.is_(None),
                                                      PrecomputeItem.claimed_at < now - STALE_CLAIM))
            .order_by(PrecomputeItem.chart_id).limit(batch)))
        claimed = []
        for chart_id in candidates:
            res = session.execute(update(PrecomputeItem).where(
                PrecomputeItem.chart_id == chart_id,
                or_(PrecomputeItem.claimed_by.is_(None), PrecomputeItem.claimed_at < now - STALE_CLAIM))
                .values(claimed_by=worker, claimed_at=now).execution_options(synchronize_session=False))
            if res.rowcount == 1:
                claimed.append(chart_id)
    if not claimed:
        return 0
    with sessions() as session:
        rows = [(r.id, r.text, r.specialty) for r in session.scalars(select(ChartRow).where(ChartRow.id.in_(claimed)))]
        jobs = dict(session.execute(select(PrecomputeItem.chart_id, PrecomputeItem.job_id)
                                    .where(PrecomputeItem.chart_id.in_(claimed))).all())
    results: dict[int, Any] = {}
    failed: set[int] = set()
    try:
        known = set(known_specialties(model))
        out = model.suggest_batch([text for _i, text, _s in rows],
                                  specialties=[s if s in known else None for _i, _t, s in rows])
        results = {chart_id: r.to_dict() for (chart_id, _t, _s), r in zip(rows, out, strict=True)}
    except Exception:  # one bad chart must not stop the others: suggest them one by one
        for chart_id, text, _s in rows:
            try:
                results[chart_id] = model.suggest(text).to_dict()
            except Exception as exc:
                log.warning("precompute failed for chart %s (%s)", chart_id, type(exc).__name__)
                failed.add(chart_id)
    version = str(served.version or "")
    with sessions() as session, session.begin():
        texts = {i: t for i, t, _s in rows}
        for chart_id, result in results.items():
            session.merge(ChartSuggestions(chart_id=chart_id, text_sha256=text_sha256(texts[chart_id]),
                                           model_version=version[:64] or None, computed_at=utcnow(), result=result))
        done = _progress_by_job(jobs, results, failed)
        session.execute(delete(PrecomputeItem).where(PrecomputeItem.chart_id.in_(list(jobs))))
        for job_id, (ok, bad) in done.items():
            session.execute(update(ImportJob).where(ImportJob.id == job_id).values(
                precomputed=ImportJob.precomputed + ok, failed=ImportJob.failed + bad))
        for job_id in done:
            left = session.scalar(select(func.count()).select_from(PrecomputeItem)
                                  .where(PrecomputeItem.job_id == job_id))
            if not left:
                session.execute(update(ImportJob).where(ImportJob.id == job_id, ImportJob.status == "precomputing")
                                .values(status="done", finished_at=utcnow()))
    return len(jobs)


def _progress_by_job(jobs: dict[int, int], results: dict, failed: set[int]) -> dict[int, tuple[int, int]]:
    """(suggested, failed) charts of each job in a batch."""
    out: dict[int, list[int]] = {}
    for chart_id, job_id in jobs.items():
        counts = out.setdefault(job_id, [0, 0])
        if chart_id in results:
            counts[0] += 1
        else:
            counts[1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


class PrecomputeWorker:
    """A daemon thread of one service process: drains the precompute queue, then waits ``interval`` seconds."""

    def __init__(self, app, interval: float) -> None:
        self.app = app
        self.interval = interval
        self.pid: int | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()

    def ensure_started(self) -> None:
        """Start the thread in this process (once; again after a fork, which keeps no threads)."""
        if self.interval <= 0 or self.pid == os.getpid():
            return
        with self._lock:
            if self.pid == os.getpid():
                return
            self.pid = os.getpid()
            threading.Thread(target=self._run, name="precompute", daemon=True).start()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        name = f"{os.uname().nodename}:{os.getpid()}"
        sessions = self.app.extensions["db_sessions"]
        while True:
            try:
                served = self.app.extensions["model_host"].served
                while served is not None and precompute_once(sessions, served, name):
                    served = self.app.extensions["model_host"].served
            except Exception as exc:  # keep the thread alive: the next round retries
                log.warning("precompute round failed (%s)", type(exc).__name__)
            self._wake.wait(self.interval)
            self._wake.clear()
