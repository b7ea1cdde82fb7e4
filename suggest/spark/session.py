"""The Spark session a job runs in."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from suggest.errors import SuggestError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: JDBC drivers looked for when the session is built here (Debian's packages ``libxerial-sqlite-jdbc-java`` and
#: ``libpostgresql-jdbc-java``); under ``spark-submit``, pass ``--jars`` instead.
JDBC_DRIVER_JARS = (Path("/usr/share/java/xerial-sqlite-jdbc.jar"), Path("/usr/share/java/postgresql.jar"))
INSTALL_ADVICE = "pyspark is not installed: pip install 'icd10cm-suggest[spark]' (Java 17 or newer is needed too)"


class SparkOptions(BaseModel):
    """How to run a Spark job. Unset values are left to ``spark-submit`` or Spark's defaults."""

    model_config = ConfigDict(extra="forbid")

    master: str | None = None
    """Spark master URL; None: the one ``spark-submit`` gives, else ``local[*]``."""
    app_name: str = "icd10cm-suggest"
    partitions: int | None = Field(default=None, ge=1)
    """Tasks per round of a job; None: the cluster's default parallelism."""
    conf: dict[str, str] = Field(default_factory=dict)
    """Spark settings passed through (``spark.executor.memory``, ``spark.executor.cores``, ...)."""


def require_pyspark() -> None:
    """Raise a SuggestError with the install advice when pyspark is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise SuggestError(INSTALL_ADVICE) from None


def spark_session(options: SparkOptions | None = None) -> SparkSession:
    """Get or create the session: ``options.master`` (else the submitted master, else ``local[*]``) and the options'
    settings; in local mode also this Python for the workers (unless ``PYSPARK_PYTHON`` says otherwise) and the JDBC
    drivers installed on this machine."""
    require_pyspark()
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    options = options or SparkOptions()
    submitted = SparkConf()
    builder = SparkSession.builder.appName(options.app_name)
    master = options.master or submitted.get("spark.master", None) or "local[*]"
    if master.startswith("local"):  # elsewhere the cluster's Python is spark-submit's or PYSPARK_PYTHON's to say
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = builder.master(master)
    settings = dict(options.conf)
    jars = [str(p) for p in JDBC_DRIVER_JARS if p.is_file()]
    if master.startswith("local") and jars and "spark.jars" not in settings and not submitted.contains("spark.jars"):
        settings["spark.jars"] = ",".join(jars)
    settings.setdefault("spark.ui.showConsoleProgress", "true" if sys.stderr.isatty() else "false")
    if not submitted.contains("spark.python.daemon.module"):  # workers share the engine's libraries and code set
        settings.setdefault("spark.python.daemon.module", "suggest.spark.daemon")
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # Java missing or the master unreachable: py4j's errors are long and unhelpful
        raise SuggestError(f"could not start Spark ({master}): {str(exc).splitlines()[0] if str(exc) else exc!r}; "
                           "Spark needs Java 17 or newer (JAVA_HOME or java on PATH)") from None
    if not sys.stderr.isatty():
        spark.sparkContext.setLogLevel("WARN")
    return spark


def parse_conf(pairs: list[str]) -> dict[str, str]:
    """``--conf KEY=VALUE`` arguments as a dict (a SuggestError names the malformed one)."""
    conf: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SuggestError(f"--conf {pair!r}: expected KEY=VALUE, e.g. spark.executor.memory=4g")
        conf[key.strip()] = value
    return conf
