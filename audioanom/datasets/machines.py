"""Machine-sound corpora: the DCASE 2020 Task 2 layout and the original MIMII layout.

* DCASE 2020 Task 2 development/evaluation set (also what ``audioanom synth machines``
  writes): ``<type>/{train,test}/{normal,anomaly}_id_XX_NNNNNNNN.wav``.
* Original MIMII (Purohit et al. 2019):
  ``[<snr>_dB_<type>/]<type>/id_XX/{normal,abnormal}/NNNNNNNN.wav``
  (8-channel 16 kHz recordings; :func:`audioanom.audio.read_audio` takes channel 0 by default).
  MIMII has no train/test split: the clips get ``split="unsplit"`` and
  :func:`assign_dcase_split` reproduces the DCASE rule (per ID: every anomaly plus as many
  normal clips go to test, the other normal clips to train).

``group`` is the machine type, ``id`` the machine ID (``"id_00"``). A file whose place or name
does not fit, whose name is not UTF-8, or a directory named like an audio file is left out of
the table and listed in ``unparsed`` with the reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..audio import list_audio_dirs, list_audio_files, name_fault
from .table import LoadedDataset, make_table

_DCASE_NAME = re.compile(r"^(?P<label>normal|anomaly)_(?P<id>id_\d{2})_(?P<clip>\d+)$")
_MIMII_SNR = re.compile(r"^(?P<snr>-?\d+)_dB_(?P<type>\w+)$")
_MIMII_ID = re.compile(r"^id_\d{2}$")
_MIMII_LABEL = {"normal": "normal", "abnormal": "anomaly"}
_AUDIO_DIR = "a directory named like an audio file"

MACHINE_TYPES = ("fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor")


def _scan(
    root: str | Path,
) -> tuple[Path, list[tuple[Path, tuple[str, ...]]], list[tuple[Path, str]]]:
    """``root`` as a Path, each audio file below it with a usable name together with its path
    parts relative to ``root``, and ``(path, reason)`` for the others (names that are not UTF-8)
    and for directories named like audio files.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    files, unparsed = [], [(d, _AUDIO_DIR) for d in list_audio_dirs(root)]
    for path in list_audio_files(root):
        fault = name_fault(path)
        if fault:
            unparsed.append((path, fault))
        else:
            files.append((path, path.relative_to(root).parts))
    return root, files, unparsed


def load_dcase2020(root: str | Path, *, dataset: str = "dcase2020") -> LoadedDataset:
    """Read a folder in the DCASE 2020 Task 2 layout (any machine types it holds)."""
    root, files, unparsed = _scan(root)
    rows = []
    for path, rel in files:
        if len(rel) != 3 or rel[1] not in ("train", "test"):
            unparsed.append((path, "not at <type>/{train,test}/<file>"))
            continue
        m = _DCASE_NAME.match(path.stem)
        if not m:
            unparsed.append((path, "name is not {normal,anomaly}_id_XX_NNNNNNNN"))
            continue
        if rel[1] == "train" and m["label"] == "anomaly":
            unparsed.append((path, "anomaly clip in a train folder"))
            continue
        rows.append(
            {
                "path": str(path.resolve()),
                "dataset": dataset,
                "group": rel[0],
                "id": m["id"],
                "label": m["label"],
                "split": rel[1],
                "machine_type": rel[0],
                "clip": int(m["clip"]),
            }
        )
    return LoadedDataset(make_table(rows, ("machine_type", "clip")), root, tuple(unparsed))


def load_mimii(root: str | Path) -> LoadedDataset:
    """Read a folder in the original MIMII layout, with or without the ``<snr>_dB_<type>`` level."""
    root, files, unparsed = _scan(root)
    rows = []
    for path, rel in files:
        snr = np.nan
        if len(rel) == 5:
            m = _MIMII_SNR.match(rel[0])
            if not m or m["type"] != rel[1]:
                unparsed.append((path, f"top folder {rel[0]!r} is not <snr>_dB_{rel[1]}"))
                continue
            snr = float(m["snr"])
            rel = rel[1:]
        if len(rel) != 4 or not _MIMII_ID.match(rel[1]) or rel[2] not in _MIMII_LABEL:
            unparsed.append(
                (path, "not at [<snr>_dB_<type>/]<type>/id_XX/{normal,abnormal}/<file>")
            )
            continue
        if not path.stem.isdigit():
            unparsed.append((path, "file name is not a clip number"))
            continue
        rows.append(
            {
                "path": str(path.resolve()),
                "dataset": "mimii",
                "group": rel[0],
                "id": rel[1],
                "label": _MIMII_LABEL[rel[2]],
                "split": "unsplit",
                "machine_type": rel[0],
                "clip": int(path.stem),
                "snr_db": snr,
            }
        )
    table = make_table(rows, ("machine_type", "clip", "snr_db"))
    return LoadedDataset(table, root, tuple(unparsed))


def assign_dcase_split(clips: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """Give unsplit MIMII clips the DCASE 2020 split, per (type, ID), by recording.

    MIMII ships every recording mixed with factory noise at three SNRs (``-6_dB_``, ``0_dB_``,
    ``6_dB_`` folders, the same clip numbers): a recording number of a (type, ID) is either in
    train or in test at EVERY SNR, so no recording is trained on at one SNR and tested at
    another. Every anomaly goes to test, together with as many normal recordings as there are
    anomalous ones, drawn at random (seeded); the other normal recordings go to train. Returns a
    new table. Without a ``clip`` column every row is its own recording.
    """
    out = clips.copy()
    rng = np.random.default_rng(seed)
    rec = out["clip"].astype(str) if "clip" in out else pd.Series(out.index.astype(str), out.index)
    out["split"] = "train"
    out.loc[out["label"] == "anomaly", "split"] = "test"
    for _, part in out.groupby(["group", "id"], sort=True):
        is_normal = part["label"] == "normal"
        normal = np.array(sorted(set(rec[part.index[is_normal]])))
        n_test = min(rec[part.index[~is_normal]].nunique(), normal.size)
        chosen = set(rng.choice(normal, size=n_test, replace=False).tolist()) if n_test else set()
        rows = part.index[is_normal & rec[part.index].isin(chosen)]
        out.loc[rows, "split"] = "test"
    return out
