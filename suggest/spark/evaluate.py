"""``suggest evaluate --engine spark``: the metrics of ``suggest evaluate`` over a labelled set, summed by Spark.

Each executor turns its charts into :class:`suggest.metrics.ChartStatistics` (the chart's average precision, hits
at each k, its true and false positives, its ECE bins, its per-code counts); Spark adds them up, by code for the macro
F1, and :func:`suggest.metrics.metrics_from_totals` finishes on the driver: the numbers of the local path
(``suggest.metrics.evaluate_predictions``), whatever the number of charts, with nothing but sums collected.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from suggest.errors import SuggestError
from suggest.metrics import DEFAULT_KS, ECE_BINS, metrics_from_totals
from suggest.spark.executor import STATISTICS_SCHEMA, SuggestTask, arrow_schema, ship_model, statistics_batches
from suggest.spark.session import SparkOptions
from suggest.spark.sources import ChartSource, read_charts

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass
class SparkEvaluation:
    """The metrics, the model they are of, how many charts failed, and how long it took."""

    metrics: dict[str, float]
    model: str
    model_version: str
    codeset_release: str
    failed: int
    seconds: float
    errors: list[tuple[str, str]] = field(default_factory=list)
    #: (code, tp, fp, fn) of the selected codes, summed over the charts: every code gold or selected somewhere.
    code_counts: list[tuple[str, int, int, int]] = field(default_factory=list)


def run_evaluate(spark: SparkSession, source: ChartSource, *, model: str = "default", top_k: int = 50,
                 setting: str | None = None, options: SparkOptions | None = None,
                 ks: tuple[int, ...] = DEFAULT_KS) -> SparkEvaluation:
    """Evaluate ``model`` on the labelled charts of ``source`` (a ``codes`` column is required).

    Charts that fail are left out of the metrics and counted (the first few with their error)."""
    from pyspark.sql import functions as F

    started = time.monotonic()
    options = options or SparkOptions()
    shipped = ship_model(spark, model)
    task = SuggestTask(model=shipped, top_k=top_k, setting=setting)
    context = spark.sparkContext
    charts = read_charts(spark, source, with_codes=True)
    context.setJobDescription(f"suggest evaluate: {shipped.reference} on {source.describe()}")
    tasks = options.partitions or 2 * context.defaultParallelism
    stats = (charts.repartition(tasks).mapInArrow(
        partial(statistics_batches, task=task, schema=arrow_schema(STATISTICS_SCHEMA), ks=ks), STATISTICS_SCHEMA)
             .persist())
    try:
        good = stats.where(F.col("error").isNull())
        sums = [F.count(F.lit(1)).alias("charts"), F.sum("has_gold").alias("with_gold"),
                F.sum(F.when(F.col("has_gold") == 1, F.col("average_precision")).otherwise(0.0)).alias("ap"),
                F.sum("true_positives").alias("tp"), F.sum("false_positives").alias("fp"),
                F.sum("false_negatives").alias("fn"), F.sum("gold_codes").alias("gold_codes")]
        sums += [F.sum(F.col("precision_at")[i]).alias(f"p{i}") for i in range(len(ks))]
        sums += [F.sum(F.col("recall_at")[i]).alias(f"r{i}") for i in range(len(ks))]
        for name in ("ece_count", "ece_confidence", "ece_hits"):
            sums += [F.sum(F.col(name)[b]).alias(f"{name}{b}") for b in range(ECE_BINS)]
        totals = good.agg(*sums).first()
        if not totals or not totals["charts"]:
            raise SuggestError(f"{source.describe()}: no chart could be evaluated")
        if not totals["with_gold"]:
            raise SuggestError(f"{source.describe()}: no chart has gold codes ('codes' is empty on every row)")
        by_code = (good.select(F.explode("code_counts").alias("c"))
                   .groupBy("c.code").agg(F.sum("c.tp").alias("tp"), F.sum("c.fp").alias("fp"),
                                          F.sum("c.fn").alias("fn"))).persist()
        per_code = (by_code.where(F.col("tp") + F.col("fn") > 0)
                    .agg(F.avg(2 * F.col("tp") / (2 * F.col("tp") + F.col("fp") + F.col("fn")))).first()[0])
        code_counts = [(row["code"], int(row["tp"]), int(row["fp"]), int(row["fn"]))
                       for row in by_code.orderBy("code").collect()]  # one row per code: the code set bounds it
        by_code.unpersist()
        failures = stats.where(F.col("error").isNotNull())
        failed = failures.count()
        errors = [(row["id"], row["error"]) for row in failures.select("id", "error").limit(10).collect()]
    finally:
        stats.unpersist()
        context.setJobDescription(None)
    metrics = metrics_from_totals(
        charts=int(totals["charts"]), charts_with_gold=int(totals["with_gold"]),
        average_precision_sum=float(totals["ap"]),
        precision_at_sums=[float(totals[f"p{i}"]) for i in range(len(ks))],
        recall_at_sums=[float(totals[f"r{i}"]) for i in range(len(ks))],
        true_positives=int(totals["tp"]), false_positives=int(totals["fp"]), false_negatives=int(totals["fn"]),
        macro_f1=float(per_code or 0.0),
        ece_count=[int(totals[f"ece_count{b}"]) for b in range(ECE_BINS)],
        ece_confidence=[float(totals[f"ece_confidence{b}"]) for b in range(ECE_BINS)],
        ece_hits=[int(totals[f"ece_hits{b}"]) for b in range(ECE_BINS)], ks=ks)
    metrics["n_gold_codes"] = float(totals["gold_codes"])
    return SparkEvaluation(metrics=metrics, model=shipped.reference, model_version=shipped.version,
                           codeset_release=shipped.codeset_release, failed=failed,
                           seconds=round(time.monotonic() - started, 2), errors=errors, code_counts=code_counts)
