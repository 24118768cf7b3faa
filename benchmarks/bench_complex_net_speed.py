"""Speed of the self-supervised complex network (audioanom.nn.ComplexNet) on the CPU.

Measures, for each numeric mode (fp32, fp32 + channels_last, bf16 autocast + channels_last):

* training: windows/s of a full step (forward + backward + Adam) on a batch of ``--batch``
  (2, 513, 64) windows; and, for run-once training, windows/s on ``--batch // 4`` crops of
  128 frames (5 windows each at hop 16, heavily overlapping, so not the same training signal);
* inference: windows/s of eval-mode forward passes on the same batch;
* whole clips: ten-second clips (313 frames) per second with the run-once trunk
  (``ComplexNet.window_logits``), and with each clip's windows run separately;

and how far the run-once whole-clip logits are from separate windows (see
``window_logit_difference``).

Prints a table and writes JSON to ``benchmarks/results/bench_complex_net_speed.json``.
Timings are medians over ``--iters`` repetitions after one warm-up. Each rate is given twice:
"wall" (items per wall-clock second) and "cpu" (items per second of process CPU time divided
by the thread count, i.e. roughly what the threads would reach with the cores to themselves;
on a machine shared with other jobs the wall-clock numbers are noisy and pessimistic).
Example (brief)::

    .venv/bin/python benchmarks/bench_complex_net_speed.py --threads 2 --iters 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from audioanom.nn import (
    ComplexNet,
    ComplexNetConfig,
    anomaly_scores,
    autocast_bf16,
    count_parameters,
    fast_bf16_available,
    scoring_logits,
    split_windows,
)

MODES = {
    "fp32": (False, False),
    "fp32+cl": (True, False),
    "bf16+cl": (True, True),
}
CLIP_FRAMES = 313  # 10 s at 16 kHz, hop 512, centred frames


def _median_time(fn: Callable[[], object], iters: int) -> tuple[float, float]:
    """Median wall-clock and process-CPU seconds of ``fn`` over ``iters`` runs (+1 warm-up)."""
    fn()  # warm-up (oneDNN primitive creation, allocator)
    wall, cpu = [], []
    for _ in range(iters):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def bench_mode(
    cfg: ComplexNetConfig,
    channels_last: bool,
    bf16: bool,
    *,
    batch: int,
    clips: int,
    iters: int,
    seed: int = 0,
) -> dict[str, float]:
    """Throughputs of one numeric mode (see module docstring)."""
    torch.manual_seed(seed)
    model = ComplexNet(cfg).set_channels_last(channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 2, cfg.n_bins, cfg.window_frames)  # B, 2, F, T
    y = torch.randint(0, cfg.n_classes, (batch,))  # B

    def train_step() -> None:
        model.train()
        opt.zero_grad(set_to_none=True)
        with autocast_bf16(bf16):
            out = model(x)
        model.loss(out, y).backward()
        opt.step()

    # Run-once training: batch // 4 random 128-frame crops, 5 windows each at hop 16, trunk
    # run once per crop (ComplexNet.window_logits in training mode).
    crops = torch.randn(max(1, batch // 4), 2, cfg.n_bins, 128)  # N, 2, F, 128
    y_crops = torch.randint(0, cfg.n_classes, (crops.shape[0],))  # N

    def train_step_run_once() -> int:
        model.train()
        opt.zero_grad(set_to_none=True)
        with autocast_bf16(bf16):
            out = model.window_logits(crops, window=cfg.window_frames, hop=16)
        model.loss(out, y_crops).backward()
        opt.step()
        return out.mag.shape[0] * out.mag.shape[1]

    n_win_crops = train_step_run_once()

    model.eval()
    full = torch.randn(clips, 2, cfg.n_bins, CLIP_FRAMES)  # clips, 2, F, 313

    def infer_windows() -> None:
        with torch.inference_mode(), autocast_bf16(bf16):
            model(x)

    def infer_clips_once() -> None:
        with torch.inference_mode(), autocast_bf16(bf16):
            model.window_logits(full)

    def infer_clips_separate() -> None:
        win = split_windows(full, cfg.window_frames, cfg.window_hop)  # clips, W, 2, F, 64
        with torch.inference_mode(), autocast_bf16(bf16):
            model(win.reshape(-1, *win.shape[2:]))

    jobs = {  # name: (function, items per call)
        "train_windows": (train_step, batch),
        "train_overlapping_windows_run_once": (train_step_run_once, n_win_crops),
        "infer_windows": (infer_windows, batch),
        "clips_run_once": (infer_clips_once, clips),
        "clips_separate_windows": (infer_clips_separate, clips),
    }
    threads = torch.get_num_threads()
    result = {}
    for name, (fn, items) in jobs.items():
        wall, cpu = _median_time(fn, iters)
        result[f"{name}_per_s"] = items / wall
        # what the threads would do with the cores to themselves (CPU time / threads)
        result[f"{name}_per_s_cpu_time"] = items / (cpu / threads)
    return result


def _band_input(labels: torch.Tensor, n_bins: int, n_frames: int) -> torch.Tensor:
    """Noise whose class (per frame) sets a loud band of bins: ``(len, 2, F, T)`` or, for a
    ``(T,)`` label track, one clip ``(1, 2, F, T)``."""
    lo, width = n_bins // 8, n_bins // 8
    if labels.ndim == 1 and len(labels) == n_frames:  # one clip, class per frame
        x = torch.randn(1, 2, n_bins, n_frames) * 0.1
        for t, c in enumerate(labels.tolist()):
            s = lo + 2 * width * c
            x[0, :, s : s + width, t] += torch.randn(2, width)
        return x
    x = torch.randn(len(labels), 2, n_bins, n_frames) * 0.1
    for i, c in enumerate(labels.tolist()):
        s = lo + 2 * width * c
        x[i, :, s : s + width] += torch.randn(2, width, n_frames)
    return x


def window_logit_difference(cfg: ComplexNetConfig, *, steps: int = 10, seed: int = 0) -> dict:
    """Run-once trunk vs separate windows (fp32) on a model trained ``steps`` Adam steps to
    tell two synthetic "IDs" apart (a loud band low or high), scored on clips whose ID
    changes every 48 frames (out of step with the windows, so the windows really differ)."""
    torch.manual_seed(seed)
    model = ComplexNet(dataclasses.replace(cfg, n_classes=2))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        y = torch.randint(0, 2, (8,))
        opt.zero_grad()
        model.loss(model(_band_input(y, cfg.n_bins, cfg.window_frames)), y).backward()
        opt.step()
    model.eval()
    track = torch.tensor([(t // 48) % 2 for t in range(CLIP_FRAMES)])
    full = torch.cat([_band_input(track, cfg.n_bins, CLIP_FRAMES) for _ in range(2)])
    with torch.inference_mode():
        once = scoring_logits(model.window_logits(full))  # 2, W, 2
        exact = scoring_logits(model.window_logits(full, exact=True))  # 2, W, 2
    target = torch.zeros(once.shape[:2], dtype=torch.long)
    s_once, s_exact = anomaly_scores(once, target), anomaly_scores(exact, target)
    corr = torch.corrcoef(torch.stack([s_once.flatten(), s_exact.flatten()]))[0, 1]
    return {
        "train_steps": steps,
        "max_abs_logit_diff": float((once - exact).abs().max()),
        "logit_std": float(exact.std()),
        "max_abs_logit": float(exact.abs().max()),
        "window_score_correlation": float(corr),
        "max_abs_clip_score_diff": float((s_once.mean(1) - s_exact.mean(1)).abs().max()),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=2, help="timed repetitions per measurement")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--clips", type=int, default=2, help="ten-second clips per scoring batch")
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    ap.add_argument("--conv-method", default="auto", choices=["auto", "gauss", "block"])
    ap.add_argument("--diff-steps", type=int, default=10, help="training steps (0: skip)")
    ap.add_argument(
        "--channels", type=int, nargs=5, default=None, help="override the 5 complex widths"
    )
    ap.add_argument("--out", type=Path, default=None, help="JSON path (default results/)")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    kw = {"conv_method": args.conv_method}
    if args.channels:
        kw["channels"] = tuple(args.channels)
    cfg = ComplexNetConfig(**kw)
    n_params = count_parameters(ComplexNet(cfg))
    print(
        f"ComplexNet channels={cfg.channels} conv_method={cfg.conv_method} params={n_params:,} "
        f"threads={args.threads} fast_bf16={fast_bf16_available()}",
        flush=True,
    )
    rows = {}
    for mode in args.modes:
        cl, bf16 = MODES[mode]
        rows[mode] = bench_mode(cfg, cl, bf16, batch=args.batch, clips=args.clips, iters=args.iters)
        r = rows[mode]
        for kind, suffix in (("wall", ""), ("cpu", "_cpu_time")):
            print(
                f"{mode:8s} {kind:4s} train {r['train_windows_per_s' + suffix]:6.1f} win/s "
                f"({r['train_overlapping_windows_run_once_per_s' + suffix]:5.1f} run-once) | "
                f"infer {r['infer_windows_per_s' + suffix]:7.1f} win/s | 10-s clips "
                f"{r['clips_run_once_per_s' + suffix]:6.2f}/s run-once, "
                f"{r['clips_separate_windows_per_s' + suffix]:6.2f}/s separate",
                flush=True,
            )
    diff = window_logit_difference(cfg, steps=args.diff_steps) if args.diff_steps else {}
    if diff:
        print(
            f"run-once vs separate windows (fused logits, {diff['train_steps']} training steps): "
            f"max |diff| {diff['max_abs_logit_diff']:.3g}, logit std {diff['logit_std']:.3g}, "
            f"window-score correlation {diff['window_score_correlation']:.4f}, "
            f"max clip-score diff {diff['max_abs_clip_score_diff']:.3g}"
        )
    result = {
        "config": {k: getattr(cfg, k) for k in ("channels", "conv_method", "window_hop")},
        "params": n_params,
        "threads": args.threads,
        "batch": args.batch,
        "clips": args.clips,
        "iters": args.iters,
        "fast_bf16_available": fast_bf16_available(),
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "modes": rows,
        "window_logit_difference": diff,
    }
    out = args.out or Path(__file__).resolve().parent / "results" / "bench_complex_net_speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
