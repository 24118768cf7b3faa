"""Speed and precision of the machine-sound pipeline (training, scoring, features, bf16).

Measures, for a network size preset (:data:`audioanom.experiments.MODEL_PRESETS`):

* training: 64-frame windows per second of a full training step (forward, backward, Adam,
  batch ``--batch``), fp32 and bf16 autocast + channels_last;
* scoring: whole 10-s clips (313 frames, 9 windows, run-once trunk) per second, both
  precisions, through :func:`audioanom.scoring.score_specs`;
* features: the complex STFT of a 10-s clip, in memory and read from a WAV file, as a
  multiple of real time;
* AUC: :func:`audioanom.experiments.precision_comparison` on one synthetic machine type --
  the same fp32-trained network scored in fp32 and bf16, and a network trained in bf16;
* AUC on real recordings: the FSDD speaker-ID task (six = normal) trained and scored in fp32
  and in bf16, and the magnitude-only ablation (when FSDD is present).

Prints a table and writes ``benchmarks/results/mimii_<preset>.json``. Timings are medians after one
warm-up; on a shared machine they are noisy. bf16 is only fast on CPUs with native support
(``fast_bf16_available``); elsewhere oneDNN emulates it and it is slower than fp32.

Small run (a few minutes on 2 cores)::

    .venv/bin/python benchmarks/bench_mimii.py --smoke --epochs 2 --iters 2

Full run (the default synthetic set, the small network; add ``--preset paper`` for the
paper's network)::

    .venv/bin/python benchmarks/bench_mimii.py
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from audioanom.datasets import find_dataset_root
from audioanom.experiments import (
    FSDD_TRAIN_CONFIG,
    default_train_config,
    fsdd_id_task,
    model_config,
    open_machine_clips,
    precision_comparison,
)
from audioanom.machine_features import StftConfig, clip_stft, complex_stft
from audioanom.nn import ComplexNet, count_parameters, fast_bf16_available
from audioanom.scoring import ScoreConfig, score_specs
from audioanom.training import autocast_context, torch_threads

RESULTS_DIR = Path(__file__).resolve().parent / "results"
CLIP_FRAMES = 313


def _median_time(fn: Callable[[], object], iters: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def train_rate(preset: str, precision: str, batch: int, iters: int) -> float:
    """Training windows per second of one full step."""
    torch.manual_seed(0)
    model = ComplexNet(model_config(preset)).set_channels_last(precision != "fp32")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 2, 513, 64)  # B, 2, F, T
    y = torch.randint(0, 4, (batch,))
    cpu = torch.device("cpu")

    def step() -> None:
        model.train()
        with autocast_context(cpu, precision):
            out = model(x)
        loss = model.loss(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return batch / _median_time(step, iters)


def score_rate(preset: str, precision: str, clips: int, iters: int) -> float:
    """Whole 10-s clips per second through score_specs (run-once trunk, 9 windows)."""
    torch.manual_seed(0)
    model = ComplexNet(model_config(preset)).eval()
    rng = np.random.default_rng(0)
    specs = [rng.normal(size=(2, 513, CLIP_FRAMES)).astype(np.float32) for _ in range(clips)]
    targets = np.zeros(clips, dtype=np.int64)
    cfg = ScoreConfig(device="cpu", precision=precision, batch_clips=8)
    return clips / _median_time(lambda: score_specs(model, specs, targets, cfg), iters)


def feature_rates(iters: int) -> dict[str, float]:
    """STFT of a 10-s clip as a multiple of real time, in memory and from a WAV file."""
    x = (0.1 * np.random.default_rng(0).normal(size=160_000)).astype(np.float32)
    cfg = StftConfig()
    out = {"stft_in_memory_x_real_time": 10.0 / _median_time(lambda: complex_stft(x, cfg), iters)}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.wav"
        sf.write(path, x, 16000, subtype="PCM_16")
        out["stft_from_wav_x_real_time"] = 10.0 / _median_time(lambda: clip_stft(path, cfg), iters)
    return out


def fsdd_comparison(preset: str, threads: int, epochs: int) -> list[dict[str, object]]:
    """The real-data FSDD speaker-ID task (see :func:`fsdd_id_task`) trained and scored in
    fp32 and in bf16 (same seed), and the magnitude-only ablation in fp32: mean AUC/pAUC over
    the six speakers. Empty when FSDD is not present."""
    try:
        root = find_dataset_root("fsdd")
    except FileNotFoundError as err:
        print(f"FSDD comparison skipped: {err}")
        return []
    rows = []
    for variant, precision in (("complex", "fp32"), ("complex", "bf16"), ("magnitude", "fp32")):
        tc = dataclasses.replace(
            FSDD_TRAIN_CONFIG, epochs=epochs, device="cpu", precision=precision, threads=threads
        )
        task = fsdd_id_task(root, train_config=tc, preset=preset, variant=variant)
        rows.append(
            {
                "variant": variant,
                "precision": precision,
                "auc": float(task.per_speaker["auc"].mean()),
                "pauc": float(task.per_speaker["pauc"].mean()),
                "speaker_accuracy": task.id_accuracy,
                "epochs_run": len(task.history),
                "seconds": task.seconds,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="small", help="network size (tiny|small|paper)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--clips", type=int, default=16, help="10-s clips per scoring pass")
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--machine-type", default="fan", help="type for the fp32/bf16 AUC")
    parser.add_argument("--epochs", type=int, default=8, help="epochs of the AUC comparison")
    parser.add_argument("--smoke", action="store_true", help="the small synthetic set")
    parser.add_argument("--skip-auc", action="store_true", help="speeds only")
    parser.add_argument(
        "--fsdd-epochs", type=int, default=30, help="epochs of the FSDD fp32/bf16 comparison"
    )
    args = parser.parse_args()

    result: dict[str, object] = {
        "benchmark": "mimii",
        "preset": args.preset,
        "params": count_parameters(ComplexNet(model_config(args.preset))),
        "threads": args.threads,
        "batch": args.batch,
        "iters": args.iters,
        "fast_bf16_available": fast_bf16_available(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "processor": platform.processor(),
    }
    rows = []
    with torch_threads(args.threads):
        speed = {}
        for prec in ("fp32", "bf16"):
            speed[prec] = {
                "train_windows_per_s": train_rate(args.preset, prec, args.batch, args.iters),
                "score_clips_per_s": score_rate(args.preset, prec, args.clips, args.iters),
            }
            label = "bf16+channels_last" if prec == "bf16" else "fp32"
            rows.append((f"train windows/s ({label})", speed[prec]["train_windows_per_s"]))
            rows.append((f"score 10-s clips/s ({label})", speed[prec]["score_clips_per_s"]))
        result["speed"] = speed
        result["features"] = feature_rates(max(args.iters, 5))
        rows += [(k.replace("_", " "), v) for k, v in result["features"].items()]
        if not args.skip_auc:
            clips = open_machine_clips("synthetic", smoke=args.smoke)
            tc = dataclasses.replace(
                default_train_config(args.epochs, device="cpu"), threads=args.threads
            )
            table = precision_comparison(
                clips, args.machine_type, train_config=tc, preset=args.preset
            )
            result["auc"] = {
                "data": "synthetic-smoke" if args.smoke else "synthetic",
                "machine_type": args.machine_type,
                "epochs": args.epochs,
                "rows": table.to_dict(orient="records"),
            }
            for r in table.itertuples():
                name = f"AUC train {r.train_precision} / score {r.score_precision}"
                rows.append((name, r.auc))
                rows.append(("  difference to fp32/fp32 [points]", r.auc_diff_points))
            fsdd = fsdd_comparison(args.preset, args.threads, args.fsdd_epochs)
            result["fsdd"] = fsdd
            for r in fsdd:
                rows.append((f"FSDD AUC ({r['variant']}, {r['precision']})", r["auc"]))
            if len(fsdd) == 3:
                diff = 100 * (fsdd[1]["auc"] - fsdd[0]["auc"])
                rows.append(("  FSDD bf16 - fp32 [points]", diff))

    width = max(len(n) for n, _ in rows)
    print(f"{'measure':<{width}}  value")
    print(f"{'-' * width}  --------")
    for name, value in rows:
        print(f"{name:<{width}}  {value:8.3f}")
    target = RESULTS_DIR / f"mimii_{args.preset}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(f"written: {target}")


if __name__ == "__main__":
    main()
