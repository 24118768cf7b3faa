"""Reading audio files, strictly.

:func:`read_audio` reads WAV (PCM 8/16/24/32-bit, 32/64-bit float, WAVE_FORMAT_EXTENSIBLE) and
FLAC with soundfile, picks a channel or mixes them, and resamples (soxr) when asked. A file that
cannot be trusted raises :class:`AudioError`, which names the file and the fault; nothing is ever
replaced by silence or a default, because one silent clip scored 0 skews every AUC downstream.

:func:`check_files` reads a whole folder and collects every fault instead of stopping at the
first (``audioanom check DIR``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
import soxr

AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac")

Channel = int | Literal["mean"]


class AudioError(ValueError):
    """A file that cannot be used as audio. ``path`` and ``fault`` say which and why."""

    def __init__(self, path: str | Path, fault: str):
        self.path = Path(path)
        self.fault = fault
        super().__init__(f"{self.path}: {fault}")


@dataclass(frozen=True)
class AudioInfo:
    """What the header of an audio file says."""

    path: Path
    samplerate: int
    channels: int
    frames: int
    subtype: str
    format: str

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.samplerate


def _wav_truncation(path: Path) -> str | None:
    """For a RIFF/WAVE file, say whether the data chunk is shorter than its header declares.

    libsndfile quietly reads what is there when a WAV file was cut off (an interrupted copy or
    download), so the header's declared data size is checked against the bytes on disk.
    Returns a description of the fault or None.
    """
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            return None  # not a RIFF/WAVE file: leave it to libsndfile
        endian = "<" if head[:4] == b"RIFF" else ">"
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            chunk_id, chunk_size = struct.unpack(endian + "4sI", fh.read(8))
            if chunk_id == b"data":
                if chunk_size in (0xFFFFFFFF, 0):  # streaming writers leave the size open
                    return None
                available = size - pos - 8
                if chunk_size > available:
                    return (
                        f"truncated: header declares {chunk_size} bytes of audio data, "
                        f"the file holds {available}"
                    )
                return None
            pos += 8 + chunk_size + (chunk_size & 1)
        return "truncated: no complete 'data' chunk"


def audio_info(path: str | Path) -> AudioInfo:
    """Read only the header of ``path``; :class:`AudioError` if it is missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "no such file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(path, f"unreadable header ({err})") from err
    return AudioInfo(
        path=path,
        samplerate=int(info.samplerate),
        channels=int(info.channels),
        frames=int(info.frames),
        subtype=str(info.subtype),
        format=str(info.format),
    )


def read_audio(
    path: str | Path,
    *,
    sr: int | None = None,
    expected_sr: int | None = None,
    channel: Channel = 0,
) -> tuple[np.ndarray, int]:
    """Read one audio file as mono float32 in [-1, 1].

    Args:
        path: a WAV or FLAC file (any format libsndfile reads).
        sr: resample to this rate (soxr, high quality); None keeps the file's rate.
        expected_sr: the rate the file must have; a different rate is an error. Use it for
            data sets with a fixed rate (MIMII: 16 kHz), where a stray rate means a wrong file.
        channel: which channel of a multichannel file (0-based; the original 8-channel MIMII
            recordings default to channel 0), or ``"mean"`` for the average of all channels.

    Returns:
        ``(samples, rate)``: a 1-D float32 array and its sample rate.

    Raises:
        AudioError: the file is missing, empty, has an unreadable header, is truncated, holds
            zero samples or NaN/Inf samples, has an unexpected rate, or lacks the channel.
    """
    info = audio_info(path)
    path = info.path
    if expected_sr is not None and info.samplerate != expected_sr:
        raise AudioError(path, f"sample rate {info.samplerate} Hz, expected {expected_sr} Hz")
    if channel != "mean" and not (isinstance(channel, int) and 0 <= channel < info.channels):
        raise AudioError(path, f"channel {channel!r} requested, the file has {info.channels}")
    if info.format == "WAV" or path.suffix.lower() == ".wav":
        fault = _wav_truncation(path)
        if fault:
            raise AudioError(path, fault)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(path, f"unreadable audio data ({err})") from err
    if data.shape[0] == 0:
        raise AudioError(path, "zero samples")
    x = data.mean(axis=1) if channel == "mean" else data[:, channel]  # (frames,)
    finite = np.isfinite(x)
    if not finite.all():
        n_nan = int(np.isnan(x).sum())
        n_inf = int((~finite).sum()) - n_nan
        kinds = ", ".join(k for k, n in (("NaN", n_nan), ("Inf", n_inf)) if n)
        raise AudioError(path, f"{kinds} samples ({n_nan + n_inf} of {x.size})")
    if sr is not None and sr != rate:
        x = soxr.resample(x, rate, sr, quality="HQ").astype(np.float32, copy=False)
        rate = sr
    return np.ascontiguousarray(x, dtype=np.float32), int(rate)


def list_audio_files(root: str | Path, extensions: Sequence[str] = AUDIO_EXTENSIONS) -> list[Path]:
    """All audio files below ``root`` (recursively), sorted; FileNotFoundError if no such folder."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    exts = {e.lower() for e in extensions}
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in exts)


@dataclass(frozen=True)
class CheckReport:
    """The outcome of :func:`check_files`: how many files were read and which failed, and why."""

    n_files: int
    problems: tuple[tuple[Path, str], ...] = field(default_factory=tuple)
    rates: tuple[tuple[int, int], ...] = field(default_factory=tuple)  # (rate, count)
    seconds: float = 0.0  # total audio duration of the good files

    @property
    def n_bad(self) -> int:
        """Number of files with a fault."""
        return len(self.problems)

    @property
    def ok(self) -> bool:
        """True when no file had a fault."""
        return not self.problems


def check_files(
    paths: Iterable[str | Path], *, expected_sr: int | None = None, progress: bool = False
) -> CheckReport:
    """Read every file fully and collect each one's fault; never stops at the first."""
    from tqdm.auto import tqdm

    paths = list(paths)
    problems: list[tuple[Path, str]] = []
    rates: dict[int, int] = {}
    seconds = 0.0
    for p in tqdm(paths, desc="checking", unit="file", disable=not progress):
        try:
            x, rate = read_audio(p, expected_sr=expected_sr, channel="mean")
        except AudioError as err:
            problems.append((err.path, err.fault))
            continue
        rates[rate] = rates.get(rate, 0) + 1
        seconds += x.size / rate
    return CheckReport(
        n_files=len(paths),
        problems=tuple(problems),
        rates=tuple(sorted(rates.items())),
        seconds=seconds,
    )
