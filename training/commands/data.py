"""``suggest data``: build JSONL corpora (CodiEsp conversion, CSV import, FHIR documents, synthetic charts)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from suggest.commands.args import positive_int, print_usage


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "data",
        help="build JSONL corpora: convert CodiEsp, import CSV or FHIR, generate synthetic charts",
        description="Build corpora in the project's JSONL format (one chart per line).",
    )
    group = parser.add_subparsers(dest="data_command", metavar="SOURCE")

    codiesp = group.add_parser("codiesp", help="convert a CodiEsp split folder (English texts + diagnosis TSV)")
    codiesp.add_argument("dir", type=Path, help="split folder holding text_files_en/ and <split>D.tsv")
    codiesp.add_argument(
        "--split", choices=("train", "dev", "test"), help="which split (default: the folder's name)"
    )
    codiesp.add_argument("--output", "-o", required=True, help="JSONL file to write ('-' for stdout)")
    codiesp.set_defaults(func=_run_codiesp)

    csv_cmd = group.add_parser("csv", help="import a CSV file with columns id,text,codes[,specialty]")
    csv_cmd.add_argument("file", type=Path, help="CSV file; codes separated by ';'")
    csv_cmd.add_argument("--output", "-o", required=True, help="JSONL file to write ('-' for stdout)")
    csv_cmd.set_defaults(func=_run_csv)

    fhir = group.add_parser("fhir", help="read FHIR R4 documents (DocumentReference, Bundle, document Bundle, NDJSON)")
    fhir.add_argument("path", type=Path, help="a FHIR JSON or NDJSON file, or a folder of them")
    fhir.add_argument("--output", "-o", required=True, help="JSONL file to write ('-' for stdout)")
    fhir.set_defaults(func=_run_fhir)

    synth = group.add_parser("synth", help="generate synthetic coded outpatient charts")
    synth.add_argument("--n", type=positive_int, default=1000, help="number of charts (default 1000)")
    synth.add_argument("--seed", type=int, default=7, help="random seed; same seed, same corpus (default 7)")
    synth.add_argument("--output", "-o", required=True, help="JSONL file to write ('-' for stdout)")
    synth.set_defaults(func=_run_synth)

    parser.set_defaults(func=lambda args: print_usage(parser))


def _say(args: argparse.Namespace, message: str) -> None:
    # The summary goes to stderr when the corpus itself goes to stdout.
    print(message, file=sys.stderr if args.output == "-" else sys.stdout)


def _run_fhir(args: argparse.Namespace) -> int:
    from suggest.corpus import write_jsonl
    from suggest.fhir.files import read_fhir_charts

    charts = read_fhir_charts(args.path)
    write_jsonl(charts, args.output)
    coded = sum(1 for c in charts if c.codes)
    _say(args, f"wrote {len(charts)} charts to {args.output} ({coded} with ICD-10-CM codes from the Conditions)")
    return 0


def _run_codiesp(args: argparse.Namespace) -> int:
    from suggest.corpus import write_jsonl
    from suggest.errors import SuggestError
    from training.codiesp import SPLITS, read_codiesp

    split = args.split or args.dir.name
    if split not in SPLITS:
        raise SuggestError(f"cannot tell the split from the folder name '{args.dir.name}': pass --split train|dev|test")
    charts, report = read_codiesp(args.dir, split)
    write_jsonl(charts, args.output)
    _say(args, f"wrote {len(charts)} charts to {args.output}\n{report.summary()}")
    return 0


def _run_csv(args: argparse.Namespace) -> int:
    from suggest.corpus import write_jsonl
    from training.csv_import import read_csv_charts

    charts = read_csv_charts(args.file)
    write_jsonl(charts, args.output)
    labels = sum(len(chart.codes) for chart in charts)
    distinct = len({code for chart in charts for code in chart.codes})
    uncoded = sum(1 for chart in charts if not chart.codes)
    _say(
        args,
        f"wrote {len(charts)} charts to {args.output}\n"
        f"codes: {labels} labels, {distinct} distinct; {uncoded} charts without codes",
    )
    return 0


def _run_synth(args: argparse.Namespace) -> int:
    from suggest.corpus import write_jsonl
    from training.synth import generate_charts

    started = time.perf_counter()
    charts = generate_charts(args.n, args.seed)
    write_jsonl(charts, args.output)
    elapsed = time.perf_counter() - started
    distinct = len({code for chart in charts for code in chart.codes})
    by_specialty: dict[str, int] = {}
    for chart in charts:
        by_specialty[chart.specialty or "?"] = by_specialty.get(chart.specialty or "?", 0) + 1
    spread = ", ".join(f"{name} {count}" for name, count in sorted(by_specialty.items()))
    _say(
        args,
        f"wrote {len(charts)} synthetic charts (seed {args.seed}) to {args.output} in {elapsed:.1f} s\n"
        f"codes: {sum(len(c.codes) for c in charts)} labels, {distinct} distinct\n"
        f"specialties: {spread}",
    )
    return 0
