"""What runs on the executors: the model shipped from the driver, and the charts of a partition through the engine's
batch path (``Suggester.suggest_batch``), one Arrow batch at a time (``DataFrame.mapInArrow``).

The driver verifies the model file's signature (its executors hold no signing key), copies the model folder under a
name of its own and ships it with ``SparkContext.addFile``; each Python worker loads that copy once, refusing any file
whose sha256 is not the one the driver verified (``Suggester.load_pinned``), and keeps it for the tasks that follow
(Spark reuses its Python workers).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suggest.metrics import DEFAULT_KS, ChartStatistics, RankedPrediction

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

    from suggest.model.suggester import Suggester

#: Charts per ``suggest_batch`` call inside a task (the engine chunks further for memory).
BATCH_SIZE = 256

EVIDENCE = ("STRUCT<start: INT, end: INT, text: STRING, section: STRING, assertion: STRUCT<negated: BOOLEAN, "
            "historical: BOOLEAN, family: BOOLEAN, hypothetical: BOOLEAN, uncertain: BOOLEAN>>")
SUGGESTION = (f"STRUCT<code: STRING, description: STRING, confidence: DOUBLE, selected: BOOLEAN, billable: BOOLEAN, "
              f"billable_children: ARRAY<STRING>, sources: ARRAY<STRING>, evidence: ARRAY<{EVIDENCE}>, "
              f"rules: ARRAY<STRUCT<rule: STRING, action: STRING, why: STRING>>>")
#: One output row per chart (``suggest predict --engine spark``): the suggestions as the API gives them.
PREDICTION_SCHEMA = (f"id STRING, suggestions ARRAY<{SUGGESTION}>, setting STRING, warnings ARRAY<STRING>, "
                     f"error STRING, model_name STRING, model_version STRING, codeset_release STRING")
#: One row per chart for ``suggest evaluate --engine spark``: its share of the metrics (``ChartStatistics``).
STATISTICS_SCHEMA = ("id STRING, error STRING, has_gold INT, average_precision DOUBLE, precision_at ARRAY<DOUBLE>, "
                     "recall_at ARRAY<DOUBLE>, gold_codes INT, true_positives INT, false_positives INT, "
                     "false_negatives INT, code_counts ARRAY<STRUCT<code: STRING, tp: INT, fp: INT, fn: INT>>, "
                     "ece_count ARRAY<INT>, ece_confidence ARRAY<DOUBLE>, ece_hits ARRAY<INT>")


@dataclass(frozen=True)
class ShippedModel:
    """A model verified on the driver and shipped to the executors (small: it travels in every task's closure)."""

    file_name: str
    sha256: str
    reference: str
    name: str
    version: str
    codeset_release: str

    @property
    def columns(self) -> dict[str, str]:
        return {"model_name": self.name, "model_version": self.version, "codeset_release": self.codeset_release}


def ship_model(spark: SparkSession, ref: str) -> ShippedModel:
    """Verify the model ``ref`` names (as ``suggest.load_model`` would, unpickling nothing) and ship a copy of it.

    Raises ModelNotFoundError, ModelFormatError or ModelIntegrityError as loading it would."""
    from pyspark import SparkFiles

    from suggest.model.card import ModelCard
    from suggest.model.loading import locate_model
    from suggest.model.suggester import CARD_FILE, MODEL_FILE, Suggester

    location = locate_model(ref)
    sha256 = Suggester.check_loadable(location.folder, location.sha256)
    card = ModelCard.read(location.folder / CARD_FILE)
    file_name = f"suggest-model-{sha256[:16]}"
    try:
        already = Path(SparkFiles.get(file_name)).is_dir()
    except Exception:  # no SparkFiles root yet
        already = False
    if not already:
        staging = Path(tempfile.mkdtemp(prefix="suggest-spark-")) / file_name
        staging.mkdir()
        for name in (MODEL_FILE, CARD_FILE):
            shutil.copy2(location.folder / name, staging / name)
        spark.sparkContext.addFile(str(staging), recursive=True)
    return ShippedModel(file_name=file_name, sha256=sha256, reference=str(ref), name=card.name,
                        version=location.registry_version or card.version, codeset_release=card.codeset_release)


_loaded: dict[str, Suggester] = {}


def executor_model(shipped: ShippedModel) -> Suggester:
    """The shipped model, loaded once per Python worker."""
    model = _loaded.get(shipped.sha256)
    if model is None:
        from pyspark import SparkFiles

        from suggest.model.suggester import Suggester

        model = Suggester.load_pinned(SparkFiles.get(shipped.file_name), shipped.sha256)
        _loaded.clear()
        _loaded[shipped.sha256] = model
    return model


@dataclass(frozen=True)
class SuggestTask:
    """What every task does with its charts: the model, how many suggestions, the care setting."""

    model: ShippedModel
    top_k: int = 20
    setting: str | None = None
    batch_size: int = BATCH_SIZE


def chart_error(exc: BaseException) -> str:
    """A chart's error as the output records it: the exception's type and its message's first line (bounded)."""
    message = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {message[:300]}" if message else type(exc).__name__


def _suggest_rows(task: SuggestTask, batch: pa.RecordBatch) -> Iterator[tuple[int, Any, str | None]]:
    """(row position, SuggestResult or None, error or None) for every chart of ``batch``: ``suggest_batch`` over
    ``task.batch_size`` charts at a time, and chart by chart in a batch that raised, so that only the failing chart
    gets the error."""
    model = executor_model(task.model)
    problems = batch.column("source_error").to_pylist()
    texts = batch.column("text").to_pylist()
    specialties = [s or None for s in batch.column("specialty").to_pylist()]
    good = [i for i, problem in enumerate(problems) if problem is None]
    for i, problem in enumerate(problems):
        if problem is not None:
            yield i, None, problem
    for start in range(0, len(good), task.batch_size):
        chunk = good[start: start + task.batch_size]
        try:
            results = model.suggest_batch([texts[i] for i in chunk], top_k=task.top_k,
                                          specialties=[specialties[i] for i in chunk], setting=task.setting)
        except Exception:
            for i in chunk:
                try:
                    yield i, model.suggest_batch([texts[i]], top_k=task.top_k, specialties=[specialties[i]],
                                                 setting=task.setting)[0], None
                except Exception as exc:
                    yield i, None, chart_error(exc)
            continue
        yield from ((i, result, None) for i, result in zip(chunk, results, strict=True))


def arrow_schema(ddl: str) -> pa.Schema:
    """The Arrow schema of a Spark DDL schema string (on the driver: parsing needs its JVM)."""
    from pyspark.sql.pandas.types import to_arrow_schema
    from pyspark.sql.types import _parse_datatype_string

    return to_arrow_schema(_parse_datatype_string(ddl))


def predict_batches(batches: Iterator[pa.RecordBatch], task: SuggestTask,
                    schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body of ``suggest predict --engine spark``: rows of ``schema``, :data:`PREDICTION_SCHEMA` (plus
    the input's ``bucket`` column when it has one)."""
    import pyarrow as pa

    with_bucket = "bucket" in schema.names
    for batch in batches:
        ids = batch.column("id").to_pylist()
        rows: list[dict[str, Any]] = [{}] * batch.num_rows
        for i, result, error in _suggest_rows(task, batch):
            rows[i] = {"id": ids[i], "suggestions": [s.to_dict() for s in result.suggestions] if result else [],
                       "setting": result.setting if result else task.setting,
                       "warnings": list(result.warnings) if result else [], "error": error, **task.model.columns}
        if with_bucket:
            for row, bucket in zip(rows, batch.column("bucket").to_pylist(), strict=True):
                row["bucket"] = bucket
        yield pa.RecordBatch.from_pylist(rows, schema=schema)


def statistics_batches(batches: Iterator[pa.RecordBatch], task: SuggestTask, schema: pa.Schema,
                       ks: Sequence[int] = DEFAULT_KS) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body of ``suggest evaluate --engine spark``: rows of ``schema``, :data:`STATISTICS_SCHEMA`."""
    import pyarrow as pa

    from suggest.corpus import normalize_code

    for batch in batches:
        ids, golds = batch.column("id").to_pylist(), batch.column("codes").to_pylist()
        rows: list[dict[str, Any]] = [{}] * batch.num_rows
        for i, result, error in _suggest_rows(task, batch):
            if result is None:
                rows[i] = {"id": ids[i], "error": error}
                continue
            gold = list(dict.fromkeys(c for c in (normalize_code(code) for code in golds[i] or [] if code) if c))
            prediction = RankedPrediction(codes=[s.code for s in result.suggestions],
                                          confidences=[float(s.confidence) for s in result.suggestions],
                                          selected=[bool(s.selected) for s in result.suggestions])
            stats = ChartStatistics.of(gold, prediction, ks)
            rows[i] = {"id": ids[i], "error": None, "has_gold": stats.has_gold,
                       "average_precision": stats.average_precision, "precision_at": stats.precision_at,
                       "recall_at": stats.recall_at, "gold_codes": stats.gold_codes,
                       "true_positives": stats.true_positives, "false_positives": stats.false_positives,
                       "false_negatives": stats.false_negatives,
                       "code_counts": [{"code": c, "tp": tp, "fp": fp, "fn": fn} for c, tp, fp, fn in stats.code_counts],
                       "ece_count": stats.ece_count, "ece_confidence": stats.ece_confidence,
                       "ece_hits": stats.ece_hits}
        yield pa.RecordBatch.from_pylist(rows, schema=schema)
