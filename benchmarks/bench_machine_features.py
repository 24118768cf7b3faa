"""Speed of the machine-sound features and of the DCASE 2020 baseline autoencoder (CPU).

Measures, on ``--threads`` torch threads (default 1, i.e. one core):

* complex STFT of a 10-s clip (``audioanom.machines.features.complex_stft``, (2, 513, 313)),
  from a signal in memory and from a WAV file (read + STFT), and loading it from the cache;
* log-mel (128 mels) + 5-frame stacking of a 10-s clip (309 x 640 vectors);
* autoencoder training throughput: vectors/s of full steps (forward, backward, Adam) at
  batch ``--batch``; scoring throughput (vectors/s and 10-s clips/s).

Speeds of the features are given as "x real time" (seconds of audio per second of compute).
Timings are medians over ``--iters`` repetitions after a warm-up; on a shared machine they
are noisy. Prints a table and writes ``benchmarks/results/machine_features.json``.
Example (brief)::

    .venv/bin/python benchmarks/bench_machine_features.py --iters 20 --ae-steps 20
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from audioanom.machines import autoencoder as ae
from audioanom.machines import features as mf

SR = 16000
CLIP_SECONDS = 10.0


def _median_time(fn: Callable[[], object], iters: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_features(iters: int, folder: Path) -> list[dict]:
    """Feature timings of one 10-s clip (noise), in memory and from a file."""
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(int(SR * CLIP_SECONDS))).astype(np.float32)
    wav = folder / "clip.wav"
    sf.write(wav, x, SR, subtype="PCM_16")
    cache_root = folder / "cache"
    mf.stft_table([wav], cache_root=cache_root)  # fill the cache
    cases = {
        "STFT (in memory)": lambda: mf.complex_stft(x),
        "STFT (read WAV + STFT)": lambda: mf.clip_stft(wav),
        "STFT (cache hit, np.load)": lambda: mf.stft_table([wav], cache_root=cache_root),
        "log-mel + stacking (in memory)": lambda: mf.stack_frames(mf.log_mel(x)),
        "log-mel vectors (read WAV)": lambda: mf.clip_vectors(wav),
    }
    rows = []
    for name, fn in cases.items():
        sec = _median_time(fn, iters)
        rows.append(
            {
                "case": name,
                "ms_per_clip": sec * 1e3,
                "x_real_time": CLIP_SECONDS / sec,
            }
        )
    return rows


def bench_autoencoder(steps: int, batch: int, seed: int = 0) -> dict:
    """Training and scoring throughput of the default baseline autoencoder."""
    cfg = ae.AutoencoderConfig()
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.standard_normal((batch * 4, cfg.input_dim)).astype(np.float32))
    torch.manual_seed(seed)
    model = ae.DenseAutoencoder(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, eps=cfg.adam_eps)
    model.train()

    def step(i: int = 0) -> None:
        xb = x[(i % 4) * batch : (i % 4 + 1) * batch]
        loss = ((model(xb) - xb) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    t0 = time.perf_counter()
    for i in range(steps):
        step(i)
    train_sec = (time.perf_counter() - t0) / steps
    clip_vectors = [x[:309].numpy()] * 8  # eight 10-s clips
    score_sec = _median_time(lambda: ae.score_clips(model.eval(), clip_vectors), 5)
    n_vec = 309 * 8
    # one epoch of the baseline on the full dev set: ~1000 clips x 4 IDs per type, 309 vectors
    epoch_vectors = 0.9 * 4000 * 309
    return {
        "batch": batch,
        "train_ms_per_step": train_sec * 1e3,
        "train_vectors_per_s": batch / train_sec,
        "score_vectors_per_s": n_vec / score_sec,
        "score_clips_per_s": 8 / score_sec,
        "est_minutes_per_epoch_full_type": epoch_vectors / (batch / train_sec) / 60,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--iters", type=int, default=20, help="repetitions per feature case")
    parser.add_argument("--ae-steps", type=int, default=30, help="timed training steps")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results" / "machine_features.json",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        features = bench_features(args.iters, Path(tmp))
    autoenc = bench_autoencoder(args.ae_steps, args.batch)

    print(
        f"\nfeatures of one {CLIP_SECONDS:g}-s clip, {args.threads} thread(s), "
        f"median of {args.iters}"
    )
    print(f"{'case':<34} {'ms/clip':>9} {'x real time':>12}")
    print(f"{'-' * 34} {'-' * 9} {'-' * 12}")
    for r in features:
        print(f"{r['case']:<34} {r['ms_per_clip']:>9.2f} {r['x_real_time']:>12,.0f}")
    print(f"\nautoencoder ({autoenc['parameters']:,} parameters), batch {autoenc['batch']}")
    print(
        f"  training: {autoenc['train_ms_per_step']:.1f} ms/step, "
        f"{autoenc['train_vectors_per_s']:,.0f} vectors/s "
        f"(~{autoenc['est_minutes_per_epoch_full_type']:.1f} min per epoch of a full "
        f"machine type, 4 IDs x 1000 clips)"
    )
    print(
        f"  scoring:  {autoenc['score_vectors_per_s']:,.0f} vectors/s, "
        f"{autoenc['score_clips_per_s']:,.1f} clips/s"
    )

    result = {
        "benchmark": "machine_features",
        "threads": args.threads,
        "iters": args.iters,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "features": features,
        "autoencoder": autoenc,
        "note": "medians on a shared CPU; noisy",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return result


if __name__ == "__main__":
    main()
