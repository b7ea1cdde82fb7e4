"""``suggest import`` and ``suggest analytics``: the coding department's commands on the server's chart store
(``DATABASE_URL``), for files too large for the page and for maintenance."""

from __future__ import annotations

import argparse
from pathlib import Path

from api.commands.tokens import store_sessions


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "import", help="import a JSONL, CSV or FHIR file of charts into the worklist",
        description="Save the file's charts as new charts of the queue (all or nothing: a bad record is reported with "
                    "its line and nothing is saved). Their suggestions are computed by the running service's "
                    "background worker, or here with --precompute.")
    p.add_argument("file", type=Path)
    p.add_argument("--format", choices=("jsonl", "csv", "fhir"), help="default: from the file's suffix")
    p.add_argument("--user", default=None, help="who imports (recorded; default: your login name)")
    p.add_argument("--priority", choices=("low", "normal", "high", "urgent"), help="for records that give none")
    p.add_argument("--specialty", help="for records that give none")
    p.add_argument("--precompute", action="store_true", help="compute the suggestions now, in this process")
    p.set_defaults(func=_import)

    a = subparsers.add_parser("analytics", help="maintain the department's analytics")
    sub = a.add_subparsers(dest="analytics_command", metavar="ACTION", required=True)
    r = sub.add_parser("rebuild", help="recompute the summary counters from every chart (after a restore, or for a "
                                       "store made before them)")
    r.set_defaults(func=_rebuild)


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    return {".csv": "csv", ".jsonl": "jsonl"}.get(suffix, "fhir")


def _import(args: argparse.Namespace) -> int:
    import getpass

    from api.auth import Principal
    from api.chart_checks import checked_codes, checked_specialty
    from api.errors import ApiError
    from api.imports import precompute_once, read_import, start_import
    from api.modelhost import serve_model
    from api.schemas import ImportDefaults, ImportRequest
    from suggest.codeset import load_codeset
    from suggest.errors import DataFormatError, SuggestError

    try:
        content = args.file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(str(args.file), None, f"cannot read it ({type(exc).__name__})") from None
    body = ImportRequest(format=args.format or _format_of(args.file), content=content, filename=args.file.name,
                         defaults=ImportDefaults(priority=args.priority, specialty=args.specialty))
    try:
        charts = read_import(body)  # the file first: a bad record is reported before the model loads
    except ApiError as exc:
        raise SuggestError(f"{args.file}: {exc.message.removeprefix(args.file.name + ': ')}") from None
    codeset = load_codeset()
    from api.config import ApiConfig

    served = serve_model(ApiConfig.from_env().model_ref)  # what suggest serve would serve
    who = Principal(token_id=0, user=args.user or getpass.getuser(), role="coder")

    def check(chart, i: int) -> None:
        checked_codes(chart.codes, codeset, "refuse", field=f"record {i + 1}: codes")
        chart.specialty = checked_specialty(chart.specialty, served.model, field=f"record {i + 1}: specialty")

    sessions = store_sessions()
    try:
        with sessions() as session, session.begin():
            job, ids = start_import(session, body, charts, who, check)
    except ApiError as exc:
        raise SuggestError(f"{args.file}: {exc.message.removeprefix(args.file.name + ': ')}"
                           + (f" ({exc.field})" if exc.field and exc.field != "content" else "")) from None
    print(f"imported {len(ids)} charts into the queue (import {job.id}, charts {ids[0]}..{ids[-1]})")
    if args.precompute:
        done = 0
        while n := precompute_once(sessions, served, "cli"):
            done += n
        print(f"suggestions computed for {done} charts")
    else:
        print("their suggestions are computed by the running service (suggest serve) in the background")
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    from api.analytics import rebuild

    with store_sessions()() as session, session.begin():
        counted = rebuild(session)
    print(f"analytics counters rebuilt from {counted} live charts")
    return 0
