"""The embedded default data: synthetic machines and digits, generated on first use.

The generators (:mod:`audioanom.synth`) write the real data sets' layouts plus a
``labels.csv`` that knows the *kind* of every anomaly. Here they become clip tables:

* ``synthetic-machines``: the DCASE 2020 Task 2 layout, read by
  :func:`~audioanom.datasets.machines.load_dcase2020`, plus ``anomaly_kind``, ``severity``,
  ``snr_db`` and ``seed`` from ``labels.csv``.
* ``synthetic-digits``: the AudioMNIST layout, read by
  :func:`~audioanom.datasets.digits.load_audiomnist`, with ``label`` taken from ``labels.csv``
  (the truth: a "six" that was clipped is an anomaly although its name says 6) plus
  ``anomaly_kind``, ``word`` and ``severity``.

:func:`ensure_synthetic` generates a set into ``data/synthetic/<kind>[-smoke]`` once and reuses
it while its recorded configuration matches (a changed size or seed regenerates it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pandas as pd

from .. import paths
from .digits import load_audiomnist
from .machines import load_dcase2020
from .table import LoadedDataset

Kind = Literal["machines", "digits"]
Size = Literal["default", "smoke"]

#: Generator arguments per (kind, size). The default sets are what the main command uses; the
#: smoke sets keep every type, ID and anomaly kind but few, short clips.
SIZES: dict[tuple[str, str], dict[str, object]] = {
    ("machines", "default"): {"train_per_id": 50, "test_per_id": 30, "seconds": 10.0},
    ("machines", "smoke"): {"train_per_id": 8, "test_per_id": 6, "seconds": 4.0},
    ("digits", "default"): {"n_speakers": 30, "takes_per_speaker": 20},
    ("digits", "smoke"): {"n_speakers": 8, "takes_per_speaker": 10, "anomaly_fraction": 0.3},
}
STAMP_FILE = "audioanom-synthetic.json"


def synthetic_root(kind: Kind, size: Size = "default") -> Path:
    """Where ``ensure_synthetic(kind, size)`` keeps its set: ``data/synthetic/<kind>[-smoke]``."""
    _check(kind, size)
    return paths.data_dir() / "synthetic" / (kind if size == "default" else f"{kind}-{size}")


def _check(kind: str, size: str) -> None:
    if (kind, size) not in SIZES:
        raise ValueError(f"unknown synthetic set {kind!r}/{size!r}; known: {sorted(SIZES)}")


def ensure_synthetic(
    kind: Kind,
    size: Size = "default",
    *,
    seed: int = 0,
    root: Path | None = None,
    progress: bool = True,
) -> Path:
    """Generate the synthetic set ``kind`` (machines | digits) of ``size`` unless it is there.

    A set counts as there when its stamp file records the same generator arguments and seed
    (the stamp is written last, so an interrupted generation is redone). Returns the folder.
    """
    _check(kind, size)
    root = Path(root) if root is not None else synthetic_root(kind, size)
    wanted = {"kind": kind, "size": size, "seed": seed, "args": SIZES[(kind, size)]}
    stamp = root / STAMP_FILE
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        return root
    if kind == "machines":
        from ..synth.machines import generate_machines

        generate_machines(root, seed=seed, progress=progress, overwrite=True, **SIZES[(kind, size)])
    else:
        from ..synth.speech import generate_digits

        generate_digits(root, seed=seed, progress=progress, overwrite=True, **SIZES[(kind, size)])
    stamp.write_text(json.dumps(wanted, indent=2))
    return root


def _read_labels(root: Path, dtype: dict[str, type]) -> pd.DataFrame:
    path = root / "labels.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{root}: no labels.csv (not a generated synthetic set)")
    return pd.read_csv(path, dtype=dtype, keep_default_na=False)


def _join_labels(loaded: LoadedDataset, labels: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Attach ``labels.csv`` columns to the clip table by relative path; any mismatch raises."""
    clips = loaded.clips.copy()
    rel = clips["path"].map(lambda p: Path(p).relative_to(loaded.root.resolve()).as_posix())
    by_file = labels.set_index("file")
    missing = sorted(set(rel) - set(by_file.index))
    absent = sorted(set(by_file.index) - set(rel))
    if missing or absent:
        raise ValueError(
            f"{loaded.root}: labels.csv and the audio files disagree: "
            f"{len(missing)} files without a label (e.g. {missing[:3]}), "
            f"{len(absent)} labels without a readable file (e.g. {absent[:3]})"
        )
    for column in columns:
        clips[column] = by_file.loc[rel, column].to_numpy()
    return clips


def load_synthetic_machines(root: str | Path) -> LoadedDataset:
    """Read a generated machine set (DCASE layout + ``labels.csv``) as a clip table."""
    root = Path(root)
    loaded = load_dcase2020(root, dataset="synthetic-machines")
    labels = _read_labels(root, {"id": str})
    clips = _join_labels(loaded, labels, ["label", "anomaly_kind", "severity", "snr_db", "seed"])
    wrong = clips["label"] != loaded.clips["label"]  # the name and labels.csv must agree
    if wrong.any():
        first = clips[wrong].iloc[0]
        raise ValueError(f"{first['path']}: labels.csv says {first['label']!r}, the name does not")
    return LoadedDataset(clips, root, loaded.unparsed, loaded.notes)


def load_synthetic_digits(root: str | Path, *, normal_digit: int = 6) -> LoadedDataset:
    """Read a generated digit set (AudioMNIST layout + ``labels.csv``) as a clip table.

    ``label`` comes from ``labels.csv``: every take that is not a clean "six" is an anomaly.
    """
    root = Path(root)
    loaded = load_audiomnist(root, normal_digit=normal_digit)
    labels = _read_labels(root, {"speaker": str, "detail": str})
    clips = _join_labels(loaded, labels, ["label", "anomaly_kind", "word", "severity"])
    clips["dataset"] = "synthetic-digits"
    return LoadedDataset(clips, root, loaded.unparsed, loaded.notes)


def load_synthetic(kind: Kind, size: Size = "default", *, seed: int = 0) -> LoadedDataset:
    """Generate (first time only) and read the synthetic set ``kind`` of ``size``."""
    root = ensure_synthetic(kind, size, seed=seed)
    return load_synthetic_machines(root) if kind == "machines" else load_synthetic_digits(root)
