"""Coding a backlog on Apache Spark: ``suggest predict --engine spark`` and ``suggest evaluate --engine spark``.

An optional part of the library (``pip install 'icd10cm-suggest[spark]'``); nothing else imports it, and it imports
pyspark only when a job runs.

- :mod:`suggest.spark.session`: the Spark session a job runs in (``local[*]`` by default, or what ``spark-submit``
  gives), with the JDBC drivers it finds.
- :mod:`suggest.spark.sources`: charts from Parquet, JSONL or CSV files, or from a database table over JDBC (the
  chart store's by default), as one DataFrame of ``id``, ``text``, ``specialty`` (and ``codes``).
- :mod:`suggest.spark.executor`: what runs on the executors: the model, verified on the driver and shipped with
  ``SparkContext.addFile``, loaded once per Python worker and run through the engine's batch path
  (``Suggester.suggest_batch``) in ``mapInArrow``; a chart that fails gets an ``error``, not a failed job.
- :mod:`suggest.spark.predict`: the resumable job: charts hashed into buckets by id, written in rounds, each
  bucket's folder moved into place once complete, so a killed job loses only the round it was in.
- :mod:`suggest.spark.evaluate`: the metrics of ``suggest evaluate`` (MAP, P@k, R@k, micro/macro F1, ECE), summed
  over the charts by Spark.
"""
