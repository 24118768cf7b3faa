"""Speed of the machine-sound front-end on this machine, as ratios measured in one run.

For each network preset (:data:`audioanom.machines.pipeline.MODEL_PRESETS`, with the default
design :data:`audioanom.machines.pipeline.DEFAULT_DESIGN`) and variant (the complex network and
its magnitude-only ablation), in fp32 and, where this CPU runs it natively, bf16 autocast, in
the memory layout training uses (:func:`audioanom.runtime.use_channels_last`):

* training: 64-frame windows per second of a full step (forward, backward, Adam, batch 32);
* scoring: whole 10-s clips (9 windows, each on its own) per second through
  :func:`audioanom.machines.scoring.embed_specs`;

plus the complex STFT of a 10-s clip (in memory and from a WAV file) as a multiple of real
time, and, measured in the same run, a float32 GEMM (2048 x 2048) in GFLOP/s: every network
speed is also printed as the GFLOP/s it reaches (multiply-adds counted by a forward hook on
every convolution and linear layer, a training step counted as 3 forward passes), as a
fraction of that GEMM. That fraction is the fraction of this CPU's ceiling: the ceiling is the
rate at which the network's multiply-adds would run at the GEMM's speed, printed beside it in
windows/s and clips/s.

``--profile`` adds, for the paper-size complex network in fp32: a ``torch.profiler`` table of
one training step (``benchmarks/results/mimii_profile.txt``) and every convolution of the
network timed on its own (forward; forward + backward) as a fraction of the GEMM, which shows
where a step's time goes.

Prints a table and writes ``benchmarks/results/mimii_speed.json``. Timings are medians after one
warm-up; on a machine shared with other jobs they are noisy.

    .venv/bin/python benchmarks/bench_mimii.py            # small and paper presets
    .venv/bin/python benchmarks/bench_mimii.py --presets small --iters 2
    .venv/bin/python benchmarks/bench_mimii.py --profile
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
from audioanom.machines.pipeline import default_model_config
from audioanom.machines.scoring import EmbedConfig, embed_specs
from audioanom.machines.training import build_network
from audioanom.runtime import (
    autocast_context,
    fast_bf16_available,
    torch_threads,
    use_channels_last,
)

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
    net = build_network(variant, default_model_config(preset, n_classes=N_CLASSES))
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


def training_step(model, precision: str, batch: int, device: str = "cpu") -> Callable[[], None]:
    """One full training step (forward, backward, Adam) on a fixed random batch, in the
    layout training uses (:func:`use_channels_last`: model and batch); on a GPU the step
    waits for its kernels."""
    dev = torch.device(device)
    model.to(dev)
    x = torch.randn(batch, 2, 513, 64, device=dev)  # B, 2, F, T
    if use_channels_last(dev, precision):
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    y = torch.randint(0, N_CLASSES, (batch,), device=dev)

    def step() -> None:
        model.train()
        with autocast_context(dev, precision):
            out = model(x, y)
        loss = model.loss(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()

    return step


def train_rate(model, precision: str, batch: int, iters: int, device: str = "cpu") -> float:
    """Training windows per second of one full step."""
    return batch / _median_time(training_step(model, precision, batch, device), iters)


def score_rate(model, precision: str, clips: int, iters: int, device: str = "cpu") -> float:
    """Whole 10-s clips per second (every window on its own; the STFTs start in host memory,
    as they come from the cache)."""
    rng = np.random.default_rng(0)
    specs = [rng.normal(size=(2, 513, CLIP_FRAMES)).astype(np.float32) for _ in range(clips)]
    classes = [str(k) for k in range(N_CLASSES)]
    # a GPU takes every clip's windows in one pass; the CPU the library's default batch
    batch = 9 * clips if device == "cuda" else EmbedConfig.batch_windows
    cfg = EmbedConfig(device=device, precision=precision, batch_windows=batch)
    return clips / _median_time(lambda: embed_specs(model, specs, classes, cfg), iters)


def gpu_speed(presets: list[str], batches: list[int], clips: int, iters: int) -> dict:
    """The same rates on the CUDA device, fp32 (TF32 convolutions, PyTorch's default) and bf16
    autocast, against a bf16 GEMM (8192^3) measured in the same run as the ceiling."""
    dev = torch.device("cuda")
    a = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)

    def gemm() -> None:
        a @ a
        torch.cuda.synchronize()

    tflops = 2 * 8192**3 / _median_time(gemm, max(iters, 5)) / 1e12
    out = {"device": torch.cuda.get_device_name(), "gemm_bf16_tflops": tflops, "rows": []}
    print(f"{out['device']}: bf16 GEMM 8192^3 {tflops:.0f} TFLOP/s")
    for preset in presets:
        for variant in ("complex", "magnitude"):
            model = _network(preset, variant)
            macs = forward_macs(model)
            for prec in ("fp32", "bf16"):
                for batch in batches:
                    tr = train_rate(model, prec, batch, iters, "cuda")
                    frac = 3 * 2 * macs * tr / 1e12 / tflops
                    out["rows"].append(
                        {
                            "preset": preset,
                            "variant": variant,
                            "precision": prec,
                            "batch": batch,
                            "train_windows_per_s": tr,
                            "train_fraction_of_bf16_gemm": frac,
                        }
                    )
                    print(
                        f"{preset} {variant} {prec} batch {batch}: train {tr:,.0f} windows/s "
                        f"({frac:.1%} of the bf16 GEMM)"
                    )
                sc = score_rate(model, prec, clips, iters, "cuda")
                out["rows"].append(
                    {
                        "preset": preset,
                        "variant": variant,
                        "precision": prec,
                        "score_clips_per_s": sc,
                    }
                )
                print(f"{preset} {variant} {prec}: score {sc:,.0f} clips/s ({clips} per pass)")
                model.to("cpu")
    return out


def conv_calls(model: torch.nn.Module, batch: int) -> list[dict[str, object]]:
    """Every ``F.conv2d`` call of one forward pass of ``batch`` windows: input and weight
    shapes, stride, padding, groups, and its multiply-adds (in call order)."""
    from torch.nn import functional as F

    conv2d, calls = F.conv2d, []

    def recording_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
        out = conv2d(x, w, b, stride, padding, dilation, groups)
        calls.append(
            {
                "input": tuple(x.shape),
                "weight": tuple(w.shape),
                "bias": b is not None,
                "stride": stride,
                "padding": padding,
                "groups": groups,
                "macs": out.numel() * w.shape[1] * w.shape[2] * w.shape[3],
            }
        )
        return out

    F.conv2d = recording_conv2d
    try:
        with torch.no_grad():
            model.eval()(torch.randn(batch, 2, 513, 64))
    finally:
        F.conv2d = conv2d
    return calls


def conv_table(model, batch: int, iters: int, gemm: float) -> list[dict[str, object]]:
    """Each distinct convolution of ``model`` timed on its own in the training layout
    (fp32): forward, and forward + backward (the input's gradient too, except for the first
    layer, whose input needs none), with GFLOP/s as a fraction of the GEMM."""
    from torch.nn import functional as F

    cl = use_channels_last(torch.device("cpu"), "fp32")
    fmt = torch.channels_last if cl else torch.contiguous_format
    rows: dict[tuple, dict[str, object]] = {}
    for k, c in enumerate(conv_calls(model, batch)):
        key = (c["input"], c["weight"], str(c["stride"]), str(c["padding"]), c["groups"])
        if key in rows:
            rows[key]["calls"] += 1
            continue
        first = k == 0
        x = torch.randn(c["input"]).contiguous(memory_format=fmt).requires_grad_(not first)
        w = torch.randn(c["weight"]).contiguous(memory_format=fmt).requires_grad_()

        def fwd(x=x, w=w, c=c):
            return F.conv2d(x, w, None, c["stride"], c["padding"], 1, c["groups"])

        def fwd_bwd(fwd=fwd):
            fwd().sum().backward()

        with torch.no_grad():
            t_f = _median_time(fwd, iters)
        t_fb = _median_time(fwd_bwd, iters)
        flops = 2 * c["macs"]
        fb_flops = flops * (2 if first else 3)
        rows[key] = {
            "input": list(c["input"]),
            "weight": list(c["weight"]),
            "stride": c["stride"],
            "calls": 1,
            "forward_ms": 1e3 * t_f,
            "forward_backward_ms": 1e3 * t_fb,
            "forward_fraction_of_gemm": flops / t_f / 1e9 / gemm,
            "forward_backward_fraction_of_gemm": fb_flops / t_fb / 1e9 / gemm,
        }
    return list(rows.values())


def profile_step(model, batch: int) -> str:
    """``torch.profiler`` table (self CPU time, top 15 operators) of one fp32 training step
    after two warm-up steps, in the training layout."""
    from torch.profiler import ProfilerActivity, profile

    step = training_step(model, "fp32", batch)
    step(), step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)


def write_profile(args, gemm: float, result: dict[str, object]) -> None:
    """The ``--profile`` part: conv table and profiler table of the paper-size network."""
    model = _network("paper", "complex")
    step_rows = [r for r in result["rows"] if r["preset"] == "paper" and r["variant"] == "complex"]
    table = conv_table(model, args.batch, args.iters, gemm)
    result["paper_convolutions"] = table
    print(f"\npaper complex fp32, each convolution on its own (batch {args.batch}):")
    print(
        f"{'input':<22} {'weight':<18} {'calls':>5} {'fwd ms':>8} {'of GEMM':>7} "
        f"{'fwd+bwd ms':>10} {'of GEMM':>7}"
    )
    total_fb = 0.0
    for r in table:
        total_fb += r["calls"] * r["forward_backward_ms"]
        print(
            f"{str(tuple(r['input'])):<22} {str(tuple(r['weight'])):<18} {r['calls']:>5} "
            f"{r['forward_ms']:8.1f} {r['forward_fraction_of_gemm']:7.0%} "
            f"{r['forward_backward_ms']:10.1f} {r['forward_backward_fraction_of_gemm']:7.0%}"
        )
    result["paper_convolutions_forward_backward_ms"] = total_fb
    line = f"convolutions alone, forward + backward: {total_fb:.0f} ms per step"
    if step_rows:
        step_ms = 1e3 * args.batch / step_rows[0]["train_windows_per_s"]
        line += f" of {step_ms:.0f} ms ({total_fb / step_ms:.0%})"
        result["paper_step_ms"] = step_ms
    print(line)
    text = profile_step(_network("paper", "complex"), args.batch)
    path = RESULTS_DIR / "mimii_profile.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "One fp32 training step of the paper-size complex network (batch "
        f"{args.batch}, {args.threads} threads), torch.profiler, self CPU time:\n\n{text}\n"
    )
    print(f"\n{text}\nwritten: {path}")


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
    parser.add_argument("--profile", action="store_true", help="profile the paper-size network")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda: the GPU rates only")
    args = parser.parse_args()
    if args.device == "cuda":
        result = gpu_speed(args.presets.split(","), [32, 256], max(args.clips, 64), args.iters)
        target = RESULTS_DIR / "mimii_speed_gpu.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(result, indent=2) + "\n")
        print(f"written: {target}")
        return
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
    with torch_threads(args.threads):
        gemm_before = gemm_gflops(max(args.iters, 5))
        measured = []
        for preset in args.presets.split(","):
            for variant in ("complex", "magnitude"):
                model = _network(preset, variant)
                macs = forward_macs(model)
                for prec in precisions:
                    tr = train_rate(model, prec, args.batch, args.iters)
                    sc = score_rate(model, prec, args.clips, args.iters)
                    measured.append((preset, variant, prec, count_parameters(model), macs, tr, sc))
        result["features"] = feature_rates(max(args.iters, 5))
        # The ceiling is the best this CPU did: the GEMM before and after the networks.
        gemm = max(gemm_before, gemm_gflops(max(args.iters, 5)))
        result["gemm_fp32_gflops"] = gemm
        lines = [("fp32 GEMM 2048^3 [GFLOP/s]", gemm, "the faster of two, before and after")]
        for preset, variant, prec, n_params, macs, tr, sc in measured:
            train_ceiling = gemm * 1e9 / (3 * 2 * macs)  # windows/s at GEMM speed
            score_ceiling = gemm * 1e9 / (9 * 2 * macs)  # clips/s at GEMM speed
            result["rows"].append(
                {
                    "preset": preset,
                    "variant": variant,
                    "precision": prec,
                    "parameters": n_params,
                    "forward_macs_per_window": macs,
                    "train_windows_per_s": tr,
                    "score_clips_per_s": sc,
                    "train_ceiling_windows_per_s": train_ceiling,
                    "score_ceiling_clips_per_s": score_ceiling,
                    "train_fraction_of_gemm": tr / train_ceiling,
                    "score_fraction_of_gemm": sc / score_ceiling,
                }
            )
            name = f"{preset} {variant} {prec}"
            lines.append(
                (
                    f"{name}: train windows/s",
                    tr,
                    f"{tr / train_ceiling:.0%} of the ceiling {train_ceiling:.1f}",
                )
            )
            lines.append(
                (
                    f"{name}: score 10-s clips/s",
                    sc,
                    f"{sc / score_ceiling:.0%} of the ceiling {score_ceiling:.1f}",
                )
            )
        lines += [(k.replace("_", " "), v, "") for k, v in result["features"].items()]
        width = max(len(n) for n, _, _ in lines)
        print(f"{'measure':<{width}}  {'value':>9}  ratio")
        for name, value, ratio in lines:
            print(f"{name:<{width}}  {value:9.2f}  {ratio}")
        if args.profile:
            write_profile(args, gemm, result)
    target = RESULTS_DIR / "mimii_speed.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(f"written: {target}")


if __name__ == "__main__":
    main()
