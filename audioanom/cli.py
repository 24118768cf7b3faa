"""The ``audioanom`` command: check | fetch | synth | run | train | score."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__

#: Layouts with a fixed rate and the networks' minimum clip length: one 64-frame window of the
#: 16 kHz STFT at hop 512 (``63 * 512`` samples); shorter clips cannot be trained or scored.
_LAYOUT_RATE = {"dcase2020": 16000, "mimii": 16000}
_MACHINE_MIN_SECONDS = 63 * 512 / 16000


def _cmd_check(args: argparse.Namespace) -> int:
    """``audioanom check DIR``: read every audio file (and name every directory called like
    one); one ``BAD <path>: <fault>`` line per unusable file, ``WARN <path>: <finding>`` per
    suspicious one, ``UNPARSED <path>: <why>`` per file the layout's clip table leaves out.
    Exit status 1 when any file is BAD or UNPARSED (warnings alone: 0)."""
    from .audio import MIN_SECONDS, check_files, display_path, list_audio_dirs, list_audio_files
    from .datasets import counts, load_dataset
    from .datasets.detect import detect_layout

    root = Path(args.dir)
    if not root.is_dir():
        print(f"check: {display_path(root)}: no such folder", file=sys.stderr)
        return 2
    layout = args.layout or detect_layout(root)
    expected_sr = args.expected_sr
    if expected_sr is None and layout in _LAYOUT_RATE:
        expected_sr = _LAYOUT_RATE[layout]
    short = (
        (_MACHINE_MIN_SECONDS, "the networks need one 64-frame window (2.016 s)")
        if layout in _LAYOUT_RATE
        else None
    )
    files = sorted(list_audio_files(root) + list_audio_dirs(root))
    report = check_files(
        files,
        expected_sr=expected_sr,
        min_seconds=MIN_SECONDS,
        min_seconds_warn=short,
        progress=not args.quiet,
    )
    rates = ", ".join(f"{n} at {r} Hz" for r, n in report.rates) or "none readable"
    n_warned = len({p for p, _ in report.warnings})
    print(
        f"{display_path(root)}: {report.n_files} audio files, {report.n_bad} bad; {rates}; "
        f"{report.seconds / 60:.1f} min of audio"
        + (f"; {n_warned} with warnings" if n_warned else "")
    )
    for path, fault in report.problems:
        print(f"  BAD {display_path(path)}: {fault}")
    for path, finding in report.warnings:
        print(f"  WARN {display_path(path)}: {finding}")
    status = 1 if report.problems else 0
    if layout:
        loaded = load_dataset(layout, root)
        print(f"layout: {layout}, {len(loaded)} clips in the clip table")
        for path, why in loaded.unparsed:
            print(f"  UNPARSED {display_path(path)}: {why}")
        for note in loaded.notes:
            print(f"  note: {note}")
        if args.counts and len(loaded):
            by = (
                ["group", "split", "label"]
                if args.counts == "group"
                else ["group", "id", "split", "label"]
            )
            print(counts(loaded.clips, by).to_string(index=False))
        status = status or (1 if loaded.unparsed else 0)
    return status


def _cmd_fetch(args: argparse.Namespace) -> int:
    from .fetch import FetchError, fetch_dataset

    try:
        where = fetch_dataset(
            args.dataset,
            Path(args.out) if args.out else None,
            machine_types=args.machine_types,
            digit=args.digit,
        )
    except FetchError as err:
        print(f"fetch failed: {err}", file=sys.stderr)
        return 1
    print(f"{args.dataset}: ready in {where}")
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if args.kind == "machines":
        from .synth.machines import generate_machines

        labels = generate_machines(
            out,
            seed=args.seed,
            train_per_id=args.train_per_id,
            test_per_id=args.test_per_id,
            seconds=args.seconds,
            severity=args.severity,
            workers=args.workers,
            overwrite=args.overwrite,
            progress=not args.quiet,
        )
        by = labels.groupby(["machine_type", "split", "label"]).size().rename("clips")
        print(by.reset_index().to_string(index=False))
    else:
        from .synth.speech import SpeechSynthError, describe_labels, generate_digits

        try:
            labels = generate_digits(
                out, seed=args.seed, overwrite=args.overwrite, progress=not args.quiet
            )
        except SpeechSynthError as err:
            print(f"synth digits: {err}", file=sys.stderr)
            return 1
        print(describe_labels(labels))
    print(f"{len(labels)} clips written to {out} (labels: {out / 'labels.csv'})")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .runner import format_results, parse_value, run_notebooks

    params = {name: parse_value(value) for name, value in args.parameter}
    try:
        results = run_notebooks(
            args.notebooks, parameters=params, smoke=args.smoke, log_output=args.log_output
        )
    except ValueError as err:
        print(f"run: {err}", file=sys.stderr)
        return 2
    print(format_results(results))
    from .plotting import write_figure_index
    from .report import build_report

    print(f"figures: {write_figure_index()}")
    if results:
        print(f"report: {build_report(results[0].output.parent)}")
    return 0 if all(r.status == "ok" for r in results) else 1


def _cmd_report(args: argparse.Namespace) -> int:
    """``audioanom report``: the executed notebooks as HTML with an index and a gallery."""
    from .report import build_report

    try:
        index = build_report(args.executed, args.out)
    except (FileNotFoundError, ValueError) as err:
        print(f"report: {err}", file=sys.stderr)
        return 1
    print(f"report: {index}")
    return 0


def _machine_setup(args: argparse.Namespace):
    """``(clips of the chosen types, types, run folder)``; a misspelled type (or none left)
    ends the command with the error, an absent one is reported on stderr."""
    from .machines.clips import open_machine_clips, run_dir, select_types

    clips = open_machine_clips(
        args.dataset, data_dir=args.data_dir, smoke=args.smoke, seed=args.seed
    )
    try:
        chosen = select_types(clips, args.machine_type)
    except ValueError as err:
        raise SystemExit(f"audioanom: {err}") from None
    if chosen.absent:
        print(f"not in {args.dataset}: {', '.join(chosen.absent)}", file=sys.stderr)
    return chosen.clips, list(chosen.types), run_dir(args.dataset, args.smoke)


def _cmd_train(args: argparse.Namespace) -> int:
    """``audioanom train``: train the networks (per ``--scope``) or the autoencoder (per type)
    into the run folder; prints where each model went and how its training ended. Started by
    ``torchrun`` with several processes it trains one network on all of them
    (:mod:`audioanom.distributed`); rank 0 prints and writes."""
    from . import distributed

    is_ae = args.variant == "autoencoder"
    if is_ae and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        print(
            "train: the autoencoder trains on one process; run it without torchrun", file=sys.stderr
        )
        return 2
    try:
        ctx = distributed.init_from_env(args.device)
    except ValueError as err:
        print(f"train: {err}", file=sys.stderr)
        return 2
    try:
        return _train(args, is_ae, ctx)
    finally:
        distributed.shutdown()


def _train(args: argparse.Namespace, is_ae: bool, ctx) -> int:
    from .distributed import main_first
    from .machines.pipeline import (
        default_ae_config,
        default_model_config,
        default_train_config,
        train_all,
    )

    with main_first(ctx):  # rank 0 writes any generated data set first
        clips, types, out = _machine_setup(args)
    if not types:
        return 1
    run = train_all(
        clips,
        types,
        train_config=default_train_config(
            args.epochs,
            smoke=args.smoke,
            device=args.device,
            precision=args.precision,
            seed=args.seed,
        ),
        config=default_model_config(args.model, smoke=args.smoke),
        ae_config=default_ae_config(args.epochs, smoke=args.smoke, seed=args.seed)
        if is_ae
        else None,
        variants=() if is_ae else (args.variant,),
        scope=args.scope,
        out_dir=out,
        resume=args.resume,
        progress=ctx.is_main,
    )
    if not ctx.is_main:
        return 0
    if ctx.active:
        print(f"trained on {ctx.world_size} processes")
    for note in run.notes:
        print(note)
    if not run.histories:
        print("nothing could be trained", file=sys.stderr)
        return 1
    print(run.summary().round(4).to_string(index=False))
    print(f"models in {out / 'models'}")
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    """``audioanom score``: score every clip of the types with the saved models and every
    back-end (plus the log-mel Gaussian), write one CSV per method and the tables, print the
    per-ID AUC/pAUC and each method's mean AUC with its bootstrap interval and its difference
    from the log-mel Gaussian (:mod:`audioanom.confidence`)."""
    from .confidence import bootstrap_auc
    from .machines.baselines import BASELINE_NAME
    from .machines.pipeline import evaluate_all
    from .machines.scoring import EmbedConfig

    clips, types, out = _machine_setup(args)
    variants = ("complex", "magnitude") if args.variant == "all" else (args.variant,)
    if args.variant == "autoencoder":
        variants = ()
    try:
        ev = evaluate_all(
            clips,
            types,
            out_dir=out,
            variants=variants,
            scope=args.scope,
            backends=tuple(args.backend.split(",")),
            autoencoder=args.variant in ("all", "autoencoder"),
            embed_config=EmbedConfig(hop=args.hop, device=args.device, precision=args.precision),
            progress=True,
        )
    except FileNotFoundError as err:
        print(f"score: {err}", file=sys.stderr)
        return 1
    for note in ev.notes:
        print(note)
    table = ev.per_id[ev.per_id["id"].notna()]
    print(table.round(4).to_string(index=False))
    print(ev.summary[ev.summary["machine_type"] == "all IDs"].round(4).to_string(index=False))
    try:
        boot = bootstrap_auc(ev.scores)
    except ValueError as err:  # e.g. no ID with both classes: no mean AUC to bound
        print(f"no bootstrap intervals: {err}")
    else:
        boot.intervals().to_csv(out / "tables" / "auc_intervals.csv", index=False)
        print("\n".join(boot.versus_lines(BASELINE_NAME)))
    print(f"per-clip scores in {out / 'scores'}, tables in {out / 'tables'}")
    return 0


def _add_machine_arguments(p: argparse.ArgumentParser, *, score: bool = False) -> None:
    """Arguments shared by ``train`` and ``score``."""
    p.add_argument("--dataset", default="synthetic", choices=["synthetic", "dcase2020", "mimii"])
    p.add_argument("--data-dir", default="", help="data set folder (default: data/<dataset>)")
    p.add_argument(
        "--machine-type",
        default="fan,pump,slider,valve",
        help="comma-separated machine types (default: fan,pump,slider,valve)",
    )
    choices = ["complex", "magnitude", "autoencoder"] + (["all"] if score else [])
    p.add_argument(
        "--variant",
        default="all" if score else "complex",
        choices=choices,
        help="complex network, its magnitude-only ablation, the DCASE autoencoder"
        + (", or all of them" if score else ""),
    )
    p.add_argument(
        "--scope",
        default="dataset",
        choices=["dataset", "type"],
        help="one network over every machine type (default) or one per type",
    )
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="small data, tiny model, few epochs")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``audioanom`` command."""
    parser = argparse.ArgumentParser(prog="audioanom", description=__doc__)
    parser.add_argument("--version", action="version", version=f"audioanom {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="read every audio file below DIR and list each bad one")
    p.add_argument("dir")
    p.add_argument(
        "--expected-sr",
        type=int,
        default=None,
        help="every file must have this rate (default: 16000 for the machine layouts, else "
        "the most common rate)",
    )
    p.add_argument(
        "--layout",
        choices=["audiomnist", "fsdd", "dcase2020", "mimii"],
        default=None,
        help="data set layout (default: detected)",
    )
    p.add_argument(
        "--counts",
        choices=["group", "id"],
        default="group",
        help="print clip counts per group (default) or per group and ID",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("report", help="the executed notebooks as HTML, an index, the figures")
    p.add_argument("--executed", default=None, help="folder of executed notebooks")
    p.add_argument("--out", default=None, help="report folder (default build/report)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("fetch", help="download a data set into data/ (resumable, checksummed)")
    p.add_argument("dataset", choices=["audiomnist", "fsdd", "dcase2020"])
    p.add_argument(
        "--machine-types",
        nargs="+",
        default=None,
        metavar="TYPE",
        help="dcase2020: which machine types (default fan pump slider valve)",
    )
    p.add_argument(
        "--digit", type=int, default=None, help="audiomnist/fsdd: only this digit's files"
    )
    p.add_argument("--out", default=None, help="target folder (default data/<dataset>)")
    p.set_defaults(func=_cmd_fetch)

    p = sub.add_parser("synth", help="generate the embedded synthetic data sets")
    p.add_argument("kind", choices=["machines", "digits"])
    p.add_argument("--out", required=True, help="target folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--train-per-id", type=int, default=50, help="machines: normal train clips per ID"
    )
    p.add_argument(
        "--test-per-id", type=int, default=30, help="machines: test clips per ID (half anomalous)"
    )
    p.add_argument("--seconds", type=float, default=10.0, help="machines: clip length")
    p.add_argument(
        "--severity",
        type=float,
        default=1.0,
        help="machines: anomaly strength (1 = subtle default)",
    )
    p.add_argument(
        "--workers", type=int, default=1, help="machines: processes (output is identical)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing set in --out")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("run", help="execute the numbered notebooks with papermill")
    p.add_argument("notebooks", nargs="*", help="names or number prefixes (default: all, in order)")
    p.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="set a notebook parameter (repeatable)",
    )
    p.add_argument("--smoke", action="store_true", help="small data, few epochs (smoke=True)")
    p.add_argument("--log-output", action="store_true", help="stream cell output to the terminal")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("train", help="train a machine-sound model on normal clips (checkpointed)")
    _add_machine_arguments(p)
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="maximum epochs (default: 100; early stopping ends sooner)",
    )
    p.add_argument(
        "--model",
        default=None,
        choices=["tiny", "small", "medium", "paper"],
        help="network size preset",
    )
    p.add_argument(
        "--no-resume",
        dest="resume",
        action="store_false",
        help="train from scratch (default: continue an interrupted run, reuse a finished one)",
    )
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("score", help="score every clip with trained models; per-ID AUC/pAUC")
    _add_machine_arguments(p, score=True)
    p.add_argument(
        "--hop",
        type=int,
        default=None,
        help="frames between scoring windows (default: the network's window_hop, 32)",
    )
    p.add_argument(
        "--backend",
        default="ce,knn,gauss,layers",
        help="comma-separated back-ends of the networks (default: ce,knn,gauss,layers)",
    )
    p.set_defaults(func=_cmd_score)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``audioanom`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
