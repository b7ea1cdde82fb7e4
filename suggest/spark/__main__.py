"""``spark-submit`` entry point: ``spark-submit [spark options] $(python -c 'import suggest.spark.__main__ as m;
print(m.__file__)') [suggest predict options]``, or ``python -m suggest.spark [options]``.

Runs ``suggest predict --engine spark`` with the options given (``python -m suggest.spark --help``); under
``spark-submit`` the master and the executors' settings come from it unless ``--master`` and ``--conf`` say otherwise.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from suggest.cli import main as suggest_main

    return suggest_main(["predict", "--engine", "spark", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
