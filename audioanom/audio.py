"""Reading audio files, strictly.

:func:`read_audio` reads WAV (PCM 8/16/24/32-bit, 32/64-bit float, WAVE_FORMAT_EXTENSIBLE) and
FLAC with soundfile, picks a channel or mixes them, and resamples (soxr) when asked. A file that
cannot be trusted raises :class:`AudioError`, which names the file and the fault; nothing is ever
replaced by silence or a default, because one silent clip scored 0 skews every AUC downstream.

:func:`check_files` reads a whole folder and collects every fault instead of stopping at the
first (``audioanom check DIR``): unreadable files, NaN/Inf samples, wrong or inconsistent sample
rates, clips too short to use, names that are not UTF-8, directories named like audio files and
duplicate clips are faults; silent, constant (DC only) and clipped clips are warnings (the file
is usable, but a user should know).
"""

from __future__ import annotations

import hashlib
import os
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

#: Clips shorter than this are a fault in :func:`check_files` (no feature of this package can
#: use 50 ms; the machine networks need one 64-frame window, 2.02 s at 16 kHz).
MIN_SECONDS = 0.05

# What the name's extension promises, checked against the first bytes of the file.
_EXPECTED_KIND = {".wav": "WAV", ".flac": "FLAC"}


def display_path(path: str | Path) -> str:
    """``path`` as printable text: bytes of a name that are not UTF-8 shown as ``\\xNN``.

    On Linux such bytes come back from ``os.listdir`` as lone surrogates, which ``print`` and
    every UTF-8 writer refuse; this form can always be printed.
    """
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def name_fault(path: str | Path) -> str | None:
    """Why the name of ``path`` cannot be used (not valid UTF-8), or None.

    Such a name can be read but not written to a CSV, a JSON file or a UTF-8 terminal, so the
    score tables of a run would fail at the end; the file must be renamed.
    """
    raw = os.fsencode(path)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"file name is not valid UTF-8 ({os.fsencode(Path(path).name)!r}): rename it"
    return None


class AudioError(ValueError):
    """A file that cannot be used as audio. ``path`` and ``fault`` say which and why."""

    def __init__(self, path: str | Path, fault: str):
        self.path = Path(path)
        self.fault = fault
        super().__init__(f"{display_path(self.path)}: {fault}")


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


def _sniff(head: bytes) -> str:
    """What the first bytes of a file say it is (for messages about a wrong extension)."""
    if head[:4] in (b"RIFF", b"RIFX", b"RF64"):
        if len(head) < 12 or head[8:12] == b"WAVE":  # a cut-off header is still a WAV file
            return "WAV"
        return f"RIFF {head[8:12].decode('latin-1')!r}"
    if head[:4] == b"fLaC":
        return "FLAC"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "MP3"
    if head[:4] == b"OggS":
        return "Ogg"
    if head[:4] == b"FORM":
        return "AIFF"
    if head[4:8] == b"ftyp":
        return "MP4/M4A"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "not audio (unknown format)"
    if all(c.isprintable() or c in "\t\r\n" for c in text):
        return "text"
    return "not audio (unknown format)"


def _wav_truncation(path: Path) -> str | None:
    """For a RIFF/WAVE file, say whether the data chunk is shorter than its header declares.

    libsndfile quietly reads what is there when a WAV file was cut off (an interrupted copy or
    download), so the header's declared data size is checked against the bytes on disk. When
    the RIFF size matches the file but the data chunk claims more than the whole file, the file
    is complete and its data chunk size is wrong ("corrupt header"); otherwise it was cut off
    ("truncated", or "header only" when no audio byte is left). Returns the fault or None.
    """
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            return None  # not a RIFF/WAVE file: leave it to libsndfile
        endian = "<" if head[:4] == b"RIFF" else ">"
        (riff_size,) = struct.unpack(endian + "I", head[4:8])
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            chunk_id, chunk_size = struct.unpack(endian + "4sI", fh.read(8))
            if chunk_id == b"data":
                if chunk_size in (0xFFFFFFFF, 0):  # streaming writers leave the size open
                    return None
                available = size - pos - 8
                if available <= 0:
                    return (
                        f"header only: no audio data after the header "
                        f"(it declares {chunk_size} bytes)"
                    )
                if chunk_size > available and chunk_size > size and riff_size + 8 == size:
                    return (
                        f"corrupt header: data chunk size {chunk_size} bytes is larger than "
                        f"the whole file ({size} bytes; the RIFF size fits the file)"
                    )
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
    if path.is_dir():
        raise AudioError(path, "a directory, not an audio file")
    if not path.is_file():
        raise AudioError(path, "no such file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    with path.open("rb") as fh:
        head = fh.read(12)
    expected = _EXPECTED_KIND.get(path.suffix.lower())
    kind = _sniff(head)
    if expected is not None and kind != expected:
        raise AudioError(
            path,
            f"unreadable header: not a {expected} file, the content is {kind} "
            f"(starts with {head[:8]!r})",
        )
    try:
        info = sf.info(os.fsencode(path))
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


def _read_frames(
    info: AudioInfo, *, expected_sr: int | None, min_seconds: float | None
) -> np.ndarray:
    """All channels of ``info.path`` as float32 ``(frames, channels)``, checked (read_audio)."""
    path = info.path
    if expected_sr is not None and info.samplerate != expected_sr:
        raise AudioError(path, f"sample rate {info.samplerate} Hz, expected {expected_sr} Hz")
    if info.format == "WAV" or path.suffix.lower() == ".wav":
        fault = _wav_truncation(path)
        if fault:
            raise AudioError(path, fault)
    try:
        data, _ = sf.read(os.fsencode(path), dtype="float32", always_2d=True)  # frames, channels
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(path, f"unreadable audio data ({err})") from err
    if data.shape[0] == 0:
        raise AudioError(path, "header only: zero samples")
    finite = np.isfinite(data)
    if not finite.all():
        n_nan = int(np.isnan(data).sum())
        n_pos = int(np.isposinf(data).sum())
        n_neg = int(np.isneginf(data).sum())
        kinds = ", ".join(k for k, n in (("NaN", n_nan), ("+Inf", n_pos), ("-Inf", n_neg)) if n)
        raise AudioError(path, f"{kinds} samples ({n_nan + n_pos + n_neg} of {data.size})")
    if min_seconds is not None and data.shape[0] < min_seconds * info.samplerate:
        raise AudioError(
            path,
            f"too short: {data.shape[0] / info.samplerate:.3f} s ({data.shape[0]} samples), "
            f"at least {min_seconds:g} s needed",
        )
    return data


def read_audio(
    path: str | Path,
    *,
    sr: int | None = None,
    expected_sr: int | None = None,
    channel: Channel = 0,
    min_seconds: float | None = None,
) -> tuple[np.ndarray, int]:
    """Read one audio file as mono float32 in [-1, 1].

    Args:
        path: a WAV or FLAC file (any format libsndfile reads). The content must be what the
            extension says (an MP3 or a text file named ``.wav`` is an error).
        sr: resample to this rate (soxr, high quality); None keeps the file's rate.
        expected_sr: the rate the file must have; a different rate is an error. Use it for
            data sets with a fixed rate (MIMII: 16 kHz), where a stray rate means a wrong file.
        channel: which channel of a multichannel file (0-based; the original 8-channel MIMII
            recordings default to channel 0), or ``"mean"`` for the average of all channels.
        min_seconds: a shorter file is an error (None: any length of at least one sample).

    Returns:
        ``(samples, rate)``: a 1-D float32 array and its sample rate.

    Raises:
        AudioError: the file is missing, a directory, empty, not what its extension says, has
            an unreadable header, is truncated, holds zero samples or NaN/Inf samples (in any
            channel), has an unexpected rate, is too short, or lacks the channel.
    """
    info = audio_info(path)
    if channel != "mean" and not (isinstance(channel, int) and 0 <= channel < info.channels):
        raise AudioError(info.path, f"channel {channel!r} requested, the file has {info.channels}")
    data = _read_frames(info, expected_sr=expected_sr, min_seconds=min_seconds)
    rate = info.samplerate
    x = data.mean(axis=1) if channel == "mean" else data[:, channel]  # (frames,)
    if sr is not None and sr != rate:
        x = soxr.resample(x, rate, sr, quality="HQ").astype(np.float32, copy=False)
        rate = sr
    return np.ascontiguousarray(x, dtype=np.float32), int(rate)


_PCM_BITS = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32}

#: A clip with at least this fraction of its samples at full scale is reported as clipped.
CLIPPED_FRACTION = 1e-3


def signal_warnings(data: np.ndarray, subtype: str = "FLOAT") -> list[str]:
    """What is suspicious about a readable signal ``(frames[, channels])``: silent (every sample
    0), constant (DC only), or clipped (at least :data:`CLIPPED_FRACTION` of the samples at or
    beyond full scale, which for ``b``-bit PCM is ``-1`` and ``1 - 2**(1 - b)``)."""
    x = np.asarray(data, dtype=np.float32)
    x = x.reshape(x.shape[0], -1)  # frames, channels
    if not x.any():
        return ["silent: every sample is 0"]
    if (x == x[:1]).all():
        values = ", ".join(f"{v:.6g}" for v in x[0])
        return [f"constant DC: every sample is {values}, no signal"]
    bits = _PCM_BITS.get(subtype)
    full = 1.0 - 2.0 ** (1 - bits) if bits else 1.0
    n_full = int((np.abs(x) >= np.float32(full)).sum())
    if n_full >= max(2, CLIPPED_FRACTION * x.size):
        peak = float(np.abs(x).max())
        beyond = f", peak {peak:.3g}" if peak > 1.0 else ""
        return [
            f"clipped: {n_full} of {x.size} samples ({100 * n_full / x.size:.1f}%) "
            f"at full scale{beyond}"
        ]
    return []


def list_audio_files(root: str | Path, extensions: Sequence[str] = AUDIO_EXTENSIONS) -> list[Path]:
    """All audio files below ``root`` (recursively), sorted; FileNotFoundError if no such folder.

    Directories named like audio files are not listed (see :func:`list_audio_dirs`)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    exts = {e.lower() for e in extensions}
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in exts)


def list_audio_dirs(root: str | Path, extensions: Sequence[str] = AUDIO_EXTENSIONS) -> list[Path]:
    """Directories below ``root`` whose names end like an audio file (``x.wav/``), sorted: a
    loader or a check names them instead of passing over them in silence."""
    exts = {e.lower() for e in extensions}
    return sorted(p for p in Path(root).rglob("*") if p.is_dir() and p.suffix.lower() in exts)


@dataclass(frozen=True)
class CheckReport:
    """The outcome of :func:`check_files`: how many files were read, which failed and why, and
    which are usable but suspicious (``warnings``: silent, constant, clipped, ...)."""

    n_files: int
    problems: tuple[tuple[Path, str], ...] = field(default_factory=tuple)
    rates: tuple[tuple[int, int], ...] = field(default_factory=tuple)  # (rate, count)
    seconds: float = 0.0  # total audio duration of the good files
    warnings: tuple[tuple[Path, str], ...] = field(default_factory=tuple)

    @property
    def n_bad(self) -> int:
        """Number of files with a fault."""
        return len(self.problems)

    @property
    def ok(self) -> bool:
        """True when no file had a fault (warnings do not count)."""
        return not self.problems


def check_files(
    paths: Iterable[str | Path],
    *,
    expected_sr: int | None = None,
    min_seconds: float | None = MIN_SECONDS,
    min_seconds_warn: tuple[float, str] | None = None,
    progress: bool = False,
) -> CheckReport:
    """Read every file fully and collect each one's fault; never stops at the first.

    Faults (``problems``, one per file, in input order): everything :func:`read_audio` refuses
    (all channels are read), a name that is not UTF-8, a clip shorter than ``min_seconds``, a
    clip whose decoded audio equals an earlier one (``duplicate of <path>``), and -- when
    ``expected_sr`` is None and the rates differ -- a rate other than the most common one.
    Warnings: :func:`signal_warnings`, and with ``min_seconds_warn=(seconds, why)`` clips
    shorter than that (usable by some features, not by others).
    """
    from .progress import tqdm

    paths = [Path(p) for p in paths]
    problems: dict[int, tuple[Path, str]] = {}
    warnings: list[tuple[Path, str]] = []
    good: dict[int, tuple[int, float]] = {}  # index -> (rate, seconds)
    seen: dict[bytes, Path] = {}
    for i, p in enumerate(tqdm(paths, desc="checking", unit="file", disable=not progress)):
        fault = name_fault(p)
        if fault:
            problems[i] = (p, fault)
            continue
        try:
            info = audio_info(p)
            data = _read_frames(info, expected_sr=expected_sr, min_seconds=min_seconds)
        except AudioError as err:
            problems[i] = (err.path, err.fault)
            continue
        digest = hashlib.sha256(
            struct.pack("<qq", info.samplerate, data.shape[1]) + data.tobytes()
        ).digest()
        if digest in seen:
            problems[i] = (p, f"duplicate of {display_path(seen[digest])} (the same audio)")
            continue
        seen[digest] = p
        seconds = data.shape[0] / info.samplerate
        warnings += [(p, w) for w in signal_warnings(data, info.subtype)]
        if min_seconds_warn is not None and seconds < min_seconds_warn[0]:
            warnings.append((p, f"short: {seconds:.3f} s; {min_seconds_warn[1]}"))
        good[i] = (info.samplerate, seconds)
    rates: dict[int, int] = {}
    for rate, _ in good.values():
        rates[rate] = rates.get(rate, 0) + 1
    if expected_sr is None and len(rates) > 1:
        usual = max(rates, key=lambda r: (rates[r], r))
        for i, (rate, _) in list(good.items()):
            if rate != usual:
                problems[i] = (
                    paths[i],
                    f"sample rate {rate} Hz, unlike the other files ({rates[usual]} at {usual} Hz)",
                )
                del good[i]
    return CheckReport(
        n_files=len(paths),
        problems=tuple(problems[i] for i in sorted(problems)),
        rates=tuple(sorted(rates.items())),
        seconds=sum(sec for _, sec in good.values()),
        warnings=tuple(warnings),
    )
