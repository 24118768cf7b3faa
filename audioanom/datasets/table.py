"""The one clip table every loader returns, and the filters that work on it.

A clip table is a pandas DataFrame with at least the columns of :data:`CLIP_COLUMNS`:

========  ===========================================================================
path      absolute path of the audio file (str)
dataset   ``audiomnist`` | ``fsdd`` | ``dcase2020`` | ``mimii`` | ``synthetic-...``
group     what a model is trained per: digit (``"6"``) or machine type (``"fan"``)
id        the sub-population: speaker (``"01"``, ``"jackson"``) or machine ID (``"id_00"``)
label     ``normal`` | ``anomaly``
split     ``train`` | ``test`` (``unsplit`` where a source has no split)
========  ===========================================================================

plus the columns a source adds (take, digit, speaker metadata, SNR, clip number, ...).
Rows are sorted by path, so the same folder always gives the same table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

CLIP_COLUMNS: tuple[str, ...] = ("path", "dataset", "group", "id", "label", "split")
LABELS: tuple[str, ...] = ("normal", "anomaly")
SPLITS: tuple[str, ...] = ("train", "test", "unsplit")


@dataclass(frozen=True)
class LoadedDataset:
    """A loader's result: the clip table and everything it could not take at face value.

    Attributes:
        clips: the clip table (see module docstring).
        root: the folder that was read.
        unparsed: ``(path, reason)`` for every audio file whose name or place did not fit the
            layout; such files are left out of ``clips``, never guessed.
        notes: findings about metadata (missing entries, odd values), in plain words.
    """

    clips: pd.DataFrame
    root: Path
    unparsed: tuple[tuple[Path, str], ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.clips)

    def report(self) -> str:
        """A short human-readable summary: counts, unparsed files and notes."""
        lines = [
            f"{self.clips['dataset'].iat[0] if len(self.clips) else '?'}: "
            f"{len(self)} clips in {self.root}"
        ]
        lines += [f"  unparsed: {p} ({why})" for p, why in self.unparsed]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def make_table(rows: list[dict], extra_columns: Iterable[str] = ()) -> pd.DataFrame:
    """Build a clip table from row dicts, check its columns and values, sort it by path."""
    columns = list(CLIP_COLUMNS) + [c for c in extra_columns if c not in CLIP_COLUMNS]
    df = pd.DataFrame(rows, columns=columns)
    bad_label = set(df["label"]) - set(LABELS)
    if bad_label:
        raise ValueError(f"labels must be one of {LABELS}, got {sorted(bad_label)}")
    bad_split = set(df["split"]) - set(SPLITS)
    if bad_split:
        raise ValueError(f"splits must be one of {SPLITS}, got {sorted(bad_split)}")
    return df.sort_values("path", kind="stable").reset_index(drop=True)


def filter_clips(clips: pd.DataFrame, **conditions: object) -> pd.DataFrame:
    """Rows of ``clips`` whose columns match every condition.

    A condition's value is a scalar (equality) or a list/tuple/set (membership), e.g.
    ``filter_clips(df, group="fan", split="train", id=["id_00", "id_02"])``.
    Unknown column names raise KeyError rather than matching nothing.
    """
    mask = pd.Series(True, index=clips.index)
    for column, value in conditions.items():
        if column not in clips.columns:
            raise KeyError(f"no column {column!r} in the clip table (has {list(clips.columns)})")
        if isinstance(value, (list, tuple, set, frozenset)):
            mask &= clips[column].isin(list(value))
        else:
            mask &= clips[column] == value
    return clips[mask].reset_index(drop=True)


def counts(
    clips: pd.DataFrame, by: Iterable[str] = ("group", "id", "split", "label")
) -> pd.DataFrame:
    """Number of clips per combination of ``by`` columns, as a tidy table with column ``n``."""
    by = list(by)
    return clips.groupby(by, observed=True).size().rename("n").reset_index()


def count_matrix(
    clips: pd.DataFrame,
    rows: Sequence[str] = ("group", "id"),
    columns: Sequence[str] = ("split", "label"),
) -> pd.DataFrame:
    """Clips per ``rows`` combination (index) and ``columns`` combination (column levels), 0
    where a pair has none: e.g. machine type and ID against split and label."""
    table = counts(clips, [*rows, *columns])
    return table.pivot_table(
        index=list(rows), columns=list(columns), values="n", fill_value=0, aggfunc="sum"
    )


def sample_clips(clips: pd.DataFrame, n_per_label: int, *, seed: int = 0) -> pd.DataFrame:
    """Up to ``n_per_label`` random clips of each label present (seeded), sorted by path."""
    picks = [
        part.sample(min(n_per_label, len(part)), random_state=seed + i)
        for i, (_, part) in enumerate(clips.groupby("label", sort=True))
    ]
    if not picks:
        return clips.iloc[:0]
    return pd.concat(picks).sort_values("path", kind="stable").reset_index(drop=True)
