"""``suggest predict``, ``suggest assess`` and ``suggest model sign``: run a model or the assertion step from the
command line, and vouch for a model folder."""

from __future__ import annotations

import argparse
import json
import sys

from suggest.commands.args import add_setting_argument
from suggest.spark.cli import add_engine_argument, add_predict_job_arguments


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "predict",
        help="suggest codes for every chart of a JSONL file",
        description="Writes one line per input chart: {\"id\", \"suggestions\": [...]}, best first.",
    )
    p.add_argument("--model", default="default", help="model folder, 'default' or models:/name@alias (default: default)")
    p.add_argument("--input", help="JSONL charts ({\"id\", \"text\", ...}); codes are not needed (with --engine "
                                   "spark: Parquet, JSONL or CSV, a file or a folder)")
    p.add_argument("--output", default="-", help="output JSONL (default: stdout; with --engine spark: a folder)")
    p.add_argument("--format", choices=("jsonl", "fhir"), default="jsonl",
                   help="the input's format: jsonl (the corpus format) or fhir (a DocumentReference, a Bundle, NDJSON, "
                        "or a folder of them)")
    p.add_argument("--top-k", type=int, default=20, help="suggestions per chart (default 20)")
    p.add_argument("--batch-size", type=int, default=256, help="charts per batch (default 256)")
    p.add_argument("--jobs", type=int, default=None,
                   help="processes sharing the work, the model inherited by forked workers (default: one per CPU, "
                        "at most 4)")
    add_setting_argument(p)
    add_engine_argument(p)
    add_predict_job_arguments(p)
    p.set_defaults(func=_predict)

    a = subparsers.add_parser(
        "assess",
        help="assertion flags (negated, historical, family, hypothetical, uncertain) of a span of text",
    )
    a.add_argument("text", help="the sentence or note")
    a.add_argument("span", help="the mention: its text (first occurrence) or START:END character offsets")
    a.set_defaults(func=_assess)

    m = subparsers.add_parser("model", help="model folders: sign one you trust so that it can be loaded")
    actions = m.add_subparsers(dest="action", metavar="ACTION", required=True)
    s = actions.add_parser(
        "sign",
        help="sign a model folder with this installation's key (after printing its sha256)",
        description="A model file is a pickle, which runs code when loaded, so only signed ones are loaded: those "
        "saved here are signed when saved. Sign a folder from elsewhere only if you trust it: compare the sha256 "
        "printed first with the one its author gives, or pass it with --sha256 to refuse any other file.",
    )
    s.add_argument("folder", help="the model folder (holding model.joblib)")
    s.add_argument("--sha256", help="sign only if model.joblib has this sha256")
    s.set_defaults(func=_sign)


def _predict(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    import suggest
    from suggest.corpus import iter_jsonl
    from suggest.errors import SuggestError

    if args.top_k < 1:
        raise SuggestError("--top-k must be at least 1")
    if args.engine == "spark":
        from suggest.spark.cli import run_predict_command

        if args.format == "fhir":
            raise SuggestError("--format fhir reads files on this machine: convert them with 'suggest data fhir' for "
                               "--engine spark")
        return run_predict_command(args)
    if args.input is None:
        raise SuggestError("give the charts with --input FILE.jsonl")
    if args.jobs is not None and args.jobs < 1:
        raise SuggestError("--jobs must be at least 1")
    jobs = args.jobs or min(_available_cpus(), 4)
    model = suggest.load_model(args.model)
    if args.format == "fhir":
        from suggest.fhir.files import read_fhir_charts

        charts = read_fhir_charts(args.input)
    else:
        charts = list(iter_jsonl(args.input, require_codes=False))
    out = sys.stdout if args.output == "-" else open(args.output + ".tmp", "w", encoding="utf-8")
    try:
        with tqdm(total=len(charts), unit="chart", disable=not sys.stderr.isatty(), desc="predict") as bar:
            for start in range(0, len(charts), args.batch_size):
                batch = charts[start: start + args.batch_size]
                results = model.suggest_batch([c.text for c in batch], top_k=args.top_k,
                                              specialties=[c.specialty for c in batch], n_jobs=jobs,
                                              setting=args.setting, patients=[_patient(c.meta) for c in batch])
                for chart, result in zip(batch, results, strict=True):
                    line = {"id": chart.id, "setting": result.setting,
                            "suggestions": [s.to_dict() for s in result.suggestions]}
                    if result.warnings:
                        line["warnings"] = result.warnings
                    out.write(json.dumps(line, ensure_ascii=False) + "\n")
                bar.update(len(batch))
    finally:
        if out is not sys.stdout:
            out.close()
    if out is not sys.stdout:
        import os

        os.replace(args.output + ".tmp", args.output)
    return 0


def _patient(meta: dict):
    """The patient's sex and age a chart's ``meta`` gives (FHIR documents carry them), else None: read from the text."""
    from suggest.encoder.patient import Patient

    sex = meta.get("sex") if meta.get("sex") in ("female", "male") else None
    age = float(meta["age_years"]) if isinstance(meta.get("age_years"), int | float) else None
    return Patient(sex, age) if sex or age is not None else None


def _available_cpus() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _assess(args: argparse.Namespace) -> int:
    import suggest
    from suggest.errors import SuggestError

    if ":" in args.span and all(part.isdigit() for part in args.span.split(":", 1)):
        start, end = (int(x) for x in args.span.split(":", 1))
    else:
        start = args.text.find(args.span)
        if start < 0:
            raise SuggestError(f"span {args.span!r} does not occur in the text")
        end = start + len(args.span)
    try:
        flags = suggest.assess(args.text, start, end)
    except ValueError as exc:
        raise SuggestError(str(exc)) from None
    print(json.dumps({"start": start, "end": end, "text": args.text[start:end], "assertion": flags}))
    return 0


def _sign(args: argparse.Namespace) -> int:
    from pathlib import Path

    from suggest.errors import ModelNotFoundError
    from suggest.model.integrity import MODEL_FILE, SIGNATURE_FILE, file_sha256, model_signing_key, sign
    from suggest.secret import secret_path

    folder = Path(args.folder)
    if folder.name == MODEL_FILE:
        folder = folder.parent
    if not (folder / MODEL_FILE).is_file():
        raise ModelNotFoundError(f"no {MODEL_FILE} in {folder}")
    print(f"{file_sha256(folder / MODEL_FILE)}  {folder / MODEL_FILE}", flush=True)
    signature = sign(folder, model_signing_key(), args.sha256)
    print(f"signed {signature.sha256} in {folder / SIGNATURE_FILE} (key derived from {secret_path()})")
    return 0
