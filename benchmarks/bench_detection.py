"""Detection quality of the complex network's design choices, each measured on/off in one run.

Every variant is trained by the library (:func:`audioanom.machines.pipeline.train_network`, early
stopping on the validation loss) on the default synthetic machines and scored with every
back-end; the log-mel Gaussian is measured in the same run. Rows: mean AUC and pAUC over the
16 machine IDs (and per type) for each (variant, back-end), plus the baseline.

Variants (each one or two changes from ``default``, the first design; ``mixup-channel`` is the
notebooks' configuration since, :data:`audioanom.machines.pipeline.DEFAULT_DESIGN`):

============  ==================================================================================
default       small preset, one network over all types (16 classes), branch attention,
              time pooling (frequency kept), statistics target (64 bands)
magnitude     the real-valued magnitude-only ablation (no phase)
per-type      one network per machine type (4 classes each, as the paper)
channel-att   the re-implementation's attention: softmax over 2 x 4 branch channels
global-pool   the paper's pooling: mean over frequency and time (32-dim embedding)
no-stats      without the statistics target
arcface       ArcFace head (margin 0.2, scale 16) on the embedding
mixup         mixup of windows (alpha 0.5)
mixup-compress  mixup and magnitude compression ``|x|^0.3`` of the input (phase kept)
mixup-channel   mixup and the channel attention (the library's default since)
mixup-channel-60  the same, at most 60 epochs instead of 30 (early stopping as before)
mixup-channel-seed1  the default with training seed 1 (crops, order, mixup, initial weights)
mixup-channel-seed2  the same with seed 2
============  ==================================================================================

Each variant takes 5-15 minutes on 2 CPU cores. Prints a table and writes
``benchmarks/results/detection.json`` (rewritten after every variant, so a long run can be
watched and resumed: finished variants are read back unless ``--fresh``).

    .venv/bin/python benchmarks/bench_detection.py --variants default,magnitude,per-type
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import pandas as pd

from audioanom import paths
from audioanom.machines.baselines import BASELINE_NAME
from audioanom.machines.pipeline import (
    baseline_scores,
    default_model_config,
    default_train_config,
    network_scores,
    open_machine_clips,
    train_network,
)
from audioanom.machines.tables import evaluate_scores

RESULTS = Path(__file__).resolve().parent / "results" / "detection.json"
TYPES = ("fan", "pump", "slider", "valve")
#: The first design (branch attention over 2 x 8 channels, no mixup): every variant below is
#: one or two changes from it; ``mixup-channel`` is the library's default since.
FIRST = {"model": {"attention": "branch", "branch_channels": 8}, "train": {"mixup_alpha": 0.0}}
CHANGES = {
    "default": {},
    "magnitude": {"variant": "magnitude"},
    "per-type": {"scope": "type"},
    "channel-att": {"model": {"attention": "channel", "branch_channels": 4}},
    "global-pool": {"model": {"pooling": "global"}},
    "no-stats": {"model": {"stats_bands": 0}},
    "arcface": {"model": {"margin": 0.2}},
    "mixup": {"train": {"mixup_alpha": 0.5}},
    "mixup-compress": {"train": {"mixup_alpha": 0.5}, "model": {"compression": 0.3}},
    "mixup-channel": {
        "train": {"mixup_alpha": 0.5},
        "model": {"attention": "channel", "branch_channels": 4},
    },
    "mixup-channel-60": {
        "train": {"mixup_alpha": 0.5, "epochs": 60},
        "model": {"attention": "channel", "branch_channels": 4},
    },
    "mixup-channel-seed1": {
        "train": {"mixup_alpha": 0.5, "seed": 1},
        "model": {"attention": "channel", "branch_channels": 4},
    },
    "mixup-channel-seed2": {
        "train": {"mixup_alpha": 0.5, "seed": 2},
        "model": {"attention": "channel", "branch_channels": 4},
    },
}
VARIANTS = {
    name: {
        **change,
        "model": {**FIRST["model"], **change.get("model", {})},
        "train": {**FIRST["train"], **change.get("train", {})},
    }
    for name, change in CHANGES.items()
}


def run_variant(name: str, clips: pd.DataFrame, out: Path, threads: int | None) -> dict:
    spec = VARIANTS[name]
    variant = spec.get("variant", "complex")
    config = default_model_config(**spec.get("model", {}))
    tc = dataclasses.replace(default_train_config(precision="fp32"), threads=threads)
    tc = dataclasses.replace(tc, **spec.get("train", {}))
    scopes = [(t, [t]) for t in TYPES] if spec.get("scope") == "type" else [("all", None)]
    t0 = time.perf_counter()
    frames, epochs = [], []
    for scope_name, groups in scopes:
        res = train_network(
            clips, variant, groups, tc, config, out_dir=out / name, scope_name=scope_name
        )
        epochs.append(f"{scope_name}: {len(res.history)} epochs, {res.stop_reason}")
        sub = clips if groups is None else clips[clips["group"].isin(groups)]
        frames.append(network_scores(res, sub)[0])
    ev = evaluate_scores(pd.concat(frames, ignore_index=True))
    rows = ev.summary[ev.summary["machine_type"] == "all IDs"]
    per_type = ev.summary.pivot_table(index="method", columns="machine_type", values="auc_mean")
    return {
        "variant": name,
        "seconds": time.perf_counter() - t0,
        "training": epochs,
        "methods": {
            r.method: {"auc": r.auc_mean, "pauc": r.pauc_mean, **per_type.loc[r.method].to_dict()}
            for r in rows.itertuples()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--fresh", action="store_true", help="retrain finished variants too")
    args = parser.parse_args()
    clips = open_machine_clips("synthetic")
    clips = clips[clips["group"].isin(TYPES)].reset_index(drop=True)
    out = paths.build_dir() / "bench_detection"
    done = json.loads(RESULTS.read_text()) if RESULTS.is_file() and not args.fresh else {}
    if "baseline" not in done:
        ev = evaluate_scores(baseline_scores(clips))
        s = ev.summary.set_index("machine_type")
        done["baseline"] = {t: float(s.loc[t, "auc_mean"]) for t in s.index}
        done["baseline"]["pauc"] = float(s.loc["all IDs", "pauc_mean"])
    for name in args.variants.split(","):
        if name not in VARIANTS:
            raise SystemExit(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
        if name in done.get("variants", {}):
            continue
        done.setdefault("variants", {})[name] = run_variant(name, clips, out, args.threads)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(done, indent=2) + "\n")
    base = done["baseline"]
    print(
        f"{'variant':<12} {'method':<24} {'AUC':>6} {'pAUC':>6}  "
        + " ".join(f"{t:>6}" for t in TYPES)
    )
    print(
        f"{'-':<12} {BASELINE_NAME:<24} {100 * base['all IDs']:6.1f} {100 * base['pauc']:6.1f}  "
        + " ".join(f"{100 * base[t]:6.1f}" for t in TYPES)
    )
    for name, v in done.get("variants", {}).items():
        for method, m in v["methods"].items():
            print(
                f"{name:<12} {method:<24} {100 * m['auc']:6.1f} {100 * m['pauc']:6.1f}  "
                + " ".join(f"{100 * m[t]:6.1f}" for t in TYPES)
            )
    print(f"written: {RESULTS}")


if __name__ == "__main__":
    main()
