"""Data sets as one clip table (see :mod:`audioanom.datasets.table`).

``load_dataset(name, root=None)`` reads any supported source; with ``root=None`` the folder is
looked up with :func:`find_dataset_root` (the project's ``data/<name>`` first, then the shared
real data beside the checkout).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from .. import paths
from .digits import load_audiomnist, load_fsdd, parse_digit_name, read_audiomnist_meta
from .machines import MACHINE_TYPES, assign_dcase_split, load_dcase2020, load_mimii
from .synthetic import (
    ensure_synthetic,
    load_synthetic,
    load_synthetic_digits,
    load_synthetic_machines,
    synthetic_root,
)
from .table import (
    CLIP_COLUMNS,
    LoadedDataset,
    count_matrix,
    counts,
    filter_clips,
    make_table,
    sample_clips,
)

LOADERS: dict[str, Callable[..., LoadedDataset]] = {
    "audiomnist": load_audiomnist,
    "fsdd": load_fsdd,
    "dcase2020": load_dcase2020,
    "mimii": load_mimii,
    "synthetic-machines": load_synthetic_machines,
    "synthetic-digits": load_synthetic_digits,
}

# Folder names under data/ (downloads) and under the shared real data, per source.
_CANDIDATES: dict[str, tuple[str, ...]] = {
    "audiomnist": ("audiomnist", "audiomnist_six"),
    "fsdd": ("fsdd",),
    "dcase2020": ("dcase2020", "mimii_dcase2020_samples"),
    "mimii": ("mimii",),
}


#: Shared copies that are samples, not the data set: using one is announced loudly.
_SAMPLE_COPIES = {
    "mimii_dcase2020_samples": "203 real clips of the DCASE 2020 development set, too few to "
    "train the networks on",
    "audiomnist_six": "the 3,000 AudioMNIST recordings of the digit six only",
}


class SampleDataWarning(UserWarning):
    """A data set name resolved to a small shared sample copy instead of a full download."""


def find_dataset_root(name: str) -> Path:
    """The folder holding data set ``name``: ``data/<name>`` if present, else the shared copy.

    When that copy is only a sample of the data set (the 203 DCASE clips, the AudioMNIST
    sixes), a :class:`SampleDataWarning` says so and how to get the full set. Raises
    FileNotFoundError naming every place looked at and the command that downloads it.
    """
    if name not in _CANDIDATES:
        raise ValueError(f"unknown data set {name!r}; known: {sorted(_CANDIDATES)}")
    looked = []
    for base in (paths.data_dir(), paths.shared_data()):
        for folder in _CANDIDATES[name]:
            candidate = base / folder
            looked.append(str(candidate))
            if candidate.is_dir():
                if folder in _SAMPLE_COPIES:
                    warnings.warn(
                        f"data set {name!r}: no full download in {paths.data_dir() / name}; "
                        f"using the sample copy {candidate} ({_SAMPLE_COPIES[folder]}). "
                        f"`audioanom fetch {name}` downloads the full set.",
                        SampleDataWarning,
                        stacklevel=2,
                    )
                return candidate
    how = {
        "dcase2020": "download it with `audioanom fetch dcase2020` (the DCASE 2020 Task 2 dev set)",
        "mimii": "put the original MIMII recordings (Zenodo record 3384388) at data/mimii",
    }.get(name, f"download it with `audioanom fetch {name}`")
    raise FileNotFoundError(f"data set {name!r} not found (looked in {', '.join(looked)}); {how}")


def optional_dataset_root(name: str) -> Path | None:
    """:func:`find_dataset_root`, or None (after printing why) when the data set is absent --
    unless the real data are required (``AUDIOANOM_REQUIRE_REAL_DATA``, set in CI): then the
    FileNotFoundError propagates, so a notebook section on real data cannot silently vanish."""
    try:
        return find_dataset_root(name)
    except FileNotFoundError as err:
        if paths.real_data_required():
            raise
        print(f"skipped: {err}")
        return None


def load_dataset(name: str, root: str | Path | None = None, **kwargs) -> LoadedDataset:
    """Read data set ``name`` from ``root`` (default: :func:`find_dataset_root`).

    Names: audiomnist | fsdd | dcase2020 | mimii | synthetic-machines | synthetic-digits. The
    synthetic sets are generated into ``data/synthetic/`` on first use when ``root`` is None.
    """
    if name not in LOADERS:
        raise ValueError(f"unknown data set {name!r}; known: {sorted(LOADERS)}")
    if root is None and name.startswith("synthetic-"):
        root = ensure_synthetic(name.removeprefix("synthetic-"))
    return LOADERS[name](Path(root) if root is not None else find_dataset_root(name), **kwargs)


def dataset_name(dataset: str, domain: str) -> str:
    """The one name of a data set across folders, figures and tables: a notebook's
    ``dataset="synthetic"`` is ``"synthetic-digits"`` or ``"synthetic-machines"`` (its
    ``domain``), any other name is itself (``"fsdd"``, ``"audiomnist"``, ``"dcase2020"``...)."""
    if domain not in ("digits", "machines"):
        raise ValueError(f"domain must be 'digits' or 'machines', got {domain!r}")
    if not dataset:
        raise ValueError("empty data set name")
    return f"synthetic-{domain}" if dataset == "synthetic" else dataset


def open_dataset(
    dataset: str, *, domain: str, data_dir: str = "", smoke: bool = False, seed: int = 0
) -> LoadedDataset:
    """The data set a notebook's parameters name.

    ``dataset="synthetic"`` is the embedded set of ``domain`` (``digits`` or ``machines``),
    the small smoke-size one when ``smoke``; any other name goes to :func:`load_dataset`,
    from ``data_dir`` when it is not empty.
    """
    if domain not in ("digits", "machines"):
        raise ValueError(f"domain must be 'digits' or 'machines', got {domain!r}")
    if dataset == "synthetic":
        if data_dir:
            root = ensure_synthetic(
                domain, "smoke" if smoke else "default", seed=seed, root=Path(data_dir)
            )
            return load_dataset(f"synthetic-{domain}", root)
        return load_synthetic(domain, "smoke" if smoke else "default", seed=seed)
    return load_dataset(dataset, data_dir or None)


__all__ = [
    "CLIP_COLUMNS",
    "LOADERS",
    "MACHINE_TYPES",
    "LoadedDataset",
    "SampleDataWarning",
    "assign_dcase_split",
    "count_matrix",
    "dataset_name",
    "counts",
    "filter_clips",
    "find_dataset_root",
    "load_audiomnist",
    "load_dataset",
    "load_dcase2020",
    "load_fsdd",
    "load_mimii",
    "make_table",
    "open_dataset",
    "optional_dataset_root",
    "ensure_synthetic",
    "load_synthetic",
    "load_synthetic_digits",
    "load_synthetic_machines",
    "synthetic_root",
    "parse_digit_name",
    "read_audiomnist_meta",
    "sample_clips",
    "survey",
]


def survey(
    names: tuple[str, ...] = tuple(LOADERS), *, synthetic_size: str = "default"
) -> pd.DataFrame:
    """Which data sets are present and where: one row per name with root, clips, groups, IDs.

    Absent data sets get a row with ``present=False`` and the reason, so a notebook can show
    what a user still has to download. Synthetic sets are only looked at, never generated here.
    """
    rows = []
    for name in names:
        try:
            if name.startswith("synthetic-"):
                root = synthetic_root(name.removeprefix("synthetic-"), synthetic_size)
                if not (root / "labels.csv").is_file():
                    raise FileNotFoundError(f"not generated yet ({root}); made on first use")
                loaded = load_dataset(name, root)
            else:
                loaded = load_dataset(name)
        except FileNotFoundError as err:
            rows.append(
                {
                    "dataset": name,
                    "present": False,
                    "root": "",
                    "clips": 0,
                    "groups": 0,
                    "ids": 0,
                    "unparsed": 0,
                    "note": str(err),
                }
            )
            continue
        c = loaded.clips
        rows.append(
            {
                "dataset": name,
                "present": True,
                "root": str(loaded.root),
                "clips": len(c),
                "groups": c["group"].nunique(),
                "ids": c[["group", "id"]].drop_duplicates().shape[0],
                "unparsed": len(loaded.unparsed),
                "note": "; ".join(loaded.notes),
            }
        )
    return pd.DataFrame(rows)
