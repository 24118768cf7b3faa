"""A small ctypes binding of espeak-ng, the speech synthesizer behind the spoken digits.

The library and its voice data come from the ``espeakng-loader`` package
(:func:`espeak_paths`). espeak-ng keeps synthesis state in C static variables that nothing in
its API resets, so :class:`EspeakSession` loads a fresh copy of the library and unloads it when
closed: within a session, outputs depend only on the sequence of calls. :func:`synthesize`
speaks one text in a session of its own. Voices are ``base`` or ``base+variant``
(:func:`available_voices`, :func:`check_voice`).
"""

from __future__ import annotations

import ctypes
import functools
import threading
from pathlib import Path

import numpy as np
import soxr


class SpeechSynthError(RuntimeError):
    """espeak-ng could not be loaded, initialised, or asked to speak."""


_INSTALL_HINT = "install with pip install espeakng-loader"
_OUTPUT_SYNCHRONOUS = 0x0001  # espeak_ng_OUTPUT_MODE ENOUTPUT_MODE_SYNCHRONOUS
_POS_CHARACTER = 1  # espeak_POSITION_TYPE
_CHARS_UTF8 = 1  # espeak_Synth flags
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4  # espeak_PARAMETER
# int callback(short *wav, int numsamples, espeak_EVENT *events); return 0 to continue.
_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
_SESSION_LOCK = threading.Lock()  # espeak-ng is one global engine per process


def espeak_paths() -> tuple[str, str]:
    """``(library path, data path)`` of the espeak-ng shipped by ``espeakng-loader``."""
    try:
        import espeakng_loader
    except ImportError as err:
        raise SpeechSynthError(
            f"espeak-ng could not be loaded from espeakng-loader: {err}; {_INSTALL_HINT}"
        ) from err
    try:
        return str(espeakng_loader.get_library_path()), str(espeakng_loader.get_data_path())
    except (RuntimeError, OSError) as err:
        raise SpeechSynthError(
            f"espeak-ng could not be loaded from espeakng-loader: {err}; {_INSTALL_HINT}"
        ) from err


@functools.lru_cache(maxsize=4)
def _voice_files(data_path: str) -> tuple[frozenset[str], frozenset[str]]:
    """Base voice names (files under ``lang/``, lower case) and variant names (``voices/!v``)."""
    root = Path(data_path)
    bases = frozenset(p.name.lower() for p in (root / "lang").rglob("*") if p.is_file())
    variant_dir = root / "voices" / "!v"
    variants = frozenset(p.name for p in variant_dir.iterdir() if p.is_file())
    return bases, variants


def available_voices(data_path: str | None = None) -> tuple[list[str], list[str]]:
    """Sorted base voices and variants in the espeak-ng data (``base+variant`` is a voice)."""
    bases, variants = _voice_files(data_path or espeak_paths()[1])
    return sorted(bases), sorted(variants)


def check_voice(voice: str, data_path: str | None = None) -> None:
    """Raise ValueError unless ``voice`` (``base`` or ``base+variant``) exists in the data.

    espeak-ng itself silently ignores an unknown ``+variant``, hence this check.
    """
    bases, variants = _voice_files(data_path or espeak_paths()[1])
    base, _, variant = voice.partition("+")
    if base.lower() not in bases:
        raise ValueError(f"unknown espeak-ng voice {base!r} in {voice!r}")
    if variant and variant not in variants:
        raise ValueError(f"unknown espeak-ng voice variant {variant!r} in {voice!r}")


def _check_range(name: str, value: int, low: int, high: int) -> int:
    if not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)


def _bind(lib: ctypes.CDLL) -> None:
    """Declare the signatures of the few libespeak-ng functions used here."""
    c_int, c_char_p, c_void_p = ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p
    sigs = {
        "espeak_ng_InitializePath": ([c_char_p], None),
        "espeak_ng_Initialize": ([ctypes.POINTER(c_void_p)], c_int),
        "espeak_ng_ClearErrorContext": ([ctypes.POINTER(c_void_p)], None),
        "espeak_ng_GetStatusCodeMessage": ([c_int, c_char_p, ctypes.c_size_t], None),
        "espeak_ng_InitializeOutput": ([c_int, c_int, c_char_p], c_int),
        "espeak_ng_GetSampleRate": ([], c_int),
        "espeak_SetSynthCallback": ([_SynthCallback], None),
        "espeak_SetVoiceByName": ([c_char_p], c_int),
        "espeak_SetParameter": ([c_int, c_int, c_int], c_int),
        "espeak_Synth": (
            [c_char_p, ctypes.c_size_t, ctypes.c_uint, c_int, ctypes.c_uint, ctypes.c_uint]
            + [c_void_p, c_void_p],
            c_int,
        ),
        "espeak_Terminate": ([], c_int),
        "espeak_ng_SetRandSeed": ([ctypes.c_long], c_int),
    }
    for name, (argtypes, restype) in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = argtypes, restype


def _unload(lib: ctypes.CDLL) -> None:
    """dlclose the library so that the next load starts from fresh static state."""
    import _ctypes

    close = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary", None)
    if close is not None:
        close(lib._handle)


class EspeakSession:
    """A fresh espeak-ng engine for a sequence of synthesis calls (a context manager).

    Opening loads libespeak-ng and initialises it with the voice data; closing terminates and
    unloads it. Only one session may be open at a time in a process (espeak-ng is a global
    engine); opening a second raises :class:`SpeechSynthError`. Outputs within a session are a
    deterministic function of the sequence of calls made in it. (If some other code in the
    process has loaded the same library file, unloading cannot reset it: determinism then only
    holds per process.)

    ``library_path``/``data_path`` default to those of ``espeakng-loader``. ``rand_seed`` seeds
    espeak-ng's noise generator (breathy voices such as ``+f2``, ``+f5``), which espeak-ng
    itself seeds from the clock.
    """

    def __init__(
        self, library_path: str | None = None, data_path: str | None = None, rand_seed: int = 0
    ) -> None:
        self.library_path = library_path
        self.data_path = data_path
        self.rand_seed = int(rand_seed)
        self.sample_rate = 0
        self._lib: ctypes.CDLL | None = None
        self._chunks: list[np.ndarray] = []
        self._callback = _SynthCallback(self._collect)  # kept alive while the session is open

    def _collect(self, wav, n_samples: int, _events) -> int:
        if wav and n_samples > 0:
            self._chunks.append(np.frombuffer(ctypes.string_at(wav, 2 * n_samples), np.int16))
        return 0

    def __enter__(self) -> EspeakSession:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        """Load and initialise espeak-ng; SpeechSynthError with the reason if that fails."""
        if self._lib is not None:
            return
        if self.library_path is None or self.data_path is None:
            lib_default, data_default = espeak_paths()
            self.library_path = self.library_path or lib_default
            self.data_path = self.data_path or data_default
        if not _SESSION_LOCK.acquire(blocking=False):
            raise SpeechSynthError(
                "another EspeakSession is open: close it first (one per process)"
            )
        try:
            self._lib = self._load()
        except BaseException:
            _SESSION_LOCK.release()
            raise

    def _load(self) -> ctypes.CDLL:
        try:
            lib = ctypes.CDLL(self.library_path)
            _bind(lib)
        except (OSError, AttributeError) as err:
            raise SpeechSynthError(
                f"espeak-ng could not be loaded from espeakng-loader: {err}; {_INSTALL_HINT}"
            ) from err
        context = ctypes.c_void_p()
        lib.espeak_ng_InitializePath(str(self.data_path).encode())
        status = lib.espeak_ng_Initialize(ctypes.byref(context))
        if status != 0:
            message = ctypes.create_string_buffer(512)
            lib.espeak_ng_GetStatusCodeMessage(status, message, len(message))
            lib.espeak_ng_ClearErrorContext(ctypes.byref(context))
            _unload(lib)
            raise SpeechSynthError(
                f"espeak-ng could not be initialised with data {self.data_path}: "
                f"{message.value.decode(errors='replace')}; {_INSTALL_HINT}"
            )
        lib.espeak_ng_InitializeOutput(_OUTPUT_SYNCHRONOUS, 0, None)
        lib.espeak_SetSynthCallback(self._callback)
        lib.espeak_ng_SetRandSeed(self.rand_seed)
        self.sample_rate = int(lib.espeak_ng_GetSampleRate())
        return lib

    def close(self) -> None:
        """Terminate and unload espeak-ng (idempotent)."""
        if self._lib is None:
            return
        lib, self._lib = self._lib, None
        try:
            lib.espeak_Terminate()
            _unload(lib)
        finally:
            _SESSION_LOCK.release()

    def synthesize(
        self,
        text: str,
        voice: str = "en-us",
        *,
        rate: int = 175,
        pitch: int = 50,
        pitch_range: int = 50,
    ) -> np.ndarray:
        """Speak ``text``: int16 samples (T,) at :attr:`sample_rate` (22,050 Hz for espeak-ng).

        ``voice`` is ``base`` or ``base+variant`` (see :func:`available_voices`), ``rate`` in
        words per minute (80-450), ``pitch`` and ``pitch_range`` espeak-ng's 0-100 settings.
        """
        if self._lib is None:
            raise SpeechSynthError("EspeakSession is not open (use it as a context manager)")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"text must be a non-empty string, got {text!r}")
        check_voice(voice, self.data_path)
        settings = {
            _PARAM_RATE: _check_range("rate", rate, 80, 450),
            _PARAM_PITCH: _check_range("pitch", pitch, 0, 100),
            _PARAM_RANGE: _check_range("pitch_range", pitch_range, 0, 100),
            _PARAM_VOLUME: 100,
        }
        lib = self._lib
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise SpeechSynthError(f"espeak-ng refused voice {voice!r}")
        for param, value in settings.items():
            if lib.espeak_SetParameter(param, value, 0) != 0:
                raise SpeechSynthError(f"espeak-ng refused parameter {param} = {value}")
        data = text.encode() + b"\0"
        self._chunks = []
        status = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if status != 0:
            raise SpeechSynthError(f"espeak_Synth failed with status {status} for {text!r}")
        if not self._chunks:
            raise SpeechSynthError(f"espeak-ng produced no audio for {text!r} ({voice})")
        return np.concatenate(self._chunks)  # T


def synthesize(
    text: str,
    voice: str = "en-us",
    *,
    rate: int = 175,
    pitch: int = 50,
    pitch_range: int = 50,
    sr: int | None = None,
    rand_seed: int = 0,
) -> tuple[np.ndarray, int]:
    """Speak ``text`` once in a fresh espeak-ng: ``(float32 samples (T,), rate)``.

    Deterministic: the same arguments give the same samples (``rand_seed`` seeds the breath
    noise of breathy voices). The rate is espeak-ng's own (22,050 Hz) unless ``sr`` asks for a
    resampling (soxr).
    """
    with EspeakSession(rand_seed=rand_seed) as session:
        pcm = session.synthesize(text, voice, rate=rate, pitch=pitch, pitch_range=pitch_range)
        native = session.sample_rate
    x = pcm.astype(np.float32) / 32768.0  # T
    if sr is not None and sr != native:
        return soxr.resample(x, native, sr).astype(np.float32), sr
    return x, native
