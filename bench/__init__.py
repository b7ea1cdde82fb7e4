"""Benchmarks, run as modules: ``python -m bench`` (all), ``python -m bench.engine`` (the suggestion engine:
accuracy, speed, memory, training time, robustness) and ``python -m bench.bench_api`` (the HTTP service).
See ``bench/README.md``."""
