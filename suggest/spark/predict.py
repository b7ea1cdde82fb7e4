"""``suggest predict --engine spark``: suggestions for every chart of a source, written as Parquet or JSONL, in a job
that a kill does not set back.

Charts are hashed into ``buckets`` by id (Spark's ``xxhash64``, stable from run to run). A job works in rounds of
buckets; a round is written by Spark to ``OUTPUT/_rounds/<id>/`` and, once complete, each of its buckets' folders is
renamed to ``OUTPUT/bucket=N`` (a rename is atomic on a local file system and HDFS). A job started again over the same
output skips the buckets already there, so a killed job loses only the round it was in, and every chart is written
exactly once. ``OUTPUT/_job.json`` records what the output was made with; a run with another model, code-set release
or settings is refused (``overwrite`` starts afresh). ``OUTPUT/_summary.json`` and ``_SUCCESS`` are written at the
end, and the output reads as one dataset: ``spark.read.parquet(OUTPUT)`` (with the ``bucket`` column).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass
from functools import partial
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from suggest.errors import SuggestError
from suggest.spark.executor import PREDICTION_SCHEMA, SuggestTask, arrow_schema, predict_batches, ship_model
from suggest.spark.session import SparkOptions
from suggest.spark.sources import ChartSource, read_charts

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

JOB_FILE = "_job.json"
SUMMARY_FILE = "_summary.json"
ROUNDS_DIR = "_rounds"
BUCKET_PREFIX = "bucket="


class PredictJob(BaseModel):
    """What to run and where to write it."""

    model_config = ConfigDict(extra="forbid")

    model: str = "default"
    output: str
    output_format: Literal["parquet", "jsonl"] = "parquet"
    top_k: int = Field(default=20, ge=1)
    setting: str | None = None
    buckets: int = Field(default=64, ge=1, le=100_000)
    buckets_per_round: int | None = Field(default=None, ge=1)
    """None: twice the cluster's default parallelism."""
    batch_size: int = Field(default=256, ge=1)
    overwrite: bool = False


@dataclass
class PredictSummary:
    """What a run did: the charts it wrote and how many failed, the buckets written and skipped, and the time."""

    output: str
    model: str
    model_version: str
    codeset_release: str
    charts: int
    failed: int
    seconds: float
    buckets_written: int
    buckets_skipped: int
    rounds: int
    output_charts: int
    output_failed: int

    def line(self) -> str:
        rate = f", {self.charts / self.seconds:.1f} charts/s" if self.seconds > 0 and self.charts else ""
        skipped = f", {self.buckets_skipped} already done" if self.buckets_skipped else ""
        return (f"spark predict: {self.charts} charts ({self.failed} failed) in {self.seconds:.1f} s{rate}; "
                f"{self.buckets_written} buckets written in {self.rounds} rounds{skipped}; {self.output} holds "
                f"{self.output_charts} charts ({self.output_failed} failed); model {self.model} "
                f"version {self.model_version}")


class OutputFolder:
    """The job's output folder through Hadoop's FileSystem API (a local path, ``hdfs://``, ``s3a://``...)."""

    def __init__(self, spark: SparkSession, root: str) -> None:
        self._jvm = spark.sparkContext._jvm
        self._root = self._jvm.org.apache.hadoop.fs.Path(root)
        self._fs = self._root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        self.uri = self._fs.makeQualified(self._root).toString()

    def path(self, *names: str):
        path = self._root
        for name in names:
            path = self._jvm.org.apache.hadoop.fs.Path(path, name)
        return path

    def location(self, *names: str) -> str:
        return self._fs.makeQualified(self.path(*names)).toString()

    def exists(self, *names: str) -> bool:
        return bool(self._fs.exists(self.path(*names)))

    def folders(self, *names: str) -> list[str]:
        if not self.exists(*names):
            return []
        return sorted(s.getPath().getName() for s in self._fs.listStatus(self.path(*names)) if s.isDirectory())

    def rename(self, source: tuple[str, ...], target: tuple[str, ...]) -> None:
        if not self._fs.rename(self.path(*source), self.path(*target)):
            raise SuggestError(f"could not move {self.location(*source)} to {self.location(*target)}")

    def delete(self, *names: str) -> None:
        self._fs.delete(self.path(*names), True)

    def make(self, *names: str) -> None:
        self._fs.mkdirs(self.path(*names))

    def write_text(self, name: str, text: str) -> None:
        temporary = f".{name}.{uuid.uuid4().hex}.tmp"
        stream = self._fs.create(self.path(temporary), True)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()
        if self.exists(name):
            self.delete(name)
        self.rename((temporary,), (name,))

    def read_text(self, name: str) -> str:
        stream = self._fs.open(self.path(name))
        try:
            return str(self._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))
        finally:
            stream.close()


def bucket_of(folder_name: str) -> int | None:
    """The bucket number of an output folder ``bucket=N``, else None."""
    if folder_name.startswith(BUCKET_PREFIX) and folder_name[len(BUCKET_PREFIX):].isdigit():
        return int(folder_name[len(BUCKET_PREFIX):])
    return None


def run_predict(spark: SparkSession, source: ChartSource, job: PredictJob,
                options: SparkOptions | None = None) -> PredictSummary:
    """Run (or resume) the job; returns its summary, also written to ``OUTPUT/_summary.json``.

    Raises
    ------
    SuggestError
        The source cannot be read, the model cannot be loaded, or the output was made by another job.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    started = time.monotonic()
    options = options or SparkOptions()
    shipped = ship_model(spark, job.model)
    output = OutputFolder(spark, job.output)
    identity = {"model_sha256": shipped.sha256, "model": shipped.reference, "model_version": shipped.version,
                "codeset_release": shipped.codeset_release, "format": job.output_format, "top_k": job.top_k,
                "setting": job.setting, "buckets": job.buckets}
    if job.overwrite and output.exists():
        output.delete()
    if output.exists(JOB_FILE):
        before = json.loads(output.read_text(JOB_FILE))
        changed = sorted(k for k in identity if before.get(k) != identity[k])
        if changed:
            raise SuggestError(f"{output.uri} was written by another job ({', '.join(f'{k} {before.get(k)!r}' for k in changed)}"
                               f"); resume it with the same settings, write elsewhere, or pass --overwrite")
    elif output.exists() and any(bucket_of(name) is not None for name in output.folders()):
        raise SuggestError(f"{output.uri} holds buckets of an unknown job; write elsewhere or pass --overwrite")
    else:
        output.write_text(JOB_FILE, json.dumps(identity, indent=1) + "\n")
    output.delete(ROUNDS_DIR)  # what a killed round left
    output.delete("_SUCCESS")

    done = {b for b in (bucket_of(name) for name in output.folders()) if b is not None}
    todo = [b for b in range(job.buckets) if b not in done]
    context = spark.sparkContext
    tasks = options.partitions or 2 * context.defaultParallelism
    per_round = job.buckets_per_round or 2 * context.defaultParallelism
    rounds = [todo[i: i + per_round] for i in range(0, len(todo), per_round)]
    task = SuggestTask(model=shipped, top_k=job.top_k, setting=job.setting, batch_size=job.batch_size)
    schema = f"{PREDICTION_SCHEMA}, bucket INT"
    fmt = "json" if job.output_format == "jsonl" else "parquet"

    charts = failed = 0
    frame = None
    if rounds:
        frame = (read_charts(spark, source)
                 .withColumn("bucket", F.pmod(F.xxhash64("id"), F.lit(job.buckets)).cast("int"))
                 .where(~F.col("bucket").isin(sorted(done)) if done else F.lit(True))
                 .persist(StorageLevel.DISK_ONLY))
    try:
        for number, buckets in enumerate(rounds, start=1):
            context.setJobDescription(f"suggest predict: round {number}/{len(rounds)} "
                                      f"(buckets {buckets[0]}-{buckets[-1]} of {job.buckets})")
            round_dir = (ROUNDS_DIR, uuid.uuid4().hex)
            (frame.where(F.col("bucket").isin(buckets)).repartition(tasks)
             .mapInArrow(partial(predict_batches, task=task, schema=arrow_schema(schema)), schema)
             .write.mode("overwrite").partitionBy("bucket").format(fmt).save(output.location(*round_dir)))
            written = spark.read.schema(schema).format(fmt).load(output.location(*round_dir))
            counts = written.agg(F.count(F.lit(1)), F.count("error")).first()
            charts += int(counts[0])
            failed += int(counts[1])
            present = set(output.folders(*round_dir))
            for bucket in buckets:
                name = f"{BUCKET_PREFIX}{bucket}"
                if name in present:
                    output.rename((*round_dir, name), (name,))
                else:  # no chart hashed here: marked done all the same
                    output.make(name)
            output.delete(*round_dir)
    finally:
        context.setJobDescription(None)
        if frame is not None:
            frame.unpersist()
    output.delete(ROUNDS_DIR)
    context.setJobDescription("suggest predict: summary")
    totals = spark.read.schema(schema).format(fmt).load(output.location()).agg(
        F.count(F.lit(1)), F.count("error")).first()
    context.setJobDescription(None)
    summary = PredictSummary(output=output.uri, model=shipped.reference, model_version=shipped.version,
                             codeset_release=shipped.codeset_release, charts=charts, failed=failed,
                             seconds=round(time.monotonic() - started, 2), buckets_written=len(todo),
                             buckets_skipped=len(done), rounds=len(rounds), output_charts=int(totals[0]),
                             output_failed=int(totals[1]))
    output.write_text(SUMMARY_FILE, json.dumps(asdict(summary), indent=1) + "\n")
    output.write_text("_SUCCESS", "")
    return summary
