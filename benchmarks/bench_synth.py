"""Speed (and optionally fairness) of the synthetic data generators in ``audioanom.synth``.

Measures, in "x real time" (seconds of audio made per second; ``cpu`` uses this process's CPU
time, which is what one core gives when other jobs share the machine, ``wall`` the clock):

* ``render/<type>``: :func:`audioanom.synth.render_clip` for every machine type, normal and
  every anomaly kind, ``--clips`` clips each of ``--seconds`` seconds;
* ``generate``: :func:`audioanom.synth.generate_machines` end to end (WAV writing and
  ``labels.csv`` included) on one ID per type, with ``--workers`` processes, plus its size on
  disk and the size of the default set (4 types x 4 IDs x 80 clips of 10 s);
* ``digits``: ``audioanom.synth.speech.generate_digits`` on 2 speakers x 5 takes, when that
  module and espeak-ng are available.

With ``--quality`` it also generates a small set (``--q-seconds``, ``--q-train``,
``--q-test``) and reports, per machine type, the AUC of a loudness-only detector
(max(AUC, 1 - AUC) of clip RMS), the accuracy of a logistic regression that tells the machine
ID from log-mel statistics, and per anomaly kind the AUC of a Gaussian (Ledoit-Wolf) on the
same statistics.

Prints a table and writes ``benchmarks/results/synth.json``. Timings on a shared machine are
noisy. Small run::

    .venv/bin/python benchmarks/bench_synth.py --clips 2 --quality
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from audioanom.synth import ANOMALY_KINDS, MACHINE_TYPES, generate_machines, render_clip

RESULTS = Path(__file__).resolve().parent / "results" / "synth.json"


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def bench_render(seconds: float, clips: int) -> dict:
    out = {}
    render_clip("fan", "00", 0, seconds=1.0)  # warm-up (imports, FFT plans)
    for t in MACHINE_TYPES:
        kinds = ("none", *ANOMALY_KINDS[t])

        def run(t=t, kinds=kinds):
            for i in range(clips):
                for k in kinds:
                    render_clip(t, "02", 1000 + i, seconds=seconds, anomaly_kind=k)

        _, wall, cpu = _timed(run)
        audio = seconds * clips * len(kinds)
        out[f"render/{t}"] = {"audio_s": audio, "x_rt_cpu": audio / cpu, "x_rt_wall": audio / wall}
    return out


def bench_generate(seconds: float, clips: int, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        kw = dict(ids=("00",), train_per_id=clips, test_per_id=2 * clips, seconds=seconds)
        labels, wall, cpu = _timed(
            lambda: generate_machines(tmp, progress=False, workers=workers, **kw)
        )
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    audio = seconds * len(labels)
    per_clip_bytes = size / len(labels) * (10.0 / seconds)
    return {
        "generate": {
            "clips": len(labels),
            "audio_s": audio,
            "workers": workers,
            "x_rt_cpu": audio / cpu if workers == 1 else None,
            "x_rt_wall": audio / wall,
            "mb_on_disk": size / 1e6,
            "default_set_clips": 1280,
            "default_set_mb_estimate": 1280 * per_clip_bytes / 1e6,
            "default_set_minutes_one_core_estimate": 1280 * 10.0 / (audio / wall) / 60.0,
        }
    }


def bench_digits() -> dict:
    try:
        from audioanom.synth.speech import generate_digits
    except ImportError as err:
        return {"digits": {"skipped": f"audioanom.synth.speech not importable: {err}"}}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            labels, wall, cpu = _timed(
                lambda: generate_digits(tmp, n_speakers=2, takes_per_speaker=5, progress=False)
            )
        except (OSError, RuntimeError, ValueError) as err:
            return {"digits": {"skipped": f"generate_digits failed: {err}"}}
        audio = sum(sf.info(p).duration for p in Path(tmp).rglob("*.wav"))
    return {
        "digits": {"clips": len(labels), "audio_s": audio, "x_rt_cpu": audio / cpu}
        | {"x_rt_wall": audio / wall}
    }


# ---- quality: the same checks as tests/test_synth_machines.py, on a set of chosen size ----


def _mel_matrix(sr: int = 16000, n_fft: int = 1024, n_mels: int = 64) -> np.ndarray:
    def mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    edges = 700.0 * (10 ** (np.linspace(mel(20.0), mel(sr / 2), n_mels + 2) / 2595.0) - 1.0)
    f = np.fft.rfftfreq(n_fft, 1.0 / sr)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0.0, np.minimum((f - lo) / (mid - lo), (hi - f) / (hi - mid)))


def _logmel_stats(x: np.ndarray, mel: np.ndarray, n_fft: int = 1024, hop: int = 512):
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop] * np.hanning(n_fft)  # T, N
    spec = np.fft.rfft(frames, axis=1)  # T, F
    logmel = np.log10((spec.real**2 + spec.imag**2) @ mel.T + 1e-10)  # T, M
    return np.concatenate([logmel.mean(axis=0), logmel.std(axis=0)])


def bench_quality(seconds: float, train: int, test: int) -> dict:
    from sklearn.covariance import LedoitWolf
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    mel = _mel_matrix()
    result = {"config": {"seconds": seconds, "train_per_id": train, "test_per_id": test}}
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(limits=1):
        labels = generate_machines(
            tmp, train_per_id=train, test_per_id=test, seconds=seconds, progress=False
        )
        audio = [sf.read(Path(tmp) / f)[0] for f in labels["file"]]
    feats = np.stack([_logmel_stats(x, mel) for x in audio])
    rms = np.array([np.sqrt(np.mean(x**2)) for x in audio])
    for t in MACHINE_TYPES:
        part = labels[labels["machine_type"] == t]
        tr, te = part[part["split"] == "train"], part[part["split"] == "test"]
        y = (te["label"] == "anomaly").to_numpy()
        auc = roc_auc_score(y, rms[te.index])
        normal_te = te[~y]
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        clf.fit(feats[tr.index], tr["id"])
        acc = float(np.mean(clf.predict(feats[normal_te.index]) == normal_te["id"].to_numpy()))
        scaler = StandardScaler().fit(feats[tr.index])
        score = LedoitWolf().fit(scaler.transform(feats[tr.index]))
        score = score.mahalanobis(scaler.transform(feats[te.index]))
        kinds = {}
        for kind in ANOMALY_KINDS[t]:
            keep = ~y | (te["anomaly_kind"] == kind).to_numpy()
            kinds[kind] = float(roc_auc_score(y[keep], score[keep]))
        result[t] = {
            "loudness_auc": float(max(auc, 1.0 - auc)),
            "id_accuracy": acc,
            "gaussian_auc_per_kind": kinds,
        }
    return {"quality": result}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="clip length for the speed runs")
    ap.add_argument("--clips", type=int, default=3, help="clips per type and kind")
    ap.add_argument("--workers", type=int, default=1, help="processes for the generate run")
    ap.add_argument("--no-digits", action="store_true", help="skip the spoken-digit generator")
    ap.add_argument("--quality", action="store_true", help="also measure task fairness")
    ap.add_argument("--q-seconds", type=float, default=3.0)
    ap.add_argument("--q-train", type=int, default=10)
    ap.add_argument("--q-test", type=int, default=12)
    args = ap.parse_args()

    results = {"machine": platform.machine(), "python": platform.python_version()}
    results |= bench_render(args.seconds, args.clips)
    results |= bench_generate(args.seconds, args.clips, args.workers)
    if not args.no_digits:
        results |= bench_digits()
    if args.quality:
        results |= bench_quality(args.q_seconds, args.q_train, args.q_test)

    print(f"{'run':18s} {'audio s':>8s} {'x rt cpu':>9s} {'x rt wall':>9s}")
    for name, row in results.items():
        if isinstance(row, dict) and "audio_s" in row:
            cpu = f"{row['x_rt_cpu']:9.0f}" if row.get("x_rt_cpu") else f"{'-':>9s}"
            print(f"{name:18s} {row['audio_s']:8.0f} {cpu} {row['x_rt_wall']:9.0f}")
        elif isinstance(row, dict) and "skipped" in row:
            print(f"{name:18s} skipped: {row['skipped']}")
    gen = results["generate"]
    print(
        f"generate: {gen['mb_on_disk']:.1f} MB for {gen['clips']} clips; default set "
        f"({gen['default_set_clips']} clips) ~{gen['default_set_mb_estimate']:.0f} MB, "
        f"~{gen['default_set_minutes_one_core_estimate']:.1f} min at this speed"
    )
    if "quality" in results:
        q = results["quality"]
        print(f"quality on {q['config']}:")
        for t in MACHINE_TYPES:
            kinds = "  ".join(f"{k} {v:.2f}" for k, v in q[t]["gaussian_auc_per_kind"].items())
            print(
                f"  {t:7s} loudness AUC {q[t]['loudness_auc']:.2f}  ID accuracy "
                f"{q[t]['id_accuracy']:.2f}  Gaussian AUC: {kinds}"
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
