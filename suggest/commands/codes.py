"""``suggest codes``: look up, search and validate ICD-10-CM codes.

    suggest codes show E11.22 [--json]
    suggest codes search "heart failure" [--limit 10] [--billable-only] [--json]
    suggest codes validate E11.22 E11 E11.99 [--json]      # exit 1 if any code is invalid
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from suggest.commands.args import positive_int, print_usage


def register(subparsers) -> None:
    """Add the ``codes`` command group."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--xml", type=Path, default=None, metavar="PATH",
        help="tabular-list XML of another release (default: FY2026 from simple-icd-10-cm)",
    )
    common.add_argument("--json", action="store_true", help="print JSON instead of text")

    parser = subparsers.add_parser(
        "codes",
        help="look up, search and validate ICD-10-CM codes",
        description="Look up, search and validate codes of the ICD-10-CM code set.",
    )
    group = parser.add_subparsers(dest="codes_command", metavar="ACTION")

    show = group.add_parser(
        "show", parents=[common], help="a code with its hierarchy and notes",
        description="Print a code, its description, billable status, hierarchy and every instructional note.",
    )
    show.add_argument("code", help="a code, with or without the dot (E11.22, e1122)")
    show.set_defaults(func=_run_show)

    search = group.add_parser(
        "search", parents=[common], help="ranked keyword search over descriptions and inclusion terms",
        description="Search descriptions and inclusion terms; a code as the query lists that code and the codes under it.",
    )
    search.add_argument("query", help='words ("heart failure") or a code ("E11.2")')
    search.add_argument("--limit", type=positive_int, default=10, help="number of results (default 10)")
    search.add_argument("--billable-only", action="store_true", help="only billable codes")
    search.set_defaults(func=_run_search)

    validate = group.add_parser(
        "validate", parents=[common], help="check codes: billable, not billable or invalid",
        description="Check codes against the code set. Exit status 1 if any code is invalid.",
    )
    validate.add_argument("codes", nargs="+", metavar="CODE", help="codes to check ('-' reads them from stdin)")
    validate.set_defaults(func=_run_validate)

    parser.set_defaults(func=lambda args: print_usage(parser))


def _codeset(args: argparse.Namespace):
    from suggest.codeset import load_codeset

    return load_codeset(args.xml)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _run_show(args: argparse.Namespace) -> int:
    from suggest.errors import SuggestError

    codes = _codeset(args)
    info = codes.get(args.code)
    if info is None:
        near = codes.near_matches(args.code, 5)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise SuggestError(f"{codes.normalize(args.code) or args.code!r} is not an ICD-10-CM code in {codes.release}{hint}")
    ancestors = codes.ancestors(info.code)
    if args.json:
        data = info.to_dict()
        data["release"] = codes.release
        data["ancestors"] = [{"code": c, "description": codes.description(c)} for c in ancestors]
        data["seventh_character_stem"] = codes.seventh_character_stem(info.code)
        data["from_ancestors"] = {
            kind: [{"code": c, "note": n} for c, n in codes.ancestor_notes(info.code, kind)]
            for kind in ("inclusion_terms", "excludes1", "excludes2", "code_also")
        }
        _print_json(data)
        return 0

    lines = [
        f"{info.code}  {info.description}",
        f"  Billable:  {'yes' if info.billable else 'no'}",
        f"  Release:   {codes.release}",
        f"  Chapter:   {info.chapter}  {info.chapter_title}",
        f"  Block:     {info.block}  {info.block_title}",
    ]
    lines += _code_list("Ancestors", ancestors, codes)
    lines += _code_list("Children", list(info.children), codes, limit=25)
    if not info.billable:
        below = codes.billable_descendants(info.code)
        if below and list(info.children) != below:
            lines += _code_list(f"Billable codes under it ({len(below)})", below, codes, limit=5)
    sections = [
        ("Inclusion terms", info.inclusion_terms),
        ("Excludes1", info.excludes1),
        ("Excludes2", info.excludes2),
        ("Code first", info.code_first),
        ("Use additional code", info.use_additional_code),
        ("Code also", info.code_also),
        ("Notes", info.notes),
    ]
    inherited = {"Excludes1": "excludes1", "Excludes2": "excludes2", "Code also": "code_also"}
    for title, notes in sections:
        from_above = codes.ancestor_notes(info.code, inherited[title]) if title in inherited else []
        if notes or from_above:
            lines.append(f"  {title}:")
            lines += [f"    - {note}" for note in notes]
            lines += [f"    - {note}  (from {source})" for source, note in from_above]
    if info.seventh_characters:
        lines.append("  7th characters:")
        lines += [f"    {char}  {meaning}" for char, meaning in info.seventh_characters.items()]
    print("\n".join(lines))
    return 0


def _code_list(title: str, items: list[str], codes, limit: int | None = None) -> list[str]:
    label = f"  {title}:"
    if not items:
        return [f"{label} (none)"]
    shown = items if limit is None else items[:limit]
    width = max(len(c) for c in shown)
    out = [label] + [f"    {c:<{width}}  {codes.description(c)}" for c in shown]
    if len(shown) < len(items):
        out.append(f"    ... and {len(items) - len(shown)} more")
    return out


def _run_search(args: argparse.Namespace) -> int:
    codes = _codeset(args)
    hits = codes.search(args.query, limit=args.limit, billable_only=args.billable_only)
    if args.json:
        rows = [{**h.to_dict(), "billable": codes.is_billable(h.code)} for h in hits]
        _print_json({"release": codes.release, "query": args.query, "hits": rows})
        return 0
    if not hits:
        print(f"no code matches {args.query!r}", file=sys.stderr)
        return 0
    width = max(len(h.code) for h in hits)
    print(f"{'#':>3}  {'CODE':<{width}}  {'SCORE':>7}  BILL  DESCRIPTION")
    for rank, hit in enumerate(hits, 1):
        billable = "yes" if codes.is_billable(hit.code) else "no"
        line = f"{rank:>3}  {hit.code:<{width}}  {hit.score:>7.2f}  {billable:<4}  {hit.description}"
        if hit.matched_term and hit.matched_term not in (hit.description, hit.code) and not hit.description.startswith(
            hit.matched_term
        ):
            line += f"  [matched: {hit.matched_term}]"
        print(line)
    return 0


def _run_validate(args: argparse.Namespace) -> int:
    codes = _codeset(args)
    wanted = [c for item in args.codes for c in (sys.stdin.read().split() if item == "-" else [item])]
    results = [codes.validate(code) for code in wanted]
    if args.json:
        _print_json({"release": codes.release, "results": [r.to_dict() for r in results]})
    else:
        width = max((len(r.code) for r in results), default=4)
        for result in results:
            if result.status == "billable":
                detail = result.description
            elif result.status == "not_billable":
                below = result.billable_descendants[:5]
                more = ", ..." if len(result.billable_descendants) > 5 else ""
                detail = f"{result.description}; billable codes under it: {', '.join(below)}{more}"
            else:
                near = result.near_matches[:5]
                detail = f"did you mean {', '.join(near)}?" if near else "no similar code"
            print(f"{result.code:<{width}}  {result.status.replace('_', ' '):<12}  {detail}")
    return 1 if any(r.status == "invalid" for r in results) else 0
