"""Detection quality of the complex network's design choices, each measured on/off in one run.

Every variant is trained by the library (:func:`audioanom.machines.pipeline.train_network`) on
the default synthetic machines and scored with every back-end; the log-mel Gaussian is measured
in the same run. Two kinds of number per (variant, back-end):

* ``val``: the validation proxies of :mod:`audioanom.machines.validation` (held-out NORMAL
  training clips only: other IDs of the same type, and another type's clip added 10 dB below),
  what a design is CHOSEN on;
* ``test``: mean AUC / pAUC over the 16 machine IDs and per type on the test clips, what it is
  REPORTED on.

Variants are one or two changes from the library's current default
(:func:`audioanom.machines.pipeline.default_model_config` / ``default_train_config``); see
:data:`CHANGES`. ``--jobs N`` trains N variants at once in separate processes (each with
``cores / N`` threads, or sharing one GPU with ``--device cuda``). Prints a table and writes
``benchmarks/results/detection.json`` (rewritten after every variant; finished variants are read
back unless ``--fresh``); ``--embeddings DIR`` also saves every variant's clip embeddings.

    .venv/bin/python benchmarks/bench_detection.py --variants default,magnitude --jobs 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd

from audioanom import paths

RESULTS = Path(__file__).resolve().parent / "results" / "detection.json"
TYPES = ("fan", "pump", "slider", "valve")
#: The training of the first sweep (before the plateau schedule became the default): at most 30
#: epochs at a constant learning rate, early stopping after 5 epochs.
CONSTANT_30 = {"epochs": 30, "lr_schedule": "constant", "patience": 5}
#: Twice the frame rate (16-ms frames) with the same 2-s windows and scoring spacing.
HOP256 = {"hop_length": 256, "window_frames": 128, "window_hop": 64}
#: 4-s windows at the default hop (twice the context of the 2-s default)
WIN128 = {"window_frames": 128, "window_hop": 64}
#: One or two changes from the current default each (``preset``: a size of
#: :data:`audioanom.machines.pipeline.MODEL_PRESETS`; ``variant``: complex or magnitude). The
#: rows after ``constant-30`` change that older training, as they were measured.
CHANGES: dict[str, dict] = {
    "default": {},
    "magnitude": {"variant": "magnitude"},
    "seed1": {"train": {"seed": 1}},
    "seed2": {"train": {"seed": 2}},
    "constant-30": {"train": CONSTANT_30},
    "constant-30-seed1": {"train": {**CONSTANT_30, "seed": 1}},
    "constant-30-stats-pool": {"train": CONSTANT_30, "model": {"pooling": "stats"}},
    "constant-30-stats-w5": {"train": CONSTANT_30, "model": {"stats_weight": 5.0}},
    "constant-30-emb16": {"train": CONSTANT_30, "model": {"embedding_channels": 16}},
    "constant-30-medium": {"train": CONSTANT_30, "preset": "medium"},
    "constant-30-compress0.5": {"train": CONSTANT_30, "model": {"compression": 0.5}},
    "constant-30-compress0.3": {"train": CONSTANT_30, "model": {"compression": 0.3}},
    "no-stats": {"model": {"stats_bands": 0}},
    "no-mixup": {"train": {"mixup_alpha": 0.0}},
    "paper": {"preset": "paper"},
    # copies of every clip played 2 % slower and 2 % faster as 32 extra classes (Giri et al. 2020)
    "speed-classes": {"speed_classes": (0.98, 1.02)},
    # the branch convolutions keep the bottleneck's 17 frequency bands (stride 1, not 2): an
    # embedding with twice the frequency resolution (17 x 32 = 544 values, or 17 x 16 = 272)
    "fine-bands": {"model": {"branch_stride": (1, 1)}},
    "fine-bands-e16": {"model": {"branch_stride": (1, 1), "embedding_channels": 16}},
    # twice the frame rate (hop 256 = 16 ms, 62.5 frames/s) with the same 2-s windows: a
    # 15-24 Hz rattle (fan imbalance) is resolved in time, not only between 32-ms frames
    "hop256": {"model": HOP256},
    "hop256-seed1": {"model": HOP256, "train": {"seed": 1}},
    "hop256-seed2": {"model": HOP256, "train": {"seed": 2}},
    # twice the frequency resolution (n_fft 2048: 7.8-Hz bins, 1,025 of them), same hop and
    # windows: sidebands of a 15-24 Hz rattle around the fan's tones fall in bins of their own;
    # the branches stride 4 in frequency, so the embedding keeps 9 bands (288 values)
    "nfft2048": {"model": {"n_fft": 2048, "branch_stride": (4, 1)}},
    # exchange classes (Wilkinghoff 2024; audioanom.machines.exchange): half of every batch's
    # windows combined with a window of another ID (same type) and classified into 16 extra
    # classes: its magnitude branch with the other's complex branch, or its spectral envelope
    # replaced by the other's
    "exchange-branches": {"train": {"exchange": "branches"}},
    "exchange-branches-seed1": {"train": {"exchange": "branches", "seed": 1}},
    "exchange-branches-seed2": {"train": {"exchange": "branches", "seed": 2}},
    "exchange-envelope": {"train": {"exchange": "envelope"}},
    "exchange-envelope-seed1": {"train": {"exchange": "envelope", "seed": 1}},
    "exchange-envelope-seed2": {"train": {"exchange": "envelope", "seed": 2}},
    # 4-s windows (128 frames, scored every 64): a valve's whole duty cycle and more
    # revolutions of a slow fan in one window; the embedding is still pooled over time
    "win128": {"model": WIN128},
    "win128-seed1": {"model": WIN128, "train": {"seed": 1}},
    "win128-seed2": {"model": WIN128, "train": {"seed": 2}},
}


def _configs(name: str, device: str, threads: int | None, smoke: bool, precision: str = "auto"):
    from audioanom.machines.pipeline import default_model_config, default_train_config

    spec = CHANGES[name]
    preset = "tiny" if smoke else spec.get("preset")
    config = default_model_config(preset, **spec.get("model", {}))
    tc = default_train_config(device=device, precision=precision)
    tc = dataclasses.replace(tc, threads=threads, **spec.get("train", {}))
    if smoke:
        tc = dataclasses.replace(tc, epochs=1, crops_per_clip=1, patience=None)
    return spec.get("variant", "complex"), config, tc


def _clips(smoke: bool) -> pd.DataFrame:
    from audioanom.machines.pipeline import open_machine_clips

    clips = open_machine_clips("synthetic", smoke=smoke)
    return clips[clips["group"].isin(TYPES)].reset_index(drop=True)


def _summary(scores: pd.DataFrame) -> dict:
    from audioanom.machines.tables import evaluate_scores

    ev = evaluate_scores(scores)
    per_type = ev.summary.pivot_table(index="method", columns="machine_type", values="auc_mean")
    rows = ev.summary[ev.summary["machine_type"] == "all IDs"]
    return {
        r.method: {"auc": r.auc_mean, "pauc": r.pauc_mean, **per_type.loc[r.method].to_dict()}
        for r in rows.itertuples()
    }


#: The back-ends whose validation proxies are measured (``ce`` has no per-ID fit).
PROXY_BACKENDS = ("gauss", "knn", "layers")


def _proxy_means(tables: list[pd.DataFrame], keys: tuple[str, ...]) -> dict:
    """``{key: {proxy: mean AUC over the IDs}}``, one key per method of ``tables`` in order."""
    from audioanom.machines.validation import proxy_summary

    summary = proxy_summary(tables)
    return {
        k: {p: float(v) for p, v in row.items()}
        for k, (_, row) in zip(keys, summary.iterrows(), strict=True)
    }


def run_variant(
    name: str,
    device: str,
    threads: int | None,
    embeddings: str | None,
    smoke: bool = False,
    precision: str = "auto",
) -> dict:
    """Train, score and validate one variant (runs in its own process)."""
    from audioanom.machines.pipeline import network_scores, train_network
    from audioanom.machines.validation import network_proxies

    clips = _clips(smoke)
    variant, config, tc = _configs(name, device, threads, smoke, precision)
    out = paths.build_dir() / ("bench_detection-smoke" if smoke else "bench_detection") / name
    t0 = time.perf_counter()
    speed = CHANGES[name].get("speed_classes", ())
    res = train_network(
        clips, variant, None, tc, config, out_dir=out, log=lambda *a: None, speed_classes=speed
    )
    t_train = time.perf_counter() - t0
    scores, emb, _ = network_scores(res, clips)
    val = _proxy_means([network_proxies(res, clips, PROXY_BACKENDS)], PROXY_BACKENDS)
    if embeddings:
        Path(embeddings).mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            Path(embeddings) / f"{name}.npz",
            embedding=emb.embedding.astype(np.float16),
            layer_stats=emb.layer_stats.astype(np.float16),
            layer_dims=np.asarray(emb.layer_dims),
            path=clips["path"].astype(str).to_numpy(),
        )
    h = res.history
    return {
        "variant": name,
        "train_seconds": t_train,
        "seconds": time.perf_counter() - t0,
        "epochs": int(len(h)),
        "best_epoch": res.best_epoch,
        "stop_reason": res.stop_reason,
        "val_loss": float(h["val_loss"].min()),
        "val_acc": float(h.loc[h["val_loss"].idxmin(), "val_acc"]),
        "windows_per_s": float(h["windows_per_s"].mean()),
        "precision": res.precision,
        "embedding_dim": int(config.embedding_dim),
        "val": val,
        "test": _summary(scores),
    }


def baseline(seed: int = 0, smoke: bool = False) -> dict:
    """The log-mel Gaussian on the test clips and on the validation proxies."""
    from audioanom.machines.pipeline import baseline_scores
    from audioanom.machines.validation import baseline_proxies

    clips = _clips(smoke)
    val = _proxy_means([baseline_proxies(clips, None, seed=seed)], ("gauss",))
    return {"val": val, "test": _summary(baseline_scores(clips))}


def _print(done: dict) -> None:
    def line(name, method, m, v):
        vals = " ".join(f"{100 * v.get(p, np.nan):6.1f}" for p in ("other IDs", "added sound"))
        types = " ".join(f"{100 * m[t]:6.1f}" for t in TYPES)
        print(
            f"{name:<20} {method:<26} {vals}   {100 * m['auc']:6.1f} {100 * m['pauc']:6.1f} {types}"
        )

    print(
        f"{'variant':<20} {'method':<26} {'v:oth':>6} {'v:add':>6}   {'AUC':>6} {'pAUC':>6} "
        + " ".join(f"{t:>6}" for t in TYPES)
    )
    base = done.get("baseline")
    if base:
        for method, m in base["test"].items():
            line("-", method, m, base["val"]["gauss"])
    for name, v in done.get("variants", {}).items():
        for method, m in v["test"].items():
            backend = method.rsplit("(", 1)[-1].rstrip(")")
            line(name, method, m, v["val"].get(backend, {}))
        print(
            f"{'':<20} {v['epochs']} epochs ({v['stop_reason']}, best {v['best_epoch']}), "
            f"{v['train_seconds']:.0f} s training, {v['windows_per_s']:.0f} windows/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default=",".join(CHANGES))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto", help="auto | fp32 | bf16 (training)")
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument("--embeddings", default=None, help="folder for the clip embeddings")
    parser.add_argument("--fresh", action="store_true", help="retrain finished variants too")
    parser.add_argument("--smoke", action="store_true", help="smoke set, tiny nets, 1 epoch")
    args = parser.parse_args()
    results = Path(args.results)
    names = [n for n in args.variants.split(",") if n]
    unknown = [n for n in names if n not in CHANGES]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; known: {', '.join(CHANGES)}")
    done = json.loads(results.read_text()) if results.is_file() and not args.fresh else {}
    done.setdefault("variants", {})

    def save() -> None:
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(done, indent=2) + "\n")

    from audioanom.machines.features import StftConfig, stft_table

    clips = _clips(args.smoke)  # generate the set once, before any worker reads it
    stft_table(clips, StftConfig(), lazy=True)  # and fill the STFT cache
    todo = [n for n in names if n not in done["variants"]]
    threads = max(1, (os.cpu_count() or 1) // max(1, args.jobs))
    spawn = multiprocessing.get_context("spawn")  # torch's thread pools do not survive a fork
    with ProcessPoolExecutor(max_workers=max(1, args.jobs), mp_context=spawn) as pool:
        futures = {
            pool.submit(
                run_variant, n, args.device, threads, args.embeddings, args.smoke, args.precision
            ): n
            for n in todo
        }
        if "baseline" not in done:
            done["baseline"] = baseline(smoke=args.smoke)
            save()
        for fut in as_completed(futures):
            name = futures[fut]
            try:
                done["variants"][name] = fut.result()
            except Exception as err:  # one failed variant must not lose the others
                print(f"{name}: FAILED: {err!r}", flush=True)
                continue
            print(f"{name}: done", flush=True)
            save()
    _print(done)
    print(f"written: {results}")


if __name__ == "__main__":
    main()
