"""Charts for a Spark job: Parquet, JSONL or CSV files, or a database table over JDBC.

Every source becomes one DataFrame with the columns ``id`` (string), ``text`` (string), ``specialty`` (string, may be
null) and, for evaluation, ``codes`` (array of strings), plus ``source_error`` (string): why a row cannot be coded
(a malformed JSON line, a missing id or text), which the job writes to that chart's ``error`` instead of failing.

- **Files**: the format comes from the extension (``.parquet``, ``.jsonl``/``.json``/``.ndjson``, ``.csv``) or
  ``ChartSource.format``; a folder is read as one dataset of that format. JSONL lines are the corpus format of
  :mod:`suggest.corpus`; CSV has a header row and ``codes`` separated by ``;`` (as ``suggest data import-csv``).
- **JDBC**: ``jdbc_url`` is a JDBC URL (``jdbc:sqlite:/srv/var/charts.db``, ``jdbc:postgresql://host/db``) or the
  chart store's SQLAlchemy URL (``sqlite:///var/charts.db``, ``postgresql+psycopg://user:pw@host/db``), converted.
  With no ``table`` or ``query`` the chart store's own tables are read: ``charts`` (not deleted) and their codes
  from ``chart_codes`` in order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, model_validator

from suggest.errors import SuggestError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

FileFormat = Literal["parquet", "jsonl", "csv"]
EXTENSIONS: dict[str, FileFormat] = {".parquet": "parquet", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl",
                                     ".csv": "csv"}
CORRUPT = "_corrupt_record"
#: The chart store's charts, as the service keeps them (``api/db.py``): deleted ones left out.
STORE_CHARTS_QUERY = "SELECT id, text, specialty FROM charts WHERE deleted_at IS NULL"
STORE_CODES_QUERY = "SELECT chart_id, code, position FROM chart_codes"


class ChartSource(BaseModel):
    """Where the charts come from: ``path`` (a file or folder) or ``jdbc_url``, and the columns to read."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    format: FileFormat | None = None
    jdbc_url: str | None = None
    table: str | None = None
    query: str | None = None
    id_column: str = "id"
    text_column: str = "text"
    specialty_column: str = "specialty"
    codes_column: str = "codes"

    @model_validator(mode="after")
    def _one_source(self) -> ChartSource:
        if (self.path is None) == (self.jdbc_url is None):
            raise ValueError("give either a path or a JDBC URL")
        if self.table and self.query:
            raise ValueError("give a table or a query, not both")
        return self

    def describe(self) -> str:
        """The source for messages, without a password."""
        if self.path is not None:
            return self.path
        url, _properties = jdbc_connection(self.jdbc_url or "")
        what = f"table {self.table}" if self.table else "query" if self.query else "the chart store's charts"
        return f"{url} ({what})"

    def file_format(self) -> FileFormat:
        if self.format:
            return self.format
        name = (self.path or "").rstrip("/")
        for extension, fmt in EXTENSIONS.items():
            if name.lower().endswith(extension):
                return fmt
        raise SuggestError(f"{self.path}: cannot tell the format from the name; give --input-format "
                           f"({', '.join(sorted(set(EXTENSIONS.values())))})")


def jdbc_connection(url: str) -> tuple[str, dict[str, str]]:
    """A JDBC URL and its connection properties (user, password, driver) from a JDBC or SQLAlchemy URL."""
    if url.startswith("jdbc:"):
        driver = {"jdbc:sqlite:": "org.sqlite.JDBC", "jdbc:postgresql:": "org.postgresql.Driver"}
        found = next((d for prefix, d in driver.items() if url.startswith(prefix)), None)
        return url, ({"driver": found} if found else {})
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "sqlite":
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if not path:
            raise SuggestError(f"{url}: an SQLite URL needs a file path (sqlite:///var/charts.db)")
        return f"jdbc:sqlite:{path}", {"driver": "org.sqlite.JDBC"}
    if scheme in ("postgresql", "postgres"):
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        properties = {"driver": "org.postgresql.Driver"}
        if parts.username:
            properties["user"] = unquote(parts.username)
        if parts.password:
            properties["password"] = unquote(parts.password)
        return f"jdbc:postgresql://{host}{port}{parts.path}", properties
    raise SuggestError(f"{url.split(':', 1)[0]}: not a JDBC URL nor an SQLite/PostgreSQL SQLAlchemy URL")


def read_charts(spark: SparkSession, source: ChartSource, *, with_codes: bool = False) -> DataFrame:
    """The charts of ``source`` as ``id, text, specialty[, codes], source_error`` (see the module docstring).

    Raises
    ------
    SuggestError
        The source cannot be read, or lacks a required column (the message names the source and the column).
    """
    frame = _read_jdbc(spark, source, with_codes) if source.jdbc_url else _read_files(spark, source, with_codes)
    return _standard_columns(frame, source, with_codes)


def _read_files(spark: SparkSession, source: ChartSource, with_codes: bool) -> DataFrame:
    from pyspark.errors import AnalysisException

    fmt = source.file_format()
    reader = spark.read
    try:
        if fmt == "parquet":
            return reader.parquet(source.path)
        if fmt == "csv":
            return reader.options(header=True, multiLine=True, escape='"', mode="PERMISSIVE").csv(source.path)
        # Read every field as it is written (a numeric id stays readable) and keep malformed lines as errors.
        schema = ", ".join(f"`{c}` STRING" for c in _wanted(source, with_codes) if c != source.codes_column)
        if with_codes:
            schema += f", `{source.codes_column}` ARRAY<STRING>"
        return reader.schema(f"{schema}, `{CORRUPT}` STRING").options(
            mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT).json(source.path)
    except AnalysisException as exc:
        raise SuggestError(f"{source.path}: cannot read it as {fmt}: {str(exc).splitlines()[0]}") from None


def _read_jdbc(spark: SparkSession, source: ChartSource, with_codes: bool) -> DataFrame:
    from pyspark.sql import functions as F

    url, properties = jdbc_connection(source.jdbc_url or "")

    def load(**options: str) -> DataFrame:
        try:
            return spark.read.format("jdbc").option("url", url).options(**properties).options(**options).load()
        except Exception as exc:  # py4j wraps the driver's SQLException
            first = str(exc).splitlines()[0] if str(exc) else repr(exc)
            raise SuggestError(f"{url}: cannot read over JDBC: {first}") from None

    if source.table:
        return load(dbtable=source.table)
    if source.query:
        return load(query=source.query)
    charts = load(query=STORE_CHARTS_QUERY)
    if not with_codes:
        return charts
    codes = (load(query=STORE_CODES_QUERY)
             .groupBy("chart_id")
             .agg(F.array_sort(F.collect_list(F.struct("position", "code"))).alias("_ordered")))
    return (charts.join(codes, charts["id"] == codes["chart_id"], "left")
            .withColumn(source.codes_column, F.coalesce(F.col("_ordered.code"), F.array().cast("array<string>")))
            .drop("chart_id", "_ordered"))


def _wanted(source: ChartSource, with_codes: bool) -> list[str]:
    columns = [source.id_column, source.text_column, source.specialty_column]
    return columns + [source.codes_column] if with_codes else columns


def _standard_columns(frame: DataFrame, source: ChartSource, with_codes: bool) -> DataFrame:
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType

    found = set(frame.columns)
    required = [source.id_column, source.text_column] + ([source.codes_column] if with_codes else [])
    missing = [c for c in required if c not in found]
    if missing:
        raise SuggestError(f"{source.describe()}: no column {missing[0]!r} (columns: "
                           f"{', '.join(sorted(c for c in found if c != CORRUPT)) or 'none'})")
    specialty = (F.col(source.specialty_column).cast("string") if source.specialty_column in found
                 else F.lit(None).cast("string"))
    columns = [F.col(source.id_column).cast("string").alias("id"), F.col(source.text_column).cast("string")
               .alias("text"), specialty.alias("specialty")]
    if with_codes:
        codes = F.col(source.codes_column)
        if not isinstance(frame.schema[source.codes_column].dataType, ArrayType):  # CSV: "E11.22; N18.31"
            codes = F.filter(F.transform(F.split(codes.cast("string"), ";"), lambda c: F.trim(c)), lambda c: c != "")
        columns.append(F.coalesce(codes.cast("array<string>"), F.array().cast("array<string>")).alias("codes"))
    problem = (F.when(F.col(CORRUPT).isNotNull(), F.concat(F.lit("malformed record in "), F.input_file_name(),
                                                           F.lit(" (not a JSON object of the corpus format)")))
               if CORRUPT in found else F.lit(None))
    problem = (F.when(problem.isNotNull(), problem)
               .when(F.col(source.id_column).isNull() | (F.trim(F.col(source.id_column).cast("string")) == ""),
                     F.lit("no id"))
               .when(F.col(source.text_column).isNull(), F.lit("no text")))
    return frame.select(*columns, problem.cast("string").alias("source_error"))
