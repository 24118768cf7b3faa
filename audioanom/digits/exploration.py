"""The spoken-digit exploration as a few calls: which clips, their scores, chosen samples.

The notebooks 01-04 use these so that each cell stays a line or two:

* :func:`open_digit_clips` -- the clips a notebook's parameters name (one digit of AudioMNIST or
  FSDD, or the synthetic "six" set with its anomaly kinds), and the small smoke subset.
* :func:`explore` -- features, Isolation Forest and PCA fitted on a chosen subset, everything
  scored; :func:`scores_table` / :func:`write_results` -- the per-clip results CSV.
* :func:`choose_samples` and :func:`reconstruct_samples` -- clips picked by score or file name,
  with their spectrum and waveform as the PCA reconstructs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import paths
from ..datasets import filter_clips, open_dataset
from .detectors import DetectorScores, score_with_both
from .features import (
    FFTConfig,
    clip_spectra,
    extract_features,
    fft_frequencies,
    magnitude_features,
    reconstruct_waveform,
)

SMOKE_SPEAKERS = 5
SMOKE_CLIPS = 150


def smoke_subset(
    clips: pd.DataFrame, *, n_speakers: int = SMOKE_SPEAKERS, n_clips: int = SMOKE_CLIPS
) -> pd.DataFrame:
    """A small, fixed subset: the first ``n_speakers`` speakers (sorted), up to ``n_clips``
    clips spread evenly over their takes."""
    if "speaker" not in clips.columns:
        raise KeyError("the clip table has no 'speaker' column")
    speakers = sorted(clips["speaker"].unique())[:n_speakers]
    part = filter_clips(clips, speaker=speakers)
    per = max(1, n_clips // max(len(speakers), 1))
    picks = [
        g.sort_values("take").iloc[np.linspace(0, len(g) - 1, min(per, len(g))).astype(int)]
        for _, g in part.groupby("speaker", sort=True)
    ]
    return pd.concat(picks).sort_values("path", kind="stable").reset_index(drop=True)


def open_digit_clips(
    dataset: str = "audiomnist",
    *,
    data_dir: str = "",
    digit: int = 6,
    smoke: bool = False,
    seed: int = 0,
) -> pd.DataFrame:
    """The clips of one exploration.

    ``dataset``: ``audiomnist`` or ``fsdd`` -- the clips of ``digit`` (no labels: every clip is a
    "six"); ``synthetic`` -- the generated "six" set (:func:`audioanom.datasets.open_dataset`),
    every clip including the takes that went wrong, with ``label`` and ``anomaly_kind`` from its
    ``labels.csv``. ``data_dir`` overrides the folder ("" = the default lookup). ``smoke``
    keeps :func:`smoke_subset` of a real set (the synthetic one has its own small size).
    The result has a column ``labelled``: True where ``label`` is known ground truth.
    """
    loaded = open_dataset(dataset, domain="digits", data_dir=data_dir, smoke=smoke, seed=seed)
    clips = loaded.clips
    if "anomaly_kind" in clips.columns:
        return clips.assign(labelled=True).reset_index(drop=True)
    clips = filter_clips(clips, digit=digit)
    if clips.empty:
        raise ValueError(f"{dataset}: no clips of digit {digit} in {loaded.root}")
    if smoke:
        clips = smoke_subset(clips)
    return clips.assign(labelled=False)


@dataclass(frozen=True)
class Exploration:
    """Features and detector scores of the explored clips (rows align with ``clips``).

    Attributes:
        clips: the clip table; ``features``: (N, F) rows of ``config``.
        fitted: (N,) bool, the rows the detectors were fitted on.
        scores: :class:`audioanom.digits.detectors.DetectorScores` of every row.
    """

    clips: pd.DataFrame
    features: np.ndarray
    config: FFTConfig
    fitted: np.ndarray
    scores: DetectorScores

    @property
    def frequencies(self) -> np.ndarray:
        """Frequency (Hz) of each feature column, (F,)."""
        return fft_frequencies(self.config)


def explore(
    clips: pd.DataFrame,
    config: FFTConfig,
    *,
    n_components: int | float = 0.99,
    n_estimators: int = 100,
    seed: int = 0,
    fit_on: str = "all",
    n_jobs: int = 2,
    features: np.ndarray | None = None,
) -> Exploration:
    """Extract (or take) the features, fit both detectors on ``fit_on`` rows, score all rows.

    ``fit_on``: ``"all"`` (the unsupervised exploration: every clip), ``"train"`` (split
    ``train``, takes 5-49) or ``"normal"`` (rows labelled normal -- only for labelled sets).
    """
    X = extract_features(clips, config, n_jobs=n_jobs) if features is None else features
    if X.shape[0] != len(clips):
        raise ValueError(f"{X.shape[0]} feature rows for {len(clips)} clips")
    if fit_on == "all":
        fitted = np.ones(len(clips), dtype=bool)
    elif fit_on == "train":
        fitted = (clips["split"] == "train").to_numpy()
    elif fit_on == "normal":
        fitted = (clips["label"] == "normal").to_numpy()
    else:
        raise ValueError(f"fit_on must be 'all', 'train' or 'normal', got {fit_on!r}")
    if fitted.sum() < 3:
        raise ValueError(f"only {int(fitted.sum())} clips to fit on (fit_on={fit_on!r})")
    if isinstance(n_components, int):
        n_components = min(n_components, int(fitted.sum()) - 1, X.shape[1])
    scores = score_with_both(
        X[fitted], X, n_components=n_components, n_estimators=n_estimators, seed=seed
    )
    return Exploration(clips.reset_index(drop=True), X, config, fitted, scores)


def scores_table(exploration: Exploration) -> pd.DataFrame:
    """One row per clip: file, speaker, take, split, label (and anomaly_kind where known),
    whether it was fitted on, both scores and their ranks (1 = most anomalous)."""
    c = exploration.clips
    keep = [k for k in ("speaker", "take", "split", "label", "anomaly_kind") if k in c.columns]
    table = pd.DataFrame({"file": [Path(p).name for p in c["path"]]})
    for k in keep:
        table[k] = c[k].to_numpy()
    s = exploration.scores
    table["fitted"] = exploration.fitted
    table["if_score"] = s.isolation_forest
    table["pca_error"] = s.pca_error
    table["if_rank"] = table["if_score"].rank(ascending=False, method="first").astype(int)
    table["pca_rank"] = table["pca_error"].rank(ascending=False, method="first").astype(int)
    return table


def write_results(table: pd.DataFrame, name: str) -> Path:
    """Write a scores table to ``<build>/results/<name>.csv``; return the path."""
    if not name or "/" in name or name.endswith(".csv"):
        raise ValueError(f"name must be a plain slug, got {name!r}")
    target = paths.ensure(paths.build_dir() / "results") / f"{name}.csv"
    table.to_csv(target, index=False)
    return target


def choose_samples(
    table: pd.DataFrame, *, files: str = "", n: int = 3, by: str = "pca_error"
) -> pd.DataFrame:
    """Rows of a scores table: the named ``files`` (comma-separated names, with or without
    extension) if any, else the ``n`` highest by ``by``. An unknown name raises KeyError."""
    if files.strip():
        wanted = [f.strip() for f in files.split(",") if f.strip()]
        stems = table["file"].map(lambda f: Path(f).stem)
        rows = []
        for w in wanted:
            hit = table[(table["file"] == w) | (stems == Path(w).stem)]
            if hit.empty:
                raise KeyError(f"no clip named {w!r} among the {len(table)} explored")
            rows.append(hit.iloc[:1])
        return pd.concat(rows)
    if by not in table.columns:
        raise KeyError(f"no column {by!r} in the scores table")
    return table.sort_values(by, ascending=False).head(n)


@dataclass(frozen=True)
class SampleReconstruction:
    """One clip as the PCA sees it.

    Attributes:
        file: the file name; ``sr``: the sample rate of the waveforms.
        frequencies: (F,) Hz; ``features``/``reconstruction``/``bin_errors``: (F,).
        waveform: the clip as analysed (resampled, padded/cut), (S,); ``waveform_rec``: the
            inverse FFT of the reconstructed magnitude with the clip's own phase, (S,).
    """

    file: str
    sr: int
    frequencies: np.ndarray
    features: np.ndarray
    reconstruction: np.ndarray
    bin_errors: np.ndarray
    waveform: np.ndarray
    waveform_rec: np.ndarray

    @property
    def error(self) -> float:
        """The clip's PCA reconstruction error (sum of ``bin_errors``)."""
        return float(self.bin_errors.sum())


def reconstruct_samples(exploration: Exploration, rows: pd.DataFrame) -> list[SampleReconstruction]:
    """Spectra and waveforms, original and PCA-reconstructed, of the chosen ``rows`` (index
    labels of :func:`scores_table`, i.e. positions in ``exploration.clips``)."""
    config = exploration.config
    positions = np.asarray(rows.index, dtype=int)
    spectra = clip_spectra(exploration.clips["path"].iloc[positions], config)  # n, F
    feats = magnitude_features(spectra, config)  # n, F
    recon = exploration.scores.pca.reconstruct(feats)  # n, F
    waves = reconstruct_waveform(spectra, feats, config)  # n, S
    waves_rec = reconstruct_waveform(spectra, recon, config)  # n, S
    freqs = fft_frequencies(config)
    return [
        SampleReconstruction(
            file=Path(exploration.clips["path"].iat[p]).name,
            sr=config.target_sr,
            frequencies=freqs,
            features=feats[i],
            reconstruction=recon[i],
            bin_errors=(feats[i] - recon[i]) ** 2,
            waveform=waves[i],
            waveform_rec=waves_rec[i],
        )
        for i, p in enumerate(positions)
    ]


__all__ = [
    "Exploration",
    "SampleReconstruction",
    "choose_samples",
    "explore",
    "open_digit_clips",
    "reconstruct_samples",
    "scores_table",
    "smoke_subset",
    "write_results",
]
