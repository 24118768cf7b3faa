"""The trained machine networks on a larger, independent test set of the same machines.

The default synthetic set has 15 normal and 15 anomalous test clips per ID: a mean AUC over
its 16 IDs carries an interval of about +-3 points (:mod:`audioanom.confidence`), too wide to
tell the network from the baseline. This benchmark draws a second test set from the same
generator and the same 16 machines with another seed (``--seed 1``; ``--test-per-id 150``: 75
normal + 75 anomalous clips per ID, no training clips), and scores it with the networks that
notebook 06 trained on the default set (``build/mimii/synthetic/models``: run notebook 06 or
``audioanom train`` first). Every back-end and the log-mel Gaussian are fitted on the default
set's normal training clips, as in notebook 07; nothing is trained or chosen here.

Prints each method's mean AUC per type, the 95 % bootstrap intervals and the paired differences
from the log-mel Gaussian, the value of phase (complex net minus magnitude-only, same back-end)
and the AUC per anomaly kind; writes
``benchmarks/results/heldout.json``. The set is written once to
``data/synthetic/machines-heldout-seed<S>-<N>`` (reused when its manifest matches).

    .venv/bin/python benchmarks/bench_heldout.py [--test-per-id 150] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from audioanom import paths

RESULTS = Path(__file__).resolve().parent / "results" / "heldout.json"
BACKENDS = ("gauss", "layers")


def main() -> None:
    from audioanom.confidence import bootstrap_auc
    from audioanom.datasets.synthetic import load_synthetic_machines
    from audioanom.machines.baselines import BASELINE_NAME
    from audioanom.machines.pipeline import (
        VARIANTS,
        baseline_scores,
        load_network,
        network_scores,
        open_machine_clips,
        run_dir,
    )
    from audioanom.machines.tables import method_name, per_kind_metrics
    from audioanom.synth.machines import ensure_machines

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--test-per-id", type=int, default=150)
    parser.add_argument("--seed", type=int, default=1, help="generator seed (the default set: 0)")
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args()
    if args.seed == 0:
        raise SystemExit("--seed 0 draws the default set's own clips again: use another seed")
    t0 = time.perf_counter()
    root = paths.data_dir() / "synthetic" / f"machines-heldout-seed{args.seed}-{args.test_per_id}"
    ensure_machines(
        root,
        seed=args.seed,
        train_per_id=0,
        test_per_id=args.test_per_id,
        workers=2,
        progress=False,
    )
    default = open_machine_clips("synthetic")
    held = load_synthetic_machines(root).clips
    clips = pd.concat([default[default["split"] == "train"], held], ignore_index=True)
    out = run_dir("synthetic")
    frames = [baseline_scores(clips)]
    for variant in VARIANTS:
        net = load_network(out, variant, "all")
        frames.append(network_scores(net, clips, backends=BACKENDS)[0])
    scores = pd.concat(frames, ignore_index=True)
    boot = bootstrap_auc(scores, n_boot=args.n_boot)
    intervals = boot.intervals()  # its auc_mean: the mean AUC over the IDs on the clips themselves
    per_type = intervals.pivot_table(index="method", columns="machine_type", values="auc_mean")
    kinds = per_kind_metrics(scores)
    print(f"{len(held)} held-out test clips ({args.test_per_id} per ID, seed {args.seed})")
    print("mean AUC (%) per type:")
    print((100 * per_type).round(1).to_string())
    print("\n".join(boot.versus_lines(BASELINE_NAME)))
    phase = {
        b: boot.difference(method_name("complex", b), method_name("magnitude", b)) for b in BACKENDS
    }
    for b, d in phase.items():
        row = d.iloc[-1]  # all IDs
        print(
            f"value of phase ({b}): {row.difference_points:+.1f} [{row.low:+.1f}, {row.high:+.1f}]"
            f" points, complex net higher in {100 * row.share_higher:.0f} % of replicates"
        )
    print("AUC (%) per anomaly kind:")
    wide = kinds.pivot_table(index=["machine_type", "anomaly_kind"], columns="method", values="auc")
    print((100 * wide).round(1).to_string())
    versus = {
        m: boot.difference(m, BASELINE_NAME).drop(columns=["a", "b"]).to_dict("records")
        for m in boot.methods
        if m != BASELINE_NAME
    }
    result = {
        "seed": args.seed,
        "test_per_id": args.test_per_id,
        "n_test_clips": len(held),
        "n_boot": args.n_boot,
        "auc": (per_type.T.to_dict()),
        "intervals": intervals.to_dict("records"),
        "versus_baseline": versus,
        "phase": {b: d.drop(columns=["a", "b"]).to_dict("records") for b, d in phase.items()},
        "per_kind": kinds[["method", "machine_type", "anomaly_kind", "auc"]].to_dict("records"),
        "seconds": time.perf_counter() - t0,
    }
    results = Path(args.results)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['seconds']:.0f} s; written: {results}")


if __name__ == "__main__":
    main()
