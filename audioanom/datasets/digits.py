"""Spoken-digit corpora named ``{digit}_{speaker}_{take}.wav``: AudioMNIST and FSDD.

Both use the same file-name pattern; they differ in layout and metadata:

* AudioMNIST (Becker et al.): ``data/NN/{digit}_{NN}_{take}.wav`` (or ``.flac``), speakers
  01..60, 48 kHz, speaker metadata in ``audioMNIST_meta.txt`` (JSON; at the top of the data
  set or inside ``data/`` as in the original repository).
* FSDD (Jackson et al.): ``recordings/{digit}_{name}_{take}.wav``, 8 kHz, speaker metadata in
  ``speakers.json`` (or the original repository's ``metadata.py`` dictionary, if present).

The clip table: ``group`` is the digit as a string, ``id`` the speaker, ``label`` is ``normal``
for the digit under study (``normal_digit``, default 6: the "six" exploration) and ``anomaly``
for every other digit, ``split`` follows FSDD's official rule (takes 0-4 test, 5-49 train),
which this project also applies to AudioMNIST so both behave alike.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from ..audio import AUDIO_EXTENSIONS, name_fault
from .table import LoadedDataset, make_table

_NAME = re.compile(r"^(?P<digit>\d)_(?P<speaker>[A-Za-z0-9]+)_(?P<take>\d+)$")
TEST_TAKES = range(0, 5)


def split_for_take(take: int) -> str:
    """FSDD's official split: takes 0-4 are test, the rest train."""
    return "test" if take in TEST_TAKES else "train"


def parse_digit_name(path: Path) -> tuple[int, str, int] | None:
    """``(digit, speaker, take)`` from ``{digit}_{speaker}_{take}.wav``; None if it does not fit."""
    m = _NAME.match(path.stem)
    if not m or path.suffix.lower() not in AUDIO_EXTENSIONS:
        return None
    return int(m["digit"]), m["speaker"], int(m["take"])


def _digit_rows(
    files: list[Path], dataset: str, normal_digit: int | None
) -> tuple[list[dict], list[tuple[Path, str]]]:
    rows, unparsed = [], []
    for path in files:
        fault = name_fault(path)
        if fault:
            unparsed.append((path, fault))
            continue
        parsed = parse_digit_name(path)
        if parsed is None:
            unparsed.append((path, "name is not {digit}_{speaker}_{take}"))
            continue
        digit, speaker, take = parsed
        label = "normal" if normal_digit is None or digit == normal_digit else "anomaly"
        rows.append(
            {
                "path": str(path.resolve()),
                "dataset": dataset,
                "group": str(digit),
                "id": speaker,
                "label": label,
                "split": split_for_take(take),
                "digit": digit,
                "speaker": speaker,
                "take": take,
            }
        )
    return rows, unparsed


def _audio_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
    )


def _audio_dirs(folder: Path) -> list[tuple[Path, str]]:
    """Directories in ``folder`` named like audio files, as ``unparsed`` entries."""
    return [
        (p, "a directory named like an audio file")
        for p in sorted(folder.iterdir())
        if p.is_dir() and p.suffix.lower() in AUDIO_EXTENSIONS
    ]


# --------------------------------------------------------------------------- AudioMNIST

AUDIOMNIST_META_FIELDS = ("accent", "age", "gender", "native speaker", "origin", "recordingroom")
MAX_PLAUSIBLE_AGE = 110


def read_audiomnist_meta(path: Path) -> tuple[dict[str, dict], list[str]]:
    """Read ``audioMNIST_meta.txt``; return per-speaker fields and notes on its quirks.

    Ages are given as numbers or strings in the real file; they are parsed to ``int`` where
    they are plausible (0..110) and left empty (None) otherwise, each case named in the notes.
    Nothing is invented: ``age_raw`` keeps the value as written.
    """
    meta = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, dict] = {}
    notes: list[str] = []
    as_string, implausible = [], []
    for speaker, entry in sorted(meta.items()):
        raw_age = entry.get("age")
        age: int | None = None
        if isinstance(raw_age, str):
            as_string.append(speaker)
        try:
            age = int(str(raw_age).strip())
        except (TypeError, ValueError):
            age = None
        if age is not None and not 0 < age <= MAX_PLAUSIBLE_AGE:
            implausible.append(f"{speaker} ({raw_age!r})")
            age = None
        out[speaker] = {
            "age": age,
            "age_raw": None if raw_age is None else str(raw_age),
            "gender": entry.get("gender"),
            "accent": entry.get("accent"),
            "native_speaker": entry.get("native speaker"),
            "origin": entry.get("origin"),
            "recording_room": entry.get("recordingroom"),
        }
    if as_string:
        notes.append(f"ages written as strings for {len(as_string)} of {len(meta)} speakers")
    if implausible:
        notes.append("implausible ages left empty: " + ", ".join(implausible))
    rooms = sorted({str(e["recording_room"]) for e in out.values()})
    folded = {r.lower().replace("romm", "room") for r in rooms}
    if len(folded) < len(rooms):
        notes.append(f"recording rooms spelled inconsistently: {rooms}")
    return out, notes


def load_audiomnist(root: str | Path, *, normal_digit: int | None = 6) -> LoadedDataset:
    """Read an AudioMNIST folder (``data/NN/{digit}_{NN}_{take}.wav|flac`` + metadata).

    ``root`` is the folder holding ``data/`` (the repository or the downloaded copy). Speakers
    found in the audio but missing from the metadata, and vice versa, are named in ``notes``;
    their metadata columns stay empty.
    """
    root = Path(root)
    data = root / "data"
    if not data.is_dir():
        raise FileNotFoundError(f"{root}: not an AudioMNIST folder (no data/ inside)")
    files: list[Path] = []
    unparsed: list[tuple[Path, str]] = []
    for sub in sorted(p for p in data.iterdir() if p.is_dir()):
        unparsed += _audio_dirs(sub)
        for path in _audio_files(sub):
            parsed = parse_digit_name(path)
            if parsed is not None and parsed[1] != sub.name:
                unparsed.append((path, f"speaker {parsed[1]!r} in the name, folder {sub.name!r}"))
            else:
                files.append(path)
    rows, bad = _digit_rows(files, "audiomnist", normal_digit)
    unparsed += bad
    notes: list[str] = []
    meta_path = next(
        (p for p in (root / "audioMNIST_meta.txt", data / "audioMNIST_meta.txt") if p.is_file()),
        None,
    )
    meta: dict[str, dict] = {}
    if meta_path is None:
        notes.append("no audioMNIST_meta.txt: speaker metadata columns are empty")
    else:
        meta, notes = read_audiomnist_meta(meta_path)
    speakers = sorted({r["speaker"] for r in rows})
    missing = [s for s in speakers if s not in meta]
    if meta and missing:
        notes.append(f"speakers without a metadata entry: {', '.join(missing)}")
    meta_cols = ("age", "age_raw", "gender", "accent", "native_speaker", "origin", "recording_room")
    for r in rows:
        entry = meta.get(r["speaker"], {})
        for c in meta_cols:
            r[c] = entry.get(c)
    extra = ("digit", "speaker", "take", *meta_cols)
    return LoadedDataset(make_table(rows, extra), root, tuple(unparsed), tuple(notes))


# --------------------------------------------------------------------------- FSDD


def read_fsdd_speakers(root: Path) -> dict[str, dict]:
    """Speaker metadata from ``speakers.json`` or the original ``metadata.py`` (a dict literal)."""
    json_path = root / "speakers.json"
    if json_path.is_file():
        return json.loads(json_path.read_text(encoding="utf-8"))
    py_path = root / "metadata.py"
    if py_path.is_file():
        text = py_path.read_text(encoding="utf-8")
        start = text.find("{")
        if start >= 0:
            return ast.literal_eval(text[start : text.rfind("}") + 1])
    return {}


def load_fsdd(root: str | Path, *, normal_digit: int | None = 6) -> LoadedDataset:
    """Read the Free Spoken Digit Dataset (``recordings/{digit}_{name}_{take}.wav``)."""
    root = Path(root)
    rec = root / "recordings"
    if not rec.is_dir():
        raise FileNotFoundError(f"{root}: not an FSDD folder (no recordings/ inside)")
    rows, unparsed = _digit_rows(_audio_files(rec), "fsdd", normal_digit)
    unparsed = _audio_dirs(rec) + unparsed
    meta = read_fsdd_speakers(root)
    notes: list[str] = []
    if not meta:
        notes.append("no speakers.json / metadata.py: speaker metadata columns are empty")
    missing = sorted({r["speaker"] for r in rows} - set(meta))
    if meta and missing:
        notes.append(f"speakers without a metadata entry: {', '.join(missing)}")
    for r in rows:
        entry = meta.get(r["speaker"], {})
        r["gender"] = entry.get("gender")
        r["accent"] = entry.get("accent")
    extra = ("digit", "speaker", "take", "gender", "accent")
    return LoadedDataset(make_table(rows, extra), root, tuple(unparsed), tuple(notes))
