"""Spark's Python daemon for the suggestion jobs (``spark.python.daemon.module``): it imports the engine, loads the
code set and the spaCy pipeline and freezes them (``Suggester.load``'s ``settle_runtime``) before it forks its Python
workers, so every worker of an executor shares those pages instead of loading its own; each worker then loads only
the shipped model. Without pyspark's own daemon being replaced, each worker imported and loaded all of it itself.
"""

from __future__ import annotations

if __name__ == "__main__":
    from suggest.model.suggester import settle_runtime

    settle_runtime()
    from pyspark.daemon import manager

    manager()
