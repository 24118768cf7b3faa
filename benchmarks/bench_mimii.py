"""Speed of the machine-sound front-end on this machine, as ratios measured in one run.

For each network preset (:data:`audioanom.machines.pipeline.MODEL_PRESETS`) and variant (the complex
network and its magnitude-only ablation), in fp32 and, where this CPU runs it natively, bf16
autocast:

* training: 64-frame windows per second of a full step (forward, backward, Adam, batch 32);
* scoring: whole 10-s clips (9 windows, each on its own) per second through
  :func:`audioanom.machines.scoring.embed_specs`;

plus the complex STFT of a 10-s clip (in memory and from a WAV file) as a multiple of real
time, and, measured in the same run, a float32 GEMM (2048 x 2048) in GFLOP/s: every network
speed is also printed as the GFLOP/s it reaches (multiply-adds counted by a forward hook on
every convolution and linear layer, a training step counted as 3 forward passes), as a
fraction of that GEMM.

Prints a table and writes ``benchmarks/results/mimii_speed.json``. Timings are medians after one
warm-up; on a machine shared with other jobs they are noisy.

    .venv/bin/python benchmarks/bench_mimii.py            # small and paper presets
    .venv/bin/python benchmarks/bench_mimii.py --presets small --iters 2
"""

from __future__ import annotations

import argparse
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

from audioanom.machines.features import StftConfig, clip_stft, complex_stft
from audioanom.machines.nn import count_parameters
from audioanom.machines.pipeline import model_config
from audioanom.machines.scoring import EmbedConfig, embed_specs
from audioanom.machines.training import build_network
from audioanom.runtime import autocast_context, fast_bf16_available, torch_threads

RESULTS_DIR = Path(__file__).resolve().parent / "results"
CLIP_FRAMES = 313  # 10 s at 16 kHz, hop 512, centred frames
N_CLASSES = 16


def _median_time(fn: Callable[[], object], iters: int) -> float:
    fn()  # warm-up (oneDNN primitive creation, allocator)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def gemm_gflops(iters: int, n: int = 2048) -> float:
    """float32 matrix product ``(n, n) @ (n, n)``: 2 n^3 flops."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / _median_time(lambda: a @ b, iters) / 1e9


def _network(preset: str, variant: str):
    torch.manual_seed(0)
    net = build_network(variant, model_config(preset, n_classes=N_CLASSES))
    rng = np.random.default_rng(0)
    return net.fit_input_norm([rng.normal(size=(2, 513, 80)).astype(np.float32)])


def forward_macs(model: torch.nn.Module) -> int:
    """Multiply-adds of one forward pass of one window: every ``F.conv2d`` call (batch of 1,
    groups of 1) and every linear layer."""
    total = 0

    def hook(mod, inp, out):
        nonlocal total
        if isinstance(mod, torch.nn.Linear):
            total += out.numel() * mod.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    from torch.nn import functional as F

    conv2d = F.conv2d

    def counting_conv2d(x, w, *args, **kwargs):  # nn.Conv2d and the complex layers alike
        nonlocal total
        out = conv2d(x, w, *args, **kwargs)
        total += out.numel() * w.shape[1] * w.shape[2] * w.shape[3]
        return out

    F.conv2d = counting_conv2d
    try:
        with torch.no_grad():
            model.eval()(torch.randn(1, 2, 513, 64))
    finally:
        F.conv2d = conv2d
        for h in handles:
            h.remove()
    return total


def train_rate(model, precision: str, batch: int, iters: int) -> float:
    """Training windows per second of one full step."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 2, 513, 64)  # B, 2, F, T
    y = torch.randint(0, N_CLASSES, (batch,))
    cpu = torch.device("cpu")

    def step() -> None:
        model.train()
        with autocast_context(cpu, precision):
            out = model(x, y)
        loss = model.loss(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return batch / _median_time(step, iters)


def score_rate(model, precision: str, clips: int, iters: int) -> float:
    """Whole 10-s clips per second (every window on its own)."""
    rng = np.random.default_rng(0)
    specs = [rng.normal(size=(2, 513, CLIP_FRAMES)).astype(np.float32) for _ in range(clips)]
    classes = [str(k) for k in range(N_CLASSES)]
    cfg = EmbedConfig(device="cpu", precision=precision)
    return clips / _median_time(lambda: embed_specs(model, specs, classes, cfg), iters)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", default="small,paper")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--clips", type=int, default=8, help="10-s clips per scoring pass")
    parser.add_argument("--iters", type=int, default=3)
    args = parser.parse_args()
    precisions = ["fp32"] + (["bf16"] if fast_bf16_available() else [])
    result: dict[str, object] = {
        "benchmark": "mimii_speed",
        "threads": args.threads,
        "batch": args.batch,
        "fast_bf16_available": fast_bf16_available(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "processor": platform.processor(),
        "rows": [],
    }
    lines = []
    with torch_threads(args.threads):
        gemm = gemm_gflops(max(args.iters, 5))
        result["gemm_fp32_gflops"] = gemm
        lines.append(("fp32 GEMM 2048^3 [GFLOP/s]", gemm, ""))
        for preset in args.presets.split(","):
            for variant in ("complex", "magnitude"):
                model = _network(preset, variant)
                macs = forward_macs(model)
                for prec in precisions:
                    tr = train_rate(model, prec, args.batch, args.iters)
                    sc = score_rate(model, prec, args.clips, args.iters)
                    train_gflops = tr * 3 * 2 * macs / 1e9
                    score_gflops = sc * 9 * 2 * macs / 1e9
                    row = {
                        "preset": preset,
                        "variant": variant,
                        "precision": prec,
                        "parameters": count_parameters(model),
                        "forward_macs_per_window": macs,
                        "train_windows_per_s": tr,
                        "score_clips_per_s": sc,
                        "train_fraction_of_gemm": train_gflops / gemm,
                        "score_fraction_of_gemm": score_gflops / gemm,
                    }
                    result["rows"].append(row)
                    name = f"{preset} {variant} {prec}"
                    lines.append(
                        (f"{name}: train windows/s", tr, f"{train_gflops / gemm:.0%} of GEMM")
                    )
                    lines.append(
                        (f"{name}: score 10-s clips/s", sc, f"{score_gflops / gemm:.0%} of GEMM")
                    )
        result["features"] = feature_rates(max(args.iters, 5))
        lines += [(k.replace("_", " "), v, "") for k, v in result["features"].items()]
    width = max(len(n) for n, _, _ in lines)
    print(f"{'measure':<{width}}  {'value':>9}  ratio")
    for name, value, ratio in lines:
        print(f"{name:<{width}}  {value:9.2f}  {ratio}")
    target = RESULTS_DIR / "mimii_speed.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(f"written: {target}")


if __name__ == "__main__":
    main()
