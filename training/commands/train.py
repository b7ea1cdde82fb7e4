"""Training, evaluation and registry subcommands: train, evaluate, compare, promote, rollback, registry.

Only argparse lives at import time; handlers import training modules (and MLflow) when they run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from suggest.commands.args import add_setting_argument
from suggest.errors import SuggestError
from suggest.spark.cli import add_engine_argument

DEFAULT_NAME = "icd10cm-suggester"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a model on JSONL charts, evaluate it, log and register it in MLflow",
        description="Fit a Suggester on coded charts (JSONL, including the chart store's feedback export), "
        "evaluate on --dev, save the model folder and log the run to MLflow.",
    )
    p.add_argument("--train", action="append", type=Path, metavar="FILE.jsonl", help="training charts (repeatable)")
    p.add_argument("--dev", type=Path, metavar="FILE.jsonl", help="dev charts to evaluate on")
    p.add_argument("--output", type=Path, metavar="DIR", help="model folder (default $SUGGEST_MODELS_DIR/runs/<run>)")
    p.add_argument("--config", type=Path, metavar="CFG.json", help="Suggester settings as a JSON object")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="sets",
                   help="override one setting (value parsed as JSON; repeatable)")
    p.add_argument("--seed", type=int, help="random seed (same data + config + seed give the same metrics)")
    p.add_argument("--no-track", action="store_true", help="do not log to MLflow nor register")
    p.add_argument("--registered-name", default=DEFAULT_NAME, help=f"registered model name (default {DEFAULT_NAME})")
    p.add_argument("--default", action="store_true", help="build the project's default model from its own material")
    p.set_defaults(func=_train)

    p = subparsers.add_parser(
        "evaluate",
        help="evaluate a model on gold-coded charts (table, metrics.json, report.html)",
        description="Print MAP, P@k/R@k, micro/macro F1 and ECE of a model on gold charts; "
        "with --output also write metrics.json and a self-contained report.html.",
    )
    p.add_argument("--model", default="default", help="model folder, 'default' or models:/name@alias (default: default)")
    p.add_argument("--data", type=Path, metavar="GOLD.jsonl",
                   help="gold-coded charts (with --engine spark: Parquet, JSONL or CSV, a file or a folder)")
    p.add_argument("--output", type=Path, metavar="DIR", help="write DIR/metrics.json and DIR/report.html "
                                                                "(with --engine spark: metrics.json)")
    p.add_argument("--top-k", type=int, default=50, help="suggestions ranked per chart; MAP is over this list (default 50)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON instead of a table")
    add_setting_argument(p)
    add_engine_argument(p)
    p.set_defaults(func=_evaluate)

    p = subparsers.add_parser(
        "compare",
        help="compare two models on the same charts with paired bootstrap CIs",
        description="Evaluate models A and B on the same gold charts; print metrics side by side with "
        "paired bootstrap 95%% confidence intervals of the differences B - A in MAP and micro-F1.",
    )
    p.add_argument("model_a", metavar="A", help="model folder, 'default' or models:/ URI")
    p.add_argument("model_b", metavar="B", help="model folder, 'default' or models:/ URI")
    p.add_argument("--data", type=Path, metavar="GOLD.jsonl", help="gold-coded charts (or --shadow)")
    add_shadow_arguments(p)
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--top-k", type=int, default=50, help="suggestions ranked per chart; MAP is over this list (default 50)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    add_setting_argument(p)
    p.set_defaults(func=_compare)

    p = subparsers.add_parser(
        "promote",
        help="move the champion (or challenger) alias to a registered version, gated on metrics",
        description="Promote version N to champion only if it beats the current champion on MAP and micro-F1 "
        "by --margin on the same charts (default: the dev data recorded with N's run). Exit 2 when refused.",
    )
    p.add_argument("--version", required=True, help="registered model version")
    p.add_argument("--as", dest="alias", default="champion", choices=("champion", "challenger"),
                   help="alias to set (default champion)")
    p.add_argument("--data", type=Path, metavar="GOLD.jsonl", help="charts to compare on")
    p.add_argument("--force", action="store_true", help="promote even if it does not beat the champion")
    p.add_argument("--reason", default="", help="why (recorded with the promotion)")
    p.add_argument("--margin", type=float, default=0.005, help="required improvement in MAP and micro-F1 (default 0.005)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the CIs (default 1000)")
    p.add_argument("--user", help="who promotes (default $USER)")
    p.add_argument("--name", default=DEFAULT_NAME, help=f"registered model name (default {DEFAULT_NAME})")
    add_shadow_arguments(p)
    p.set_defaults(func=_promote)

    p = subparsers.add_parser("rollback", help="move the champion back to the previous champion")
    p.add_argument("--reason", default="", help="why (recorded)")
    p.add_argument("--user", help="who (default $USER)")
    p.add_argument("--name", default=DEFAULT_NAME, help=f"registered model name (default {DEFAULT_NAME})")
    p.set_defaults(func=_rollback)

    p = subparsers.add_parser("registry", help="list registered versions, their aliases and promotion history")
    p.add_argument("--name", default=DEFAULT_NAME, help=f"registered model name (default {DEFAULT_NAME})")
    p.add_argument("--history", action="store_true", help="also print the alias history")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_registry)


def _train(args: argparse.Namespace) -> int:
    from suggest.errors import SuggestError

    if args.default:
        if args.train or args.dev or args.config or args.sets or args.output or args.seed is not None:
            raise SuggestError("--default builds the project's default model, in $SUGGEST_MODELS_DIR/default from its "
                               "own data and seed: it takes no --train/--dev/--config/--set/--output/--seed")
        from suggest.paths import models_dir

        from training.default import build_default_model

        folder = build_default_model(models_dir(), track=False if args.no_track else None)
        print(f"default model saved to {folder}")
        card = json.loads((Path(folder) / "model_card.json").read_text(encoding="utf-8"))
        dev = {k[4:]: v for k, v in card.get("metrics", {}).items() if k.startswith("dev_")}
        if dev:
            from training.evaluation import format_metrics_table

            print(format_metrics_table(dev, title="dev metrics (synthetic dev charts):"))
        return 0
    if not args.train:
        raise SuggestError("give at least one --train FILE.jsonl (or --default)")
    from training.evaluation import format_metrics_table
    from training.train import TrainOptions, parse_config, train

    options = TrainOptions(
        train=args.train,
        dev=args.dev,
        output=args.output,
        config=parse_config(args.config, args.sets),
        seed=args.seed,
        track=not args.no_track,
        registered_name=args.registered_name,
    )
    result = train(options)
    print(f"model saved to {result.model_dir}")
    if result.metrics:
        print(format_metrics_table(result.metrics, title=f"dev metrics ({args.dev}):"))
    if result.report_dir is not None:
        print(f"evaluation report: {result.report_dir / 'report.html'}")
    if result.run_id:
        print(f"MLflow run {result.run_id} ({result.run_name})")
    if result.registered_version:
        print(f"registered as models:/{args.registered_name}/{result.registered_version}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from training.evaluation import evaluate_model, format_metrics_table, load_gold, load_model, write_report

    if args.engine == "spark":
        return _evaluate_on_spark(args)
    if args.data is None:
        raise SuggestError("give the gold-coded charts with --data GOLD.jsonl")
    charts = load_gold(args.data)
    model = load_model(args.model)
    ev = evaluate_model(model, charts, top_k=args.top_k, model_ref=args.model, data_ref=str(args.data),
                        setting=args.setting)
    if args.json:
        print(json.dumps(ev.metrics, indent=2))
    else:
        print(format_metrics_table(ev.metrics, title=f"{args.model} on {args.data}:"))
    if args.output:
        written = write_report(ev, args.output)
        print(f"wrote {written['metrics.json']} and {written['report.html']}", file=sys.stderr)
    return 0


def _evaluate_on_spark(args: argparse.Namespace) -> int:
    """``suggest evaluate --engine spark``: the same metrics, summed by Spark (``suggest.spark.evaluate``)."""
    from suggest.spark.cli import announce_ui, chart_source, spark_options
    from suggest.spark.evaluate import run_evaluate
    from suggest.spark.session import spark_session
    from training.evaluation import chapters_of_counts, format_metrics_table

    source = chart_source(args, str(args.data) if args.data else None)
    options = spark_options(args)
    spark = spark_session(options)
    announce_ui(spark)
    result = run_evaluate(spark, source, model=args.model, top_k=args.top_k, setting=args.setting, options=options)
    if args.json:
        print(json.dumps(result.metrics, indent=2))
    else:
        print(format_metrics_table(result.metrics, title=f"{args.model} on {source.describe()} (Spark):"))
    print(f"spark evaluate: {int(result.metrics['n_charts'])} charts evaluated, {result.failed} failed, in "
          f"{result.seconds:.1f} s; model {result.model} version {result.model_version}", file=sys.stderr)
    for chart_id, error in result.errors:
        print(f"  chart {chart_id}: {error}", file=sys.stderr)
    if args.output:
        args.output.mkdir(parents=True, exist_ok=True)
        record = {"model": result.model, "model_version": result.model_version,
                  "codeset_release": result.codeset_release, "data": source.describe(), "engine": "spark",
                  "failed": result.failed, "seconds": result.seconds, "metrics": result.metrics,
                  "per_chapter": chapters_of_counts(result.code_counts),
                  "most_missed": [{"code": c, "missed": fn, "found": tp} for c, tp, _fp, fn in
                                  sorted(result.code_counts, key=lambda r: (-r[3], r[0]))[:25] if fn],
                  "most_wrongly_selected": [{"code": c, "wrongly_selected": fp, "rightly_selected": tp}
                                            for c, tp, fp, _fn in sorted(result.code_counts,
                                                                         key=lambda r: (-r[2], r[0]))[:25] if fp]}
        (args.output / "metrics.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.output / 'metrics.json'}", file=sys.stderr)
    return 0


def add_shadow_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shadow", action="store_true",
                   help="(also) judge on the charts coders completed in the chart store since the champion went live, "
                        "against their final codes; promote refuses a challenger that does worse there")
    p.add_argument("--database-url", metavar="URL", help="the chart store (default: $DATABASE_URL, else var/charts.db)")
    p.add_argument("--since", type=_utc_time, metavar="ISO-TIME",
                   help="shadow charts completed since then (default: when the champion went live)")


def _utc_time(value: str):
    import datetime as dt

    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def _shadow(args: argparse.Namespace, name: str):
    from training.shadow import shadow_set

    found = shadow_set(name, args.database_url, args.since)
    print(f"shadow evaluation on {found.describe()}", file=sys.stderr)
    return found


def _compare(args: argparse.Namespace) -> int:
    from suggest.errors import SuggestError
    from training.evaluation import evaluate_model, format_comparison, load_gold, load_model, paired_bootstrap

    if (args.data is None) == (not args.shadow):
        raise SuggestError("give --data GOLD.jsonl or --shadow (the charts completed in the chart store), one of them")
    charts = load_gold(args.data) if args.data else _shadow(args, DEFAULT_NAME).charts
    evs = []
    for ref in (args.model_a, args.model_b):
        evs.append(evaluate_model(load_model(ref), charts, top_k=args.top_k, model_ref=ref, data_ref=str(args.data),
                                  setting=args.setting))
    boot = paired_bootstrap(evs[0], evs[1], n_boot=args.n_boot, seed=args.seed)
    print(format_comparison(evs[0], evs[1], boot, args.n_boot))
    return 0


def _promote(args: argparse.Namespace) -> int:
    from training.registry import PromotionRefused, promote

    outcome = promote(
        args.version,
        name=args.name,
        alias=args.alias,
        data=str(args.data) if args.data else None,
        force=args.force,
        reason=args.reason,
        margin=args.margin,
        user=args.user,
        n_boot=args.n_boot,
        shadow=_shadow(args, args.name) if args.shadow else None,
    )
    if outcome.comparison:
        print(f"on {outcome.data}: champion = version {outcome.previous}, candidate = version {outcome.version}")
        for key, label in (("map", "MAP"), ("micro_f1", "micro-F1")):
            c = outcome.comparison[key]
            print(f"  {label:<9} champion {c['a']:.4f}  candidate {c['b']:.4f}  diff {c['diff']:+.4f}  "
                  f"95% CI [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]")
    if "shadow_map" in outcome.metrics:
        m = outcome.metrics
        print(f"on the shadow charts ({int(m['shadow_charts'])}): MAP champion {m['shadow_champion_map']:.4f} "
              f"candidate {m['shadow_map']:.4f}; micro-F1 champion {m['shadow_champion_micro_f1']:.4f} "
              f"candidate {m['shadow_micro_f1']:.4f}")
    if not outcome.promoted and outcome.previous != outcome.version:
        raise PromotionRefused(outcome.message)
    print(outcome.message)
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from training.registry import rollback

    print(rollback(name=args.name, reason=args.reason, user=args.user).message)
    return 0


def _registry(args: argparse.Namespace) -> int:
    from training.registry import history, list_versions

    rows = list_versions(args.name)
    events = history(args.name) if args.history or args.json else []
    if args.json:
        print(json.dumps({"name": args.name, "versions": rows, "history": events}, indent=2))
        return 0
    print(f"{args.name}: {len(rows)} version(s)")
    print(f"  {'version':>7}  {'aliases':<20} {'created':<25} {'dev MAP':>8} {'dev F1':>8}  run")
    for r in rows:
        fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else "-"  # noqa: E731
        print(f"  {r['version']:>7}  {','.join(r['aliases']) or '-':<20} {r['created']:<25} "
              f"{fmt(r['dev_map']):>8} {fmt(r['dev_micro_f1']):>8}  {r['run_id'] or '-'}")
    if args.history:
        print("history:")
        for e in events:
            forced = " (forced)" if e.get("forced") else ""
            print(f"  {e.get('when', '')}  {e.get('action', ''):<8} {e.get('alias', '')}: "
                  f"{e.get('previous') or '-'} -> {e.get('version')}{forced}  by {e.get('who', '')}"
                  + (f"  \"{e['why']}\"" if e.get("why") else ""))
    return 0
