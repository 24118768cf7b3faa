"""Speed of the AudioMNIST "six" exploration: audio -> FFT features -> Isolation Forest, PCA
(99 % variance) with per-bin errors -> two PaCMAP maps (spectra, error patterns) -> k-means.

Runs the pipeline twice on the same clips:

* **cold**: the feature cache is an empty temporary folder, so every file is decoded,
  resampled (48 kHz -> 8 kHz) and transformed;
* **warm**: the features come from the cache written by the cold run;

and prints the wall time (and the process CPU time) of each stage. PaCMAP's numba functions
are compiled on a tiny input first and that is not counted. Both runs must give the same
scores and maps (checked). For reference, the straightforward recipe (librosa.load with
resampling, numpy FFT, scikit-learn IsolationForest and PCA(0.99, full SVD), two PaCMAP maps
with its own PCA, k-means) took about 23 s on the 3,000 clips on the project's 2-core machine.

Writes ``benchmarks/results/audiomnist.json``. On a shared machine timings are noisy: the
load average before and after the run is recorded with them. Example::

    .venv/bin/python benchmarks/bench_audiomnist.py              # all 3,000 clips
    .venv/bin/python benchmarks/bench_audiomnist.py --n-clips 300
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "audiomnist.json"
REFERENCE_S = 23.0  # the straightforward recipe on the same machine (see the docstring)


def _timed(stages: dict, name: str, fn: Callable[[], object]):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    stages[name] = {
        "wall_s": round(time.perf_counter() - t0, 3),
        "cpu_s": round(time.process_time() - c0, 3),
    }
    return out


def run_pipeline(clips, *, n_components: float | int, n_clusters: int, seed: int) -> tuple:
    """One pass of the exploration; returns (stage timings, outputs)."""
    from audioanom.digits.detectors import fit_isolation_forest, fit_pca, isolation_forest_scores
    from audioanom.digits.embedding import error_patterns, kmeans_labels, pacmap_embedding
    from audioanom.digits.features import AUDIOMNIST_FFT, extract_features

    stages: dict[str, dict] = {}
    X = _timed(stages, "features", lambda: extract_features(clips, AUDIOMNIST_FFT, n_jobs=2))
    forest = _timed(stages, "isolation forest fit", lambda: fit_isolation_forest(X, seed=seed))
    if_scores = _timed(stages, "isolation forest score", lambda: isolation_forest_scores(forest, X))
    pca = _timed(stages, "pca fit", lambda: fit_pca(X, n_components, seed=seed))
    bins = _timed(stages, "pca errors", lambda: pca.bin_errors(X))
    map1 = _timed(stages, "pacmap spectra", lambda: pacmap_embedding(X, seed=seed, pca=pca))
    map2 = _timed(
        stages, "pacmap error patterns", lambda: pacmap_embedding(error_patterns(bins), seed=seed)
    )
    labels = _timed(stages, "k-means", lambda: kmeans_labels(map2, n_clusters, seed=seed))
    outputs = {
        "features": X,
        "if": if_scores,
        "pca_error": bins.sum(axis=1),
        "map1": map1,
        "map2": map2,
        "labels": labels,
        "n_components": pca.n_components,
    }
    return stages, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None, help="AudioMNIST folder (default: lookup)")
    parser.add_argument("--n-clips", type=int, default=0, help="first N clips (0: all)")
    parser.add_argument("--n-components", type=float, default=0.99)
    parser.add_argument("--n-clusters", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    n_components = int(args.n_components) if args.n_components >= 1 else args.n_components

    load_before = os.getloadavg()
    t0 = time.perf_counter()
    from audioanom.datasets import filter_clips, load_dataset
    from audioanom.digits.embedding import warm_up_pacmap

    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    warm_up_pacmap()  # numba compilation, not counted
    t_warmup = time.perf_counter() - t0
    t0 = time.perf_counter()
    clips = filter_clips(load_dataset("audiomnist", args.root).clips, digit=6)
    if args.n_clips:
        clips = clips.iloc[: args.n_clips]
    t_table = time.perf_counter() - t0

    runs = {}
    outputs = {}
    with tempfile.TemporaryDirectory(prefix="audioanom-bench-cache-") as cache:
        os.environ["AUDIOANOM_CACHE"] = cache  # an empty cache: the cold run reads every file
        for name in ("cold", "warm"):
            t0 = time.perf_counter()
            stages, out = run_pipeline(
                clips, n_components=n_components, n_clusters=args.n_clusters, seed=args.seed
            )
            runs[name] = {"stages": stages, "total_s": round(time.perf_counter() - t0, 3)}
            outputs[name] = out

    same = {
        key: bool(np.array_equal(outputs["cold"][key], outputs["warm"][key]))
        for key in ("features", "if", "pca_error", "map1", "map2", "labels")
    }
    result = {
        "clips": len(clips),
        "features": [len(clips), int(outputs["cold"]["features"].shape[1])],
        "pca_components": int(outputs["cold"]["n_components"]),
        "n_components": n_components,
        "runs": runs,
        "cold_equals_warm": same,
        "not_counted_s": {
            "imports": round(t_import, 3),
            "pacmap_warm_up": round(t_warmup, 3),
            "clip_table": round(t_table, 3),
        },
        "reference_straightforward_s": REFERENCE_S,
        "targets_s": {"cold": 10.0, "warm": 5.0},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": [round(v, 2) for v in load_before],
            "load_average_after": [round(v, 2) for v in os.getloadavg()],
        },
    }
    names = list(runs["cold"]["stages"])
    print(
        f"{len(clips)} clips -> features {result['features']}, "
        f"PCA {result['pca_components']} components"
    )
    print(f"{'stage':<24}{'cold [s]':>10}{'warm [s]':>10}{'cold CPU':>10}{'warm CPU':>10}")
    for stage in names:
        c, w = runs["cold"]["stages"][stage], runs["warm"]["stages"][stage]
        print(
            f"{stage:<24}{c['wall_s']:>10.2f}{w['wall_s']:>10.2f}"
            f"{c['cpu_s']:>10.2f}{w['cpu_s']:>10.2f}"
        )
    print(f"{'total':<24}{runs['cold']['total_s']:>10.2f}{runs['warm']['total_s']:>10.2f}")
    print(
        f"not counted: imports {t_import:.2f} s, PaCMAP warm-up {t_warmup:.2f} s, "
        f"clip table {t_table:.2f} s"
    )
    print(f"cold run == warm run: {same}")
    print(
        f"load average before {result['machine']['load_average_before']}, "
        f"after {result['machine']['load_average_after']} ({os.cpu_count()} CPUs)"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
