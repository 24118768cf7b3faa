"""Features of machine-sound clips: the complex STFT and the DCASE 2020 log-mel vectors.

Complex STFT (input of the complex network, :mod:`audioanom.machines.nn`)
-----------------------------------------------------------------
:func:`complex_stft` returns a float32 array ``(2, F, T)``: channel 0 is the real part,
channel 1 the imaginary part of the STFT; ``F = n_fft // 2 + 1 = 513`` frequency bins (bin
``k`` at ``k * sr / n_fft`` Hz, 15.625 Hz apart), ``T`` frames. Settings
(:class:`StftConfig`): 16 kHz, ``n_fft`` 1024, hop 512, periodic Hann window, no scaling
(``X[k, t] = sum_n w[n] x[t * hop - n_fft/2 + n] exp(-2j pi k n / n_fft)``).

Centre padding is used by default (``center=True``, ``pad_mode="reflect"``): the signal is
padded by ``n_fft // 2`` samples on each side by reflection, so frame ``t`` is centred on
sample ``t * hop`` and ``T = 1 + n_samples // hop`` (313 for a 10-s clip). This is what the
DCASE 2020 baseline computes (librosa 0.6 ``stft``, whose default padding was ``reflect``;
librosa >= 0.10 pads with zeros instead) and what ``torch.stft`` and
:func:`audioanom.machines.nn.stft_input` do. ``center=False`` gives ``T = 1 + (n - n_fft) // hop``.

:func:`stft_table` computes the STFT of every clip of a clip table ONCE: results are cached
as ``.npy`` files under :func:`audioanom.paths.cache_dir` ``/machine_features``, keyed by the
config, the file's resolved path, size and modification time (any change to the file or the
config computes it anew). :func:`window_starts` and :func:`clip_windows` cut a clip's STFT into
the 64-frame windows the network is trained on, the last window aligned to the clip's end so
that every frame is covered. :func:`stft_table` with ``speed`` does the same for each clip played
``speed`` times as fast (:func:`audioanom.dsp.speed_change`), the extra classes of a training
with speed classes (:func:`audioanom.machines.training.train_clips_network`).

Log-mel vectors (input of the DCASE 2020 Task 2 autoencoder baseline)
---------------------------------------------------------------------
As the official baseline (``common.file_to_vector_array``): power spectrogram
``|STFT|**2`` (same STFT as above), 128 mel bands, ``10 * log10(mel + eps)`` with
``eps = sys.float_info.epsilon`` (the baseline writes ``20 / power * log10``; power is 2),
then 5 consecutive frames concatenated into one 640-dim vector
(``v[t] = [m[:, t], m[:, t + 1], ..., m[:, t + 4]]``, frame-major), ``T - 4`` vectors a clip.
The STFT of the log-mel path is :func:`audioanom.dsp.stft` (librosa, reflect padding as the
baseline's librosa 0.6), the filterbank :func:`audioanom.dsp.mel_filterbank` (librosa's default
Slaney filters) and the dB step :func:`audioanom.dsp.power_to_db` with ``amin = eps``:
``10 log10(max(mel, eps))``, which differs from the baseline's ``log10(mel + eps)`` only for
cells below ``1e-15`` (digital silence).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch

from .. import paths
from ..audio import AudioError, read_audio
from ..dsp import check_signal, mel_filterbank, power_spectrogram, power_to_db, speed_change

__all__ = [
    "FEATURE_CACHE_VERSION",
    "CachedArray",
    "LogMelConfig",
    "StftConfig",
    "cache_path",
    "clip_log_mel",
    "clip_stft",
    "clip_vectors",
    "clip_windows",
    "id_mean_spectra",
    "complex_stft",
    "log_mel",
    "SpeedStftConfig",
    "stack_frames",
    "stft_table",
    "vectors_table",
    "window_starts",
]

# Bump when the computation changes, so that old cache entries are not reused.
FEATURE_CACHE_VERSION = 2  # 2: log-mel through librosa (audioanom.dsp)

PadMode = Literal["reflect", "constant"]


@dataclass(frozen=True)
class StftConfig:
    """Complex STFT settings (defaults: the complex network's input, see module docstring)."""

    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 512
    center: bool = True
    pad_mode: PadMode = "reflect"

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.n_fft < 2 or self.hop_length < 1:
            raise ValueError(f"invalid STFT settings: {self}")
        if self.pad_mode not in ("reflect", "constant"):
            raise ValueError(f"pad_mode must be 'reflect' or 'constant', got {self.pad_mode!r}")

    @property
    def n_bins(self) -> int:
        """Frequency bins: ``n_fft // 2 + 1`` (513)."""
        return self.n_fft // 2 + 1

    def n_frames(self, n_samples: int) -> int:
        """Frames of a signal of ``n_samples`` samples (313 for 160,000 with the defaults)."""
        if self.center:
            return 1 + n_samples // self.hop_length
        return 1 + (n_samples - self.n_fft) // self.hop_length


@dataclass(frozen=True)
class LogMelConfig:
    """Log-mel vectors of the DCASE 2020 Task 2 autoencoder baseline (module docstring)."""

    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 128
    power: float = 2.0
    frames: int = 5
    fmin: float = 0.0
    fmax: float | None = None  # None: sample_rate / 2
    center: bool = True
    pad_mode: PadMode = "reflect"

    def __post_init__(self) -> None:
        if self.n_mels < 1 or self.frames < 1 or self.power <= 0:
            raise ValueError(f"invalid log-mel settings: {self}")
        fmax = self.sample_rate / 2 if self.fmax is None else self.fmax
        if not 0 <= self.fmin < fmax <= self.sample_rate / 2:
            raise ValueError(
                f"need 0 <= fmin < fmax <= sample_rate / 2, got fmin={self.fmin}, fmax={fmax}"
            )
        self.stft  # noqa: B018  (validates the STFT part)

    @property
    def stft(self) -> StftConfig:
        """The STFT part of the settings."""
        return StftConfig(self.sample_rate, self.n_fft, self.hop_length, self.center, self.pad_mode)

    @property
    def dims(self) -> int:
        """Length of one stacked vector: ``n_mels * frames`` (640)."""
        return self.n_mels * self.frames


# --------------------------------------------------------------------------------------------
# complex STFT


@functools.lru_cache(maxsize=8)
def _hann(n_fft: int) -> torch.Tensor:
    return torch.hann_window(n_fft, periodic=True, dtype=torch.float32)


def _torch_stft(x: np.ndarray, config: StftConfig) -> torch.Tensor:
    """Complex64 ``torch.stft`` ``(F, T)`` of a 1-D signal (the network's input STFT)."""
    w = torch.from_numpy(check_signal(x, config.n_fft, config.center))  # N
    return torch.stft(
        w,
        config.n_fft,
        config.hop_length,
        window=_hann(config.n_fft),
        center=config.center,
        pad_mode=config.pad_mode,
        normalized=False,
        onesided=True,
        return_complex=True,
    )  # F, T


def complex_stft(x: np.ndarray, config: StftConfig = StftConfig()) -> np.ndarray:
    """Complex STFT of a mono signal as float32 ``(2, F, T)`` (real, imaginary).

    ``x`` is 1-D at ``config.sample_rate``. See the module docstring for the layout, window and
    padding. Raises ValueError for a non-1-D, too short or non-finite signal.
    """
    z = _torch_stft(x, config).numpy()  # F, T complex64
    return np.stack([z.real, z.imag])  # 2, F, T float32 (faster than a torch permute copy)


def clip_stft(
    path: str | Path, config: StftConfig = StftConfig(), speed: float | None = None
) -> np.ndarray:
    """Read one file (:func:`audioanom.audio.read_audio`, rate must be ``config.sample_rate``)
    and return its :func:`complex_stft` ``(2, F, T)``; AudioError names a bad file. ``speed``:
    the STFT of the clip played that many times as fast (:func:`audioanom.dsp.speed_change`)."""
    x, _ = read_audio(path, expected_sr=config.sample_rate)
    try:
        if speed is not None:
            x = speed_change(x, speed, config.sample_rate)
        return complex_stft(x, config)
    except ValueError as err:  # e.g. a clip shorter than one FFT frame
        raise AudioError(path, str(err)) from err


def require_windows(specs: Sequence[np.ndarray], files: Sequence[object], window: int) -> None:
    """Raise AudioError naming the first clip whose ``(C, F, T)`` STFT has fewer than
    ``window`` frames (the networks need one whole window), with the count of such clips."""
    short = [i for i, s in enumerate(specs) if s.shape[-1] < window]
    if short:
        i = short[0]
        raise AudioError(
            files[i],
            f"too short for the network: {specs[i].shape[-1]} STFT frames, one window needs "
            f"{window} ({len(short)} such clip(s))",
        )


def window_starts(n_frames: int, window: int = 64, hop: int = 32) -> np.ndarray:
    """Start frames of ``window``-frame windows covering all ``n_frames`` frames.

    Windows start every ``hop`` frames; when the last regular window stops short of the end,
    one more window aligned to the end (start ``n_frames - window``) is added, so every frame
    lies in at least one window. 313 frames, window 64, hop 32: starts 0, 32, ..., 224, 249.
    Raises ValueError when the clip is shorter than one window or the sizes are not positive.
    """
    if window < 1 or hop < 1:
        raise ValueError(f"window and hop must be >= 1, got window={window}, hop={hop}")
    if n_frames < window:
        raise ValueError(f"clip of {n_frames} frames is shorter than one window of {window}")
    starts = list(range(0, n_frames - window + 1, hop))
    if starts[-1] + window < n_frames:
        starts.append(n_frames - window)
    return np.asarray(starts, dtype=np.int64)


def clip_windows(spec: np.ndarray, window: int = 64, hop: int = 32) -> np.ndarray:
    """Cut ``(C, F, T)`` into windows ``(W, C, F, window)`` at :func:`window_starts` (a copy)."""
    if spec.ndim != 3:
        raise ValueError(f"expected (C, F, T), got shape {spec.shape}")
    starts = window_starts(spec.shape[-1], window, hop)
    return np.stack([spec[..., s : s + window] for s in starts])  # W, C, F, window


# --------------------------------------------------------------------------------------------
# on-disk cache


def cache_path(
    path: str | Path, kind: str, config: object, *, cache_root: str | Path | None = None
) -> Path:
    """Where the feature ``kind`` of file ``path`` under ``config`` is cached.

    The key is a SHA-256 of the cache version, ``kind``, the config's fields, the file's
    resolved path, its size and its modification time (ns). FileNotFoundError if no file.
    """
    p = Path(path).resolve()
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    st = p.stat()
    payload = json.dumps(
        {
            "version": FEATURE_CACHE_VERSION,
            "kind": kind,
            "config": asdict(config),  # type: ignore[arg-type]
            "path": str(p),
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
        },
        sort_keys=True,
    )
    key = hashlib.sha256(payload.encode()).hexdigest()[:40]
    root = Path(cache_root) if cache_root is not None else paths.cache_dir()
    return root / "machine_features" / kind / key[:2] / f"{key}.npy"


def _save_atomic(target: Path, array: np.ndarray) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".npy")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, array, allow_pickle=False)
        os.replace(tmp, target)  # readers never see a half-written file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_SCRATCH = threading.local()


def _scratch(nbytes: int) -> bytearray:
    """This thread's read buffer, at least ``nbytes`` long (grown when needed)."""
    buf = getattr(_SCRATCH, "buf", None)
    if buf is None or len(buf) < nbytes:
        buf = _SCRATCH.buf = bytearray(max(nbytes, 1))
    return buf


class CachedArray:
    """A cached ``.npy`` array that is read when it is used, not held.

    ``shape``, ``ndim`` and ``dtype`` come from the file's header; ``a[key]`` reads the file
    into a reused per-thread buffer and returns a copy of the part asked for (no memory map is
    left behind); ``np.asarray(a)`` reads it all into a new array. A list
    of these therefore keeps the process's resident memory flat however many clips it names (a
    list of ``np.memmap`` keeps every page it ever read mapped: the full development set would
    be several GB). ValueError naming the file when it is not a complete ``.npy`` file.
    """

    __slots__ = ("dtype", "fortran", "offset", "path", "shape")

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        fmt = np.lib.format
        with open(self.path, "rb") as fh:
            try:
                version = fmt.read_magic(fh)
                read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
                shape, fortran, dtype = read(fh)
            except ValueError as err:
                raise ValueError(f"{self.path}: not a .npy array ({err})") from err
            self.offset = fh.tell()
        if dtype.hasobject:
            raise ValueError(f"{self.path}: holds Python objects, not numbers")
        if os.path.getsize(self.path) != self.offset + int(np.prod(shape)) * dtype.itemsize:
            raise ValueError(f"{self.path}: truncated .npy file")
        self.shape, self.dtype, self.fortran = tuple(shape), dtype, bool(fortran)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        return np.array(self.scratch_view()[key])  # a copy: the buffer is reused

    def scratch_view(self) -> np.ndarray:
        """The whole array, read into this thread's reused buffer: valid only until the next
        read of any CachedArray in this thread (copy what you keep)."""
        nbytes = int(np.prod(self.shape)) * self.dtype.itemsize
        buf = _scratch(nbytes)  # no fresh pages per read
        self._read_into(memoryview(buf)[:nbytes])
        view = np.frombuffer(buf, self.dtype, count=nbytes // self.dtype.itemsize)
        return view.reshape(self.shape, order="F" if self.fortran else "C")

    def _read_into(self, target: memoryview) -> None:
        with open(self.path, "rb", buffering=0) as fh:
            fh.seek(self.offset)
            got = fh.readinto(target) if target.nbytes else 0
        if got != target.nbytes:
            raise ValueError(f"{self.path}: read {got} of {target.nbytes} bytes")

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = np.empty(self.shape, self.dtype, order="F" if self.fortran else "C")
        self._read_into(memoryview(out.reshape(-1, order="A")).cast("B"))
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"CachedArray({str(self.path)!r}, shape={self.shape}, dtype={self.dtype})"


def _cached(
    path: str | Path,
    kind: str,
    config: object,
    compute: Callable[[], np.ndarray],
    *,
    cache: bool,
    cache_root: str | Path | None,
    lazy: bool,
) -> np.ndarray | CachedArray:
    if not cache:
        return compute()
    target = cache_path(path, kind, config, cache_root=cache_root)
    if target.is_file():
        try:
            return CachedArray(target) if lazy else np.load(target, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            warnings.warn(f"unreadable cache entry {target} ({err}); recomputing", stacklevel=3)
    array = compute()
    _save_atomic(target, array)
    return CachedArray(target) if lazy else array


def _paths_of(clips: pd.DataFrame | Sequence[str | Path]) -> list[str]:
    if isinstance(clips, pd.DataFrame):
        if "path" not in clips.columns:
            raise ValueError(f"clip table has no 'path' column (columns: {list(clips.columns)})")
        return [str(p) for p in clips["path"]]
    return [str(p) for p in clips]


def _cached_table(
    clips: pd.DataFrame | Sequence[str | Path],
    kind: str,
    key_config: object,
    per_clip: Callable[[str, object], np.ndarray],
    config: object,
    cache: bool,
    cache_root: str | Path | None,
    lazy: bool,
    progress: bool,
) -> list[np.ndarray]:
    """``per_clip(path, config)`` of every clip in row order, each through :func:`_cached`
    under ``kind`` and ``key_config``."""
    from ..progress import tqdm

    out = []
    for p in tqdm(_paths_of(clips), desc=kind, unit="clip", disable=not progress):
        compute = functools.partial(per_clip, p, config)
        out.append(
            _cached(p, kind, key_config, compute, cache=cache, cache_root=cache_root, lazy=lazy)
        )
    return out


def stft_table(
    clips: pd.DataFrame | Sequence[str | Path],
    config: StftConfig = StftConfig(),
    *,
    speed: float | None = None,
    cache: bool = True,
    cache_root: str | Path | None = None,
    lazy: bool = False,
    progress: bool = False,
) -> list[np.ndarray]:
    """:func:`clip_stft` of every clip of a clip table (or a list of paths), in row order.

    With ``cache=True`` each STFT is computed once and stored (see :func:`cache_path`); later
    calls load it. ``lazy=True`` (with the cache) returns :class:`CachedArray` entries, read
    only when used, so that memory stays flat for the full data set (one 10-s clip is 1.3 MB,
    a development set 4,000+ clips). Returns a list of ``(2, F, T)`` arrays.

    ``speed``: every clip played ``speed`` times as fast (:func:`audioanom.dsp.speed_change`:
    every frequency times ``speed``, ``1 / speed`` the frames), cached under its own key
    (:class:`SpeedStftConfig`).
    """
    if speed is None:
        return _cached_table(
            clips, "stft", config, clip_stft, config, cache, cache_root, lazy, progress
        )
    key = SpeedStftConfig(float(speed), config)
    return _cached_table(
        clips, "stft_speed", key, _speed_stft, key, cache, cache_root, lazy, progress
    )


@dataclass(frozen=True)
class SpeedStftConfig:
    """The STFT ``stft`` of a clip played ``factor`` times as fast (``factor > 0``, not 1: that
    is the clip itself): the cache key of :func:`stft_table` with ``speed``."""

    factor: float
    stft: StftConfig = StftConfig()

    def __post_init__(self) -> None:
        if not self.factor > 0 or self.factor == 1:
            raise ValueError(f"speed factor must be > 0 and not 1, got {self.factor}")


def _speed_stft(path: str | Path, config: SpeedStftConfig) -> np.ndarray:
    return clip_stft(path, config.stft, config.factor)


# --------------------------------------------------------------------------------------------
# log-mel vectors


def log_mel(x: np.ndarray, config: LogMelConfig = LogMelConfig()) -> np.ndarray:
    """Log-mel spectrogram ``(n_mels, T)`` float32 of a mono signal, as the DCASE baseline:
    ``20 / power * log10(max(mel(|STFT| ** power), eps))`` (module docstring), through
    :mod:`audioanom.dsp` (librosa)."""
    c = config
    spec = power_spectrogram(
        x, c.n_fft, c.hop_length, power=c.power, center=c.center, pad_mode=c.pad_mode
    )  # F, T
    mel = mel_filterbank(c.sample_rate, c.n_fft, c.n_mels, c.fmin, c.fmax) @ spec  # M, T
    db = power_to_db(mel, amin=sys.float_info.epsilon)  # M, T: 10 log10(max(mel, eps))
    return (db * (2.0 / c.power)).astype(np.float32)


def stack_frames(logmel: np.ndarray, frames: int = 5) -> np.ndarray:
    """``(n_mels, T)`` -> ``(T - frames + 1, n_mels * frames)`` float32 vectors.

    Vector ``t`` is frames ``t .. t + frames - 1`` concatenated, frame-major (the baseline's
    order). Raises ValueError for a non-2-D input or a clip shorter than ``frames`` frames.
    """
    if logmel.ndim != 2:
        raise ValueError(f"expected (n_mels, T), got shape {logmel.shape}")
    n_mels, n_frames = logmel.shape
    if n_frames < frames:
        raise ValueError(f"clip of {n_frames} frames is shorter than {frames} stacked frames")
    win = np.lib.stride_tricks.sliding_window_view(logmel.T, frames, axis=0)  # N, M, frames
    out = win.transpose(0, 2, 1).reshape(n_frames - frames + 1, n_mels * frames)  # N, D
    return np.ascontiguousarray(out, dtype=np.float32)


def clip_log_mel(path: str | Path, config: LogMelConfig = LogMelConfig()) -> np.ndarray:
    """Read one file (rate must be ``config.sample_rate``) -> :func:`log_mel` ``(n_mels, T)``."""
    x, _ = read_audio(path, expected_sr=config.sample_rate)
    return log_mel(x, config)


def clip_vectors(path: str | Path, config: LogMelConfig = LogMelConfig()) -> np.ndarray:
    """Read one file -> its stacked log-mel vectors ``(T - frames + 1, dims)``."""
    return stack_frames(clip_log_mel(path, config), config.frames)


def vectors_table(
    clips: pd.DataFrame | Sequence[str | Path],
    config: LogMelConfig = LogMelConfig(),
    *,
    cache: bool = True,
    cache_root: str | Path | None = None,
    progress: bool = False,
) -> list[np.ndarray]:
    """Stacked log-mel vectors ``(T - frames + 1, dims)`` of every clip, in row order. The
    :func:`clip_log_mel` ``(n_mels, T)`` of each clip is cached like :func:`stft_table` (the key
    ignores ``frames``, which only the stacking uses)."""
    key_config = LogMelConfig(**{**asdict(config), "frames": 1})
    mels = _cached_table(
        clips, "logmel", key_config, clip_log_mel, config, cache, cache_root, False, progress
    )
    return [stack_frames(m, config.frames) for m in mels]


def id_mean_spectra(
    clips: pd.DataFrame,
    machine_type: str,
    *,
    n_per_id: int = 10,
    stft_config: StftConfig | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean log-power spectrum per ID of up to ``n_per_id`` normal training clips (normal
    test clips when there are none): ``id, freq_hz, db`` rows, ``db = 10 log10`` of the mean
    ``|X|^2`` over frames and clips, relative to the type's maximum."""
    stft_config = stft_config if stft_config is not None else StftConfig()
    sub = clips[(clips["group"] == machine_type) & (clips["label"] == "normal")]
    if sub.empty:
        raise ValueError(f"{machine_type}: no normal clips")
    has_train = (sub["split"] == "train").any()
    sub = sub[sub["split"] == ("train" if has_train else sub["split"].iat[0])]
    rows = []
    freqs = np.arange(stft_config.n_bins) * stft_config.sample_rate / stft_config.n_fft
    power = {}
    for mid, g in sub.groupby("id", sort=True):
        g = g.sample(min(n_per_id, len(g)), random_state=seed)
        specs = stft_table(g, stft_config, lazy=True)
        p = np.mean([(s[0] ** 2 + s[1] ** 2).mean(axis=1) for s in specs], axis=0)  # F
        power[str(mid)] = p
    ref = max(float(p.max()) for p in power.values())
    for mid, p in power.items():
        db = 10 * np.log10(p / ref + 1e-12)
        rows.append(pd.DataFrame({"id": mid, "freq_hz": freqs, "db": db}))
    return pd.concat(rows, ignore_index=True)
