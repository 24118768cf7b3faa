"""Which machine clips a run works on: open the data set, choose the machine types, see what
can be trained, and where the run's files go.

* :func:`open_machine_clips` -- the clip table a notebook's parameters (or the CLI's options)
  name, with the DCASE split for the original MIMII layout;
* :func:`select_types` -- the machine types of a comma-separated list: a name that is no
  machine type at all (a typo such as ``"fna"``) is a ValueError naming the known ones; a real
  type that this data set does not hold is left out and reported (``absent``);
* :func:`survey_types` -- per type: training clips, IDs, whether a network / autoencoder can be
  trained, and why not;
* :func:`example_clips` -- one normal and one anomalous test clip per type (the first by path),
  with a title naming the anomaly kind, for the STFT pictures;
* :func:`run_dir` -- ``build_dir()/mimii/<dataset>[-smoke]``, the run folder of every model,
  score and table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import paths
from ..datasets.machines import MACHINE_TYPES
from .training_data import training_clips

__all__ = [
    "TypeSelection",
    "example_clips",
    "open_machine_clips",
    "run_dir",
    "select_types",
    "survey_types",
]


def open_machine_clips(
    dataset: str = "synthetic", *, data_dir: str = "", smoke: bool = False, seed: int = 0
) -> pd.DataFrame:
    """The machine clip table a notebook's parameters name (:func:`audioanom.datasets.
    open_dataset` with ``domain="machines"``); the original MIMII layout gets the DCASE split
    (:func:`audioanom.datasets.assign_dcase_split`, seeded). ValueError if a column is missing."""
    from ..datasets import assign_dcase_split, open_dataset

    loaded = open_dataset(dataset, domain="machines", data_dir=data_dir, smoke=smoke, seed=seed)
    clips = loaded.clips
    missing = [c for c in ("path", "group", "id", "label", "split") if c not in clips.columns]
    if missing:
        raise ValueError(f"{dataset}: clip table lacks columns {missing}")
    if (clips["split"] == "unsplit").all():
        clips = assign_dcase_split(clips, seed=seed)
    return clips.reset_index(drop=True)


@dataclass(frozen=True)
class TypeSelection:
    """Result of :func:`select_types`: the clips of the chosen types (row order kept, index
    reset), the chosen types in the order asked, and the asked types this data set lacks."""

    clips: pd.DataFrame
    types: tuple[str, ...]
    absent: tuple[str, ...]

    def note(self) -> str:
        """One line for a notebook or the CLI: what was chosen and what is absent."""
        text = f"{len(self.clips)} clips of {', '.join(self.types) or 'no type'}"
        if self.absent:
            text += f"; not in this data set: {', '.join(self.absent)}"
        return text


def select_types(
    clips: pd.DataFrame,
    machine_types: str | Sequence[str],
    *,
    known: Sequence[str] = MACHINE_TYPES,
) -> TypeSelection:
    """The clips of the machine types ``machine_types`` (``"fan,pump"`` or a list).

    A name that is not a machine type (``known``, default the DCASE 2020 / MIMII types, or a
    group of this clip table) raises ValueError naming it and the known types: a typo never
    silently drops a type. A known type that this data set does not hold is left out and
    listed in ``absent``; no type at all left is a ValueError too."""
    names = machine_types.split(",") if isinstance(machine_types, str) else list(machine_types)
    wanted = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    present = set(clips["group"].astype(str))
    unknown = [t for t in wanted if t not in present and t not in set(known)]
    if unknown:
        raise ValueError(
            f"unknown machine type(s) {unknown}: known types are {sorted(set(known) | present)}"
        )
    types = tuple(t for t in wanted if t in present)
    absent = tuple(t for t in wanted if t not in present)
    if not types:
        raise ValueError(
            f"none of the machine types {wanted} is in this data set (it holds {sorted(present)})"
        )
    chosen = clips[clips["group"].astype(str).isin(types)].reset_index(drop=True)
    return TypeSelection(chosen, types, absent)


def run_dir(dataset: str, smoke: bool = False) -> Path:
    """Where a run's models, scores and tables go: ``build_dir()/mimii/<dataset>[-smoke]``."""
    return paths.build_dir() / "mimii" / (f"{dataset}-smoke" if smoke else dataset)


def survey_types(clips: pd.DataFrame, machine_types: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per machine type: ``machine_type, n_train, train_ids, n_test, test_ids,
    network, autoencoder, note``. ``network``: the type's IDs can be classes of an ID network
    (normal training clips of 2+ IDs in the type, or 2+ classes in the data set for
    ``scope="dataset"`` -- the note says which); ``autoencoder``: 1+ training clip."""
    types = sorted(clips["group"].unique().tolist()) if machine_types is None else machine_types
    rows = []
    for t in types:
        sub = clips[clips["group"] == t]
        train = training_clips(sub)
        test = sub[sub["split"] == "test"]
        train_ids = sorted(train["id"].astype(str).unique().tolist())
        test_ids = sorted(test["id"].astype(str).unique().tolist())
        notes = []
        if sub.empty:
            notes.append("no clips of this type")
        elif train.empty:
            notes.append("no normal training clips: nothing can be trained")
        elif len(train_ids) < 2:
            notes.append(
                f"normal training clips of one ID only ({train_ids[0]}): a per-type ID "
                "network needs 2+ IDs"
            )
        unscored = sorted(set(test_ids) - set(train_ids))
        if unscored and train_ids:
            notes.append(f"test IDs without training clips, not scored: {', '.join(unscored)}")
        rows.append(
            {
                "machine_type": t,
                "n_train": len(train),
                "train_ids": ", ".join(train_ids),
                "n_test": len(test),
                "test_ids": ", ".join(test_ids),
                "network": len(train_ids) >= 2,
                "autoencoder": len(train) >= 1,
                "note": "; ".join(notes),
            }
        )
    return pd.DataFrame(rows)


def example_clips(clips: pd.DataFrame, types: Sequence[str]) -> pd.DataFrame:
    """Per type, the first (by path) normal and the first anomalous TEST clip: rows ``group,
    label, path, title`` (title: ``"fan id_00: anomaly (bearing_fault)"``, the kind where the
    table has ``anomaly_kind``). A type or label without test clips has no row."""
    rows = []
    for t in types:
        test = clips[(clips["group"] == t) & (clips["split"] == "test")]
        for label in ("normal", "anomaly"):
            pick = test[test["label"] == label]
            if pick.empty:
                continue
            row = pick.sort_values("path").iloc[0]
            kind = (
                f" ({row['anomaly_kind']})" if label == "anomaly" and "anomaly_kind" in pick else ""
            )
            title = f"{t} {row['id']}: {label}{kind}"
            rows.append({"group": t, "label": label, "path": row["path"], "title": title})
    return pd.DataFrame(rows, columns=["group", "label", "path", "title"])
