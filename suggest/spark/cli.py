"""The command-line side of the Spark jobs: the options ``suggest predict`` and ``suggest evaluate`` take with
``--engine spark``, and the predict handler (also behind ``python -m suggest.spark`` for ``spark-submit``)."""

from __future__ import annotations

import argparse
import sys

from suggest.commands.args import positive_int
from suggest.errors import SuggestError

ENGINES = ("local", "spark")


def add_engine_argument(parser: argparse.ArgumentParser) -> None:
    """``--engine local|spark`` and the Spark options (read only with ``--engine spark``)."""
    parser.add_argument("--engine", choices=ENGINES, default="local",
                        help="local: this process (and --jobs forked workers); spark: an Apache Spark job "
                             "(pip install 'icd10cm-suggest[spark]')")
    group = parser.add_argument_group("Spark (--engine spark)")
    group.add_argument("--master", help="Spark master URL (default: spark-submit's, else local[*])")
    group.add_argument("--partitions", type=positive_int, help="tasks per round (default: twice the default parallelism)")
    group.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                       help="a Spark setting passed through, e.g. spark.executor.memory=4g (repeatable)")
    group.add_argument("--input-format", choices=("parquet", "jsonl", "csv"),
                       help="format of --input/--data (default: from the extension)")
    group.add_argument("--jdbc", metavar="URL",
                       help="read the charts over JDBC instead of a file: a JDBC URL or the chart store's "
                            "SQLAlchemy URL (sqlite:///var/charts.db); without --table/--query, the chart store's "
                            "charts (and codes)")
    group.add_argument("--table", help="with --jdbc: the table to read")
    group.add_argument("--query", help="with --jdbc: the SQL query to read")
    for name in ("id", "text", "specialty", "codes"):
        group.add_argument(f"--{name}-column", default=name, help=f"the column holding the chart's {name} "
                                                                 f"(default {name})")


def add_predict_job_arguments(parser: argparse.ArgumentParser) -> None:
    """The options only ``suggest predict --engine spark`` takes."""
    group = parser.add_argument_group("Spark output (predict --engine spark)")
    group.add_argument("--output-format", choices=("parquet", "jsonl"), default="parquet",
                       help="with --engine spark: the output folder's format (default parquet)")
    group.add_argument("--buckets", type=positive_int, default=64,
                       help="with --engine spark: charts are hashed into this many buckets by id, each written "
                            "once complete (default 64)")
    group.add_argument("--buckets-per-round", type=positive_int, help="buckets written per Spark job (default: twice the "
                                                              "default parallelism)")
    group.add_argument("--overwrite", action="store_true", help="replace an output folder another job wrote")


def chart_source(args: argparse.Namespace, path: str | None):
    from pydantic import ValidationError

    from suggest.spark.sources import ChartSource

    if args.jdbc and path:
        raise SuggestError("give --jdbc or a file, not both")
    if not args.jdbc and not path:
        raise SuggestError("give the charts: a file or folder, or --jdbc URL")
    if (args.table or args.query) and not args.jdbc:
        raise SuggestError("--table and --query go with --jdbc")
    try:
        return ChartSource(path=path, format=args.input_format, jdbc_url=args.jdbc, table=args.table,
                           query=args.query, id_column=args.id_column, text_column=args.text_column,
                           specialty_column=args.specialty_column, codes_column=args.codes_column)
    except ValidationError as exc:
        raise SuggestError(exc.errors()[0]["msg"]) from None


def spark_options(args: argparse.Namespace):
    """The Spark session's options from the command line."""
    from suggest.spark.session import SparkOptions, parse_conf

    return SparkOptions(master=args.master, partitions=args.partitions, conf=parse_conf(args.conf))


def run_predict_command(args: argparse.Namespace) -> int:
    """``suggest predict --engine spark``: the job, then its one-line summary on stderr."""
    from pydantic import ValidationError

    from suggest.spark.predict import PredictJob, run_predict
    from suggest.spark.session import spark_session

    if args.output in (None, "-"):
        raise SuggestError("--engine spark writes a folder: give --output DIR")
    source = chart_source(args, args.input)
    try:
        job = PredictJob(model=args.model, output=args.output, output_format=args.output_format, top_k=args.top_k,
                         setting=args.setting, buckets=args.buckets, buckets_per_round=args.buckets_per_round,
                         batch_size=args.batch_size, overwrite=args.overwrite)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise SuggestError(f"--{str(error['loc'][0]).replace('_', '-')}: {error['msg']}") from None
    options = spark_options(args)
    spark = spark_session(options)
    announce_ui(spark)
    summary = run_predict(spark, source, job, options)
    print(summary.line(), file=sys.stderr)
    return 0


def announce_ui(spark) -> None:
    """Say where Spark's UI shows the job's progress (each round is a job named after it)."""
    url = spark.sparkContext.uiWebUrl
    if url:
        print(f"Spark UI (progress of each round): {url}", file=sys.stderr)
