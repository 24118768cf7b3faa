"""The ``audioanom`` command: check | fetch | synth | run | train | score."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__


def _cmd_check(args: argparse.Namespace) -> int:
    from .audio import check_files, list_audio_files
    from .datasets import counts, load_dataset
    from .datasets.detect import detect_layout

    root = Path(args.dir)
    files = list_audio_files(root)
    report = check_files(files, expected_sr=args.expected_sr, progress=not args.quiet)
    rates = ", ".join(f"{n} at {r} Hz" for r, n in report.rates) or "none readable"
    print(
        f"{root}: {report.n_files} audio files, {report.n_bad} bad; {rates}; "
        f"{report.seconds / 60:.1f} min of audio"
    )
    for path, fault in report.problems:
        print(f"  BAD {path}: {fault}")
    layout = args.layout or detect_layout(root)
    status = 1 if report.problems else 0
    if layout:
        loaded = load_dataset(layout, root)
        print(f"layout: {layout}, {len(loaded)} clips in the clip table")
        for path, why in loaded.unparsed:
            print(f"  UNPARSED {path}: {why}")
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
        from .synth.speech import SpeechSynthError, generate_digits, summarize

        try:
            labels = generate_digits(
                out, seed=args.seed, overwrite=args.overwrite, progress=not args.quiet
            )
        except SpeechSynthError as err:
            print(f"synth digits: {err}", file=sys.stderr)
            return 1
        print(summarize(labels))
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
    return 0 if all(r.status == "ok" for r in results) else 1


def _cmd_train(args: argparse.Namespace) -> int:
    from .experiments import cli_train

    return cli_train(
        args.dataset,
        args.machine_type,
        epochs=args.epochs,
        resume=args.resume,
        device=args.device,
        precision=args.precision,
        variant=args.variant,
        data_dir=args.data_dir,
        smoke=args.smoke,
        seed=args.seed,
        preset=args.model,
    )


def _cmd_score(args: argparse.Namespace) -> int:
    from .experiments import cli_score

    return cli_score(
        args.dataset,
        args.machine_type,
        variant=args.variant,
        device=args.device,
        precision=args.precision,
        data_dir=args.data_dir,
        smoke=args.smoke,
        seed=args.seed,
        hop=args.hop,
        exact=args.exact,
    )


def _add_machine_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments shared by ``train`` and ``score``."""
    p.add_argument("--dataset", default="synthetic", choices=["synthetic", "dcase2020", "mimii"])
    p.add_argument("--data-dir", default="", help="data set folder (default: data/<dataset>)")
    p.add_argument(
        "--machine-type",
        default="fan,pump,slider,valve",
        help="comma-separated machine types (default: fan,pump,slider,valve)",
    )
    p.add_argument(
        "--variant",
        default="complex",
        choices=["complex", "magnitude", "autoencoder"],
        help="complex network, its magnitude-only ablation, or the DCASE autoencoder",
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
    p.add_argument("--expected-sr", type=int, default=None, help="every file must have this rate")
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

    p = sub.add_parser("fetch", help="download a data set into data/ (resumable, checksummed)")
    p.add_argument("dataset", choices=["audiomnist", "fsdd", "mimii"])
    p.add_argument(
        "--machine-types",
        nargs="+",
        default=None,
        metavar="TYPE",
        help="mimii: which machine types (default fan pump slider valve)",
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
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs (default: preset's)")
    p.add_argument(
        "--model", default=None, choices=["tiny", "small", "paper"], help="network size preset"
    )
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("score", help="score every clip with trained models; per-ID AUC/pAUC")
    _add_machine_arguments(p)
    p.add_argument("--hop", type=int, default=32, help="frames between scoring windows")
    p.add_argument(
        "--exact", action="store_true", help="every window through the network on its own"
    )
    p.set_defaults(func=_cmd_score)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``audioanom`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
