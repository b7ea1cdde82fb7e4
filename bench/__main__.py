"""``python -m bench [engine options]``: the engine benchmark, then (if present) the HTTP service benchmark.

Options are those of ``python -m bench.engine`` (``--sections``, ``--quick``, ``--json``); with ``--quick`` the
service benchmark runs shortened (5 s open loop, 3 s max throughput).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bench.engine`` then ``bench.bench_api``; returns the worst exit status."""
    from bench import engine

    args = list(sys.argv[1:] if argv is None else argv)
    status = engine.main(args)
    if importlib.util.find_spec("bench.bench_api") is None:
        print("\nbench.bench_api is not present: the service benchmark is skipped")
        return status
    from bench import bench_api

    print("\n=== service (python -m bench.bench_api) ===", flush=True)
    api_args = ["--seconds", "5", "--max-seconds", "3"] if "--quick" in args else []
    return max(status, bench_api.main(api_args))


if __name__ == "__main__":
    sys.exit(main())
