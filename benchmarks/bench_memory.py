"""Peak memory and time of training and scoring at development-set size.

A user with the real DCASE 2020 development set has about 1,000 normal training clips per
machine ID (10 s each). This benchmark writes one synthetic machine type at that size (4 IDs x
1,000 normal training clips + ``--test-per-id`` test clips) and, in a fresh process per size
(so that each peak is its own), trains the default network for one epoch and scores every clip
with every back-end on the first 250 and on all 1,000 training clips per ID:

* peak resident memory (``ru_maxrss``) after the STFT cache is filled, after the training
  epoch, and after scoring;
* seconds of the training epoch (with its validation pass) and of scoring, windows/s and
  clips/s.

The STFTs are cached on disk and read when used (:class:`audioanom.machines.features.
CachedArray`), the crops stream through a DataLoader: memory must not grow with the number
of clips. Targets (from the issue): peak within 10% between the two sizes, under 3 GB.

Prints a table and writes ``benchmarks/results/memory.json``. The data (about 1.4 GB of WAV
files, 5.5 GB of STFT cache at the default size) goes to ``build/bench_memory/``; a second run
reuses it.

    .venv/bin/python benchmarks/bench_memory.py                    # 250 and 1,000 per ID
    .venv/bin/python benchmarks/bench_memory.py --sizes 20 80 --test-per-id 8   # a quick try
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _peak_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports ru_maxrss in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(root: Path, per_id: int, workers: int, preset: str, memmap: bool) -> dict:
    """One size in this (fresh) process: cache, one training epoch, scoring; a result row.
    ``memmap``: hold every STFT as an ``np.memmap`` instead (the way before, for comparison)."""
    import dataclasses

    import numpy as np

    from audioanom.datasets import load_dataset
    from audioanom.machines.features import StftConfig, cache_path, stft_table
    from audioanom.machines.pipeline import (
        default_model_config,
        default_train_config,
        network_scores,
    )
    from audioanom.machines.training import train_clips_network

    clips = load_dataset("synthetic-machines", root).clips
    train = (clips["split"] == "train") & (clips["label"] == "normal")
    rank = clips[train].groupby("id").cumcount()
    keep = ~train.copy()
    keep[rank.index[rank < per_id]] = True
    clips = clips[keep].reset_index(drop=True)
    n_train = int(((clips["split"] == "train") & (clips["label"] == "normal")).sum())
    row = {"clips_per_id": per_id, "train_clips": n_train, "all_clips": len(clips)}
    row["specs"] = "np.memmap" if memmap else "CachedArray"

    def held_maps(table):  # every STFT mapped for the whole run
        return [np.load(cache_path(p, "stft", StftConfig()), mmap_mode="r") for p in table["path"]]

    specs_fn = held_maps if memmap else None

    t0 = time.perf_counter()
    stft_table(clips, StftConfig(), lazy=True)
    row["cache_s"], row["peak_mb_cache"] = time.perf_counter() - t0, _peak_mb()

    config = dataclasses.replace(
        default_train_config(1), patience=None, loader_workers=workers, precision="fp32"
    )
    model = default_model_config(preset)
    res = train_clips_network(clips, "complex", model, config, specs_fn=specs_fn)
    h = res.history.iloc[0]
    row.update(
        epoch_s=float(h["seconds"]),
        train_windows_per_s=float(h["windows_per_s"]),
        peak_mb_train=_peak_mb(),
    )
    t0 = time.perf_counter()
    scores, _, _ = network_scores(res, clips, specs_fn=specs_fn)
    row["score_s"] = time.perf_counter() - t0
    row["score_clips_per_s"] = len(clips) / row["score_s"]
    row["peak_mb"] = row["peak_mb_score"] = _peak_mb()
    row["scored_rows"] = len(scores)
    assert np.isfinite(scores["score"]).all(), "non-finite scores"
    return row


def _ensure_data(root: Path, per_id: int, test_per_id: int) -> None:
    from audioanom.synth.machines import MANIFEST_FILE, generate_machines

    manifest = root / MANIFEST_FILE
    if manifest.is_file():
        cfg = json.loads(manifest.read_text())
        if cfg.get("train_per_id") == per_id and cfg.get("test_per_id") == test_per_id:
            return
    print(f"writing {4 * (per_id + test_per_id)} clips of 10 s to {root} ...", flush=True)
    generate_machines(
        root,
        machine_types=("fan",),
        train_per_id=per_id,
        test_per_id=test_per_id,
        workers=os.cpu_count() or 1,
        overwrite=True,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[250, 1000])
    p.add_argument("--test-per-id", type=int, default=50)
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    p.add_argument("--preset", default="small")
    p.add_argument("--root", type=Path, default=None)
    p.add_argument(
        "--memmap", action="store_true", help="also run the largest size with np.memmap lists"
    )
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    from audioanom import paths

    root = args.root or paths.build_dir() / "bench_memory" / "data"
    if args.child is not None:
        row = _child(root, args.child, args.workers, args.preset, args.memmap)
        print(json.dumps(row))
        return 0
    _ensure_data(root, max(args.sizes), args.test_per_id)
    rows = []
    runs = [(size, False) for size in sorted(args.sizes)]
    runs += [(max(args.sizes), True)] if args.memmap else []
    for size, memmap in runs:
        print(f"{size} training clips per ID{' (np.memmap)' if memmap else ''} ...", flush=True)
        cmd = [sys.executable, __file__, "--child", str(size), "--root", str(root)]
        cmd += ["--workers", str(args.workers), "--preset", args.preset]
        cmd += ["--memmap"] if memmap else []
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    cols = [
        ("specs", "STFTs held as", "{}"),
        ("clips_per_id", "clips/ID", "{:d}"),
        ("train_clips", "train clips", "{:d}"),
        ("peak_mb_cache", "peak MB (cache)", "{:.0f}"),
        ("peak_mb_train", "peak MB (train)", "{:.0f}"),
        ("peak_mb_score", "peak MB (score)", "{:.0f}"),
        ("epoch_s", "epoch s", "{:.0f}"),
        ("train_windows_per_s", "train windows/s", "{:.0f}"),
        ("score_s", "scoring s", "{:.0f}"),
        ("score_clips_per_s", "scored clips/s", "{:.1f}"),
    ]
    print("| " + " | ".join(c[1] for c in cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f.format(r[k]) for k, _, f in cols) + " |")
    lazy = [r for r in rows if r["specs"] == "CachedArray"]
    ratio = lazy[-1]["peak_mb"] / lazy[0]["peak_mb"]
    verdict = {
        "peak_ratio_largest_to_smallest": ratio,
        "within_10_percent": bool(ratio <= 1.10),
        "under_3_gb": bool(max(r["peak_mb"] for r in lazy) < 3 * 1024),
    }
    print(
        f"peak memory {lazy[-1]['clips_per_id']} vs {lazy[0]['clips_per_id']} clips/ID: "
        f"x{ratio:.3f} (target <= 1.10: {'met' if verdict['within_10_percent'] else 'NOT met'}); "
        f"under 3 GB: {'yes' if verdict['under_3_gb'] else 'NO'}"
    )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / "memory.json"
    meta = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    meta.update(workers=args.workers, preset=args.preset, test_per_id=args.test_per_id)
    out.write_text(json.dumps({"meta": meta, "rows": rows, **verdict}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
