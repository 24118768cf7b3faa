"""Choosing a design without test labels: pseudo-anomalies made from held-out NORMAL clips.

A design choice (network size, pooling, loss, back-end) must not be made on the test labels:
they are what the method is judged on, and on a new data set there are none. What a user does
have is normal clips. The training split of the ID networks already holds a seeded fifth of every
ID's normal training clips out (:func:`audioanom.machines.training_data.split_train_val`); here
those held-out clips are scored against a back-end fitted on the ID's OTHER training clips, with
two kinds of pseudo-anomaly built from held-out clips only:

``other IDs``
    the held-out clips of the other IDs of the same machine type, scored by this ID's back-end:
    the same kind of machine with other physical parameters (rates, resonances, duty cycle), as a
    clogged pump or a sticking valve changes them;
``added sound``
    every held-out clip of this ID with a held-out clip of ANOTHER machine type added
    ``mix_db`` dB below it (power ratio over the whole clip): an extra source, as a leak, a rub
    or cavitation adds one.

Negatives are the ID's held-out clips themselves. The AUC of each proxy is computed per ID
(:func:`audioanom.metrics.roc_auc`) and averaged; a method is compared with another, and with the
log-mel Gaussian, on the same held-out clips. Nothing here reads a test clip or a label other
than "normal training clip".
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ..audio import read_audio
from ..metrics import roc_auc
from .backends import Backend, make_backend
from .training_data import class_keys, split_train_val, training_clips

__all__ = [
    "PROXIES",
    "added_sound_partners",
    "baseline_proxies",
    "mix_at",
    "network_proxies",
    "proxy_aucs",
    "proxy_split",
    "proxy_summary",
]

#: The proxies' names (columns of :func:`proxy_aucs`).
PROXIES = ("other IDs", "added sound")


def proxy_split(
    clips: pd.DataFrame, groups: Sequence[str] | None, val_fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(fit, held)``: the normal training clips of the types ``groups`` split as the ID
    networks split them (same ``val_fraction`` and ``seed``: the networks never trained on
    ``held``)."""
    fit, held = split_train_val(training_clips(clips, groups), val_fraction, seed)
    if held.empty:
        raise ValueError("no held-out clips: val_fraction is 0 or every ID has a single clip")
    return fit.reset_index(drop=True), held.reset_index(drop=True)


def added_sound_partners(held: pd.DataFrame, seed: int = 0) -> np.ndarray:
    """For every row of ``held``, the row of a clip of ANOTHER machine type to add to it
    (drawn with ``default_rng(seed)``). ValueError when ``held`` has a single type."""
    groups = held["group"].astype(str).to_numpy()
    if np.unique(groups).size < 2:
        raise ValueError("the 'added sound' proxy needs held-out clips of two machine types")
    rng = np.random.default_rng(seed)
    out = np.empty(len(held), dtype=np.int64)
    for i, g in enumerate(groups):
        out[i] = rng.choice(np.flatnonzero(groups != g))
    return out


def mix_at(x: np.ndarray, y: np.ndarray, mix_db: float) -> np.ndarray:
    """``x + g y`` with ``g`` such that ``g y`` has ``mix_db`` dB the power of ``x`` (over the
    whole signal); ``y`` is cut or repeated to the length of ``x``. float32."""
    x = np.asarray(x, dtype=np.float64)
    y = np.resize(np.asarray(y, dtype=np.float64), x.shape)
    px, py = float(np.mean(x**2)), float(np.mean(y**2))
    if px <= 0 or py <= 0:
        raise ValueError("mix_at: a silent signal cannot be mixed at a power ratio")
    g = np.sqrt(px / py * 10.0 ** (mix_db / 10.0))
    return (x + g * y).astype(np.float32)


def proxy_aucs(
    clips: pd.DataFrame,
    groups: Sequence[str] | None,
    *,
    clip_features: Callable[[pd.DataFrame], np.ndarray],
    wave_features: Callable[[list[np.ndarray]], np.ndarray],
    backend: str | Backend = "gauss",
    val_fraction: float = 0.2,
    seed: int = 0,
    mix_db: float = -10.0,
    sample_rate: int = 16_000,
    chunk: int = 32,
) -> pd.DataFrame:
    """AUC of each proxy (:data:`PROXIES`) per (type, ID), for the features
    ``clip_features(table) -> (N, D)`` of clip-table rows and ``wave_features(waves) -> (N, D)``
    of waveforms at ``sample_rate`` (the mixtures, made ``chunk`` at a time), scored by the
    back-end ``backend`` (a name of :data:`audioanom.machines.backends.BACKENDS`, or a back-end
    whose ``fresh()`` copies are used) fitted per ID on the ``fit`` clips of :func:`proxy_split`.

    Returns columns ``machine_type, id, n_fit, n_held, other IDs, added sound``; "other IDs" is
    NaN for a type with a single ID."""
    fit, held = proxy_split(clips, groups, val_fraction, seed)
    f_fit, f_held = clip_features(fit), clip_features(held)
    partners = added_sound_partners(held, seed)
    mixes = []
    for a in range(0, len(held), chunk):
        waves = [
            mix_at(
                read_audio(held["path"].iloc[i], expected_sr=sample_rate)[0],
                read_audio(held["path"].iloc[int(partners[i])], expected_sr=sample_rate)[0],
                mix_db,
            )
            for i in range(a, min(a + chunk, len(held)))
        ]
        mixes.append(np.asarray(wave_features(waves)))
    f_mix = np.concatenate(mixes)
    if not (len(f_fit) == len(fit) and len(f_held) == len(f_mix) == len(held)):
        raise ValueError("proxy_aucs: a feature function returned the wrong number of rows")
    fit_keys, held_keys = class_keys(fit).to_numpy(), class_keys(held).to_numpy()
    held_types = held["group"].astype(str).to_numpy()
    rows = []
    for key in sorted(set(held_keys)):
        b = make_backend(backend) if isinstance(backend, str) else backend.fresh()
        b.fit(f_fit[fit_keys == key], [key] * int((fit_keys == key).sum()))
        own = held_keys == key
        mtype = key.split("/", 1)[0]
        other = (held_types == mtype) & ~own

        def score(x: np.ndarray, key: str = key, b=b) -> np.ndarray:
            return b.score(x, [key] * len(x))

        s_own = score(f_held[own])
        row = {
            "machine_type": mtype,
            "id": key.split("/", 1)[1],
            "n_fit": int((fit_keys == key).sum()),
            "n_held": int(own.sum()),
        }
        for name, extra in (("other IDs", f_held[other]), ("added sound", f_mix[own])):
            if len(extra) == 0:
                row[name] = float("nan")
                continue
            labels = np.r_[np.zeros(len(s_own), np.int64), np.ones(len(extra), np.int64)]
            row[name] = roc_auc(labels, np.r_[s_own, score(extra)])
        rows.append(row)
    return pd.DataFrame(rows)


def network_proxies(
    result,
    clips: pd.DataFrame,
    backends: Sequence[str],
    *,
    embed_config=None,
    mix_db: float = -10.0,
) -> pd.DataFrame:
    """:func:`proxy_aucs` of a trained ID network (:class:`audioanom.machines.training.
    TrainResult`) with each back-end (``ce`` has no per-ID fit and is left out), on the
    held-out clips of ITS training split. Returns the per-ID table with a ``method`` column."""
    from .features import complex_stft, stft_table
    from .scoring import EmbedConfig, embed_specs
    from .tables import method_name

    cfg = embed_config or EmbedConfig()
    groups = sorted({k.split("/", 1)[0] for k in result.classes})
    clips = clips[clips["group"].isin(groups)]
    # every back-end sees the same clips and mixtures: embed each once (keys: paths, samples)
    cache: dict[str, object] = {}

    def clip_emb(table: pd.DataFrame):
        key = "\n".join(table["path"].astype(str))
        if key not in cache:
            specs = stft_table(table, result.model_config.stft, lazy=True)
            cache[key] = embed_specs(result.model, specs, result.classes, cfg)
        return cache[key]

    def wave_emb(waves: list[np.ndarray]):
        digest = hashlib.blake2b(digest_size=16)
        for w in waves:
            digest.update(np.ascontiguousarray(w).tobytes())
        key = digest.hexdigest()
        if key not in cache:
            specs = [complex_stft(w, result.model_config.stft) for w in waves]
            cache[key] = embed_specs(result.model, specs, result.classes, cfg)
        return cache[key]

    frames = []
    for name in backends:
        if name == "ce":
            continue
        probe = clip_emb(clips.iloc[:1])
        backend = make_backend(name, blocks=probe.blocks)
        kind = backend.input
        table = proxy_aucs(
            clips,
            groups,
            clip_features=lambda t, kind=kind: clip_emb(t).features(kind),
            wave_features=lambda w, kind=kind: wave_emb(w).features(kind),
            backend=backend,
            val_fraction=result.config.val_fraction,
            seed=result.config.seed,
            mix_db=mix_db,
            sample_rate=result.model_config.sample_rate,
        )
        frames.append(table.assign(method=method_name(result.variant, name)))
    return pd.concat(frames, ignore_index=True)


def baseline_proxies(
    clips: pd.DataFrame,
    groups: Sequence[str] | None,
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    mix_db: float = -10.0,
) -> pd.DataFrame:
    """:func:`proxy_aucs` of the log-mel Gaussian (:mod:`audioanom.machines.baselines`) on the
    same held-out clips as the networks of split ``(val_fraction, seed)``."""
    from .baselines import BASELINE_NAME, log_mel_stats, log_mel_stats_table

    table = proxy_aucs(
        clips,
        groups,
        clip_features=log_mel_stats_table,
        wave_features=lambda waves: np.stack([log_mel_stats(w) for w in waves]),
        backend="gauss",
        val_fraction=val_fraction,
        seed=seed,
        mix_db=mix_db,
    )
    return table.assign(method=BASELINE_NAME)


def proxy_summary(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Mean AUC of each proxy over the IDs, one row per method (the tables of
    :func:`network_proxies` / :func:`baseline_proxies`), in the order given."""
    table = pd.concat(list(tables), ignore_index=True)
    order = list(dict.fromkeys(table["method"]))
    return table.groupby("method", sort=False)[list(PROXIES)].mean().loc[order]
