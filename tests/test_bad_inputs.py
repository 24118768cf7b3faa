"""A corpus of bad (and awkward but valid) inputs, generated here, and what each tool says.

Every kind of file is made in ``tmp_path`` (nothing is committed): broken headers are written
byte by byte with :mod:`struct`, signals with numpy. Each kind has ONE expected outcome:

* ``accepted``: read correctly (the values read back are checked against what was written,
  within the quantisation step of the format, worked out by hand);
* ``error``: the tool refuses the file with ``<path>: <fault>``, the fault containing a phrase;
* ``reported``: the file is usable, and ``audioanom check`` prints a ``WARN <path>: ...`` line.

``where`` says which tool finds the fault: ``read`` (:func:`read_audio`, hence every loader,
training and scoring), ``check`` (only :func:`check_files` / ``audioanom check`` can tell:
it needs the other files) or ``table`` (the clip-table builder, :func:`load_dcase2020`).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioanom.audio import (
    MIN_SECONDS,
    AudioError,
    check_files,
    display_path,
    list_audio_dirs,
    list_audio_files,
    read_audio,
)
from audioanom.cli import main
from audioanom.datasets import load_dcase2020

SR = 16000
SECONDS = 2.1  # longer than one 64-frame network window (2.016 s): no "short" warnings
N = int(SR * SECONDS)  # 33600 samples


def sine(freq: float, n: int = N, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    """A float64 sine, different per kind so that no two good clips are duplicates."""
    return amp * np.sin(2 * np.pi * freq * np.arange(n) / sr)


def wav_bytes(
    data: bytes,
    *,
    fmt_tag: int = 1,
    channels: int = 1,
    sr: int = SR,
    bits: int = 16,
    declared: int | None = None,
) -> bytes:
    """A canonical RIFF/WAVE file: ``fmt `` chunk (16 bytes) and ``data`` chunk, whose size
    field says ``declared`` (default: the true size) while ``data`` holds what is given."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, sr, sr * block, block, bits)  # 16 bytes
    size = len(data) if declared is None else declared
    riff_size = 4 + (8 + len(fmt)) + (8 + size)
    return (
        b"RIFF"
        + struct.pack("<I", riff_size)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", size)
        + data
    )  # 44 bytes of header, then the audio


def pcm16(x: np.ndarray) -> bytes:
    """16-bit PCM codes ``round(x * 32768)``: read back as ``code / 32768``, error <= 2**-16."""
    return np.clip(np.round(x * 32768), -32768, 32767).astype("<i2").tobytes()


# ------------------------------------------------------------------------------------------
# what was written, for the "accepted" kinds: (codes or samples, expected float32 read-back)

U8_X = sine(310.0)
U8_CODES = np.clip(np.round(U8_X * 128) + 128, 0, 255).astype(np.uint8)
PCM24_X = sine(330.0)
PCM24_CODES = np.clip(np.round(PCM24_X * 2**23), -(2**23), 2**23 - 1).astype(np.int64)
F32_X = sine(350.0).astype(np.float32)
F64_X = sine(370.0)
EXT_X = np.stack([sine(390.0 + 20 * c, amp=0.8 / (c + 1)) for c in range(8)], axis=1)
UTF8_X = sine(410.0)


def _int24(codes: np.ndarray) -> bytes:
    u = (codes & 0xFFFFFF).astype("<u4").tobytes()  # 4 bytes a sample, little-endian
    return b"".join(u[i : i + 3] for i in range(0, len(u), 4))


@dataclass(frozen=True)
class Kind:
    name: str
    filename: str  # below corpus/fan/test/ (bytes-safe text; see NON_UTF8)
    outcome: str  # accepted | error | reported
    where: str  # read | check | table
    phrase: str  # in the fault / warning ("" for accepted)


GOOD = "normal_id_00_00000000.wav"
GOOD_KIND = "good reference"
NON_UTF8 = b"normal_id_00_\xff\xfe.wav"  # not valid UTF-8: made through os.fsencode paths

KINDS = [
    Kind("good reference", GOOD, "accepted", "read", ""),
    Kind("empty file", "normal_id_00_00000001.wav", "error", "read", "empty file (0 bytes)"),
    Kind(
        "header only",
        "normal_id_00_00000002.wav",
        "error",
        "read",
        "header only: no audio data after the header (it declares 67200 bytes)",
    ),
    Kind(
        "header only, data size 0",
        "normal_id_00_00000003.wav",
        "error",
        "read",
        "header only: zero samples",
    ),
    Kind(
        "truncated data chunk",
        "normal_id_00_00000004.wav",
        "error",
        "read",
        "truncated: header declares 67200 bytes of audio data, the file holds 33600",
    ),
    Kind(
        "data chunk size larger than the file",
        "normal_id_00_00000005.wav",
        "error",
        "read",
        "corrupt header: data chunk size 10000000 bytes is larger than the whole file "
        "(67244 bytes; the RIFF size fits the file)",
    ),
    Kind("NaN", "normal_id_00_00000006.wav", "error", "read", "NaN samples (3 of 33600)"),
    Kind("+Inf", "normal_id_00_00000007.wav", "error", "read", "+Inf samples (2 of 33600)"),
    Kind("-Inf", "normal_id_00_00000008.wav", "error", "read", "-Inf samples (1 of 33600)"),
    Kind("all zeros", "normal_id_00_00000009.wav", "reported", "read", "silent: every sample is 0"),
    Kind(
        "constant DC",
        "normal_id_00_00000010.wav",
        "reported",
        "read",
        "constant DC: every sample is 0.25, no signal",
    ),
    Kind("clipped", "normal_id_00_00000011.wav", "reported", "read", "clipped: "),
    Kind("8-bit unsigned", "normal_id_00_00000012.wav", "accepted", "read", ""),
    Kind("24-bit", "normal_id_00_00000013.wav", "accepted", "read", ""),
    Kind("32-bit float", "normal_id_00_00000014.wav", "accepted", "read", ""),
    Kind("64-bit float", "normal_id_00_00000015.wav", "accepted", "read", ""),
    Kind("WAVE_FORMAT_EXTENSIBLE 8-channel", "normal_id_00_00000016.wav", "accepted", "read", ""),
    Kind(
        "wrong sample rate",
        "normal_id_00_00000017.wav",
        "error",
        "read",
        "sample rate 8000 Hz, expected 16000 Hz",
    ),
    Kind(
        "0.01 s clip",
        "normal_id_00_00000018.wav",
        "error",
        "read",
        "too short: 0.010 s (160 samples), at least 0.05 s needed",
    ),
    Kind(
        "text file named .wav",
        "normal_id_00_00000019.wav",
        "error",
        "read",
        "unreadable header: not a WAV file, the content is text",
    ),
    Kind(
        "MP3 named .wav",
        "normal_id_00_00000020.wav",
        "error",
        "read",
        "unreadable header: not a WAV file, the content is MP3",
    ),
    Kind(
        "directory named .wav",
        "normal_id_00_00000021.wav",
        "error",
        "read",
        "a directory, not an audio file",
    ),
    Kind(
        "name that does not parse",
        "normal-id-0-clip.wav",
        "error",
        "table",
        "name is not {normal,anomaly}_id_XX_NNNNNNNN",
    ),
    Kind(
        "non-UTF-8 bytes in a name",
        os.fsdecode(NON_UTF8),
        "error",
        "check",
        "file name is not valid UTF-8 (b'normal_id_00_\\xff\\xfe.wav'): rename it",
    ),
    Kind(
        "duplicate clip under two names",
        "normal_id_00_00000099.wav",
        "error",
        "check",
        "duplicate of ",  # + the good reference's path
    ),
]
BY_NAME = {k.name: k for k in KINDS}
assert len(KINDS) >= 21  # the issue asks for at least 20 bad kinds besides the reference


def _write(path: Path, kind: str) -> None:
    """Write one kind of file at ``path``."""
    if kind == "good reference":
        path.write_bytes(wav_bytes(pcm16(sine(440.0))))
    elif kind == "empty file":
        path.write_bytes(b"")
    elif kind == "header only":  # 44-byte header of a 2.1-s clip, no audio bytes
        path.write_bytes(wav_bytes(b"", declared=2 * N))
    elif kind == "header only, data size 0":
        path.write_bytes(wav_bytes(b""))
    elif kind == "truncated data chunk":  # cut off half-way through the audio
        path.write_bytes(wav_bytes(pcm16(sine(450.0)))[: 44 + N])
    elif kind == "data chunk size larger than the file":  # complete file, wrong size field
        raw = bytearray(wav_bytes(pcm16(sine(460.0))))
        raw[40:44] = struct.pack("<I", 10_000_000)  # the data chunk's size; RIFF size stays
        path.write_bytes(bytes(raw))
    elif kind in ("NaN", "+Inf", "-Inf"):
        x = sine(470.0).astype(np.float32)
        bad = {"NaN": (np.nan, 3), "+Inf": (np.inf, 2), "-Inf": (-np.inf, 1)}[kind]
        x[1000 : 1000 + bad[1]] = bad[0]
        sf.write(path, x, SR, subtype="FLOAT")
    elif kind == "all zeros":
        path.write_bytes(wav_bytes(pcm16(np.zeros(N))))
    elif kind == "constant DC":
        path.write_bytes(wav_bytes(pcm16(np.full(N, 0.25))))
    elif kind == "clipped":
        path.write_bytes(wav_bytes(pcm16(np.clip(3 * sine(480.0), -1, 1))))
    elif kind == "8-bit unsigned":
        path.write_bytes(wav_bytes(U8_CODES.tobytes(), bits=8))
    elif kind == "24-bit":
        path.write_bytes(wav_bytes(_int24(PCM24_CODES), bits=24))
    elif kind == "32-bit float":  # WAVE_FORMAT_IEEE_FLOAT
        path.write_bytes(wav_bytes(F32_X.astype("<f4").tobytes(), fmt_tag=3, bits=32))
    elif kind == "64-bit float":
        sf.write(path, F64_X, SR, subtype="DOUBLE")
    elif kind == "WAVE_FORMAT_EXTENSIBLE 8-channel":
        sf.write(path, EXT_X, SR, subtype="PCM_24", format="WAVEX")
    elif kind == "wrong sample rate":
        path.write_bytes(wav_bytes(pcm16(sine(490.0, sr=8000)), sr=8000))
    elif kind == "0.01 s clip":
        path.write_bytes(wav_bytes(pcm16(sine(500.0, n=160))))
    elif kind == "text file named .wav":
        path.write_text("this is not audio, it is a text file\n" * 20)
    elif kind == "MP3 named .wav":  # an ID3v2 tag, then MPEG-1 layer III frame headers
        frame = b"\xff\xfb\x90\x64" + bytes(413)
        path.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + frame * 30)
    elif kind == "directory named .wav":
        path.mkdir()
    elif kind == "name that does not parse":
        path.write_bytes(wav_bytes(pcm16(sine(510.0))))
    elif kind == "non-UTF-8 bytes in a name":
        Path(os.fsencode(path).decode("utf-8", "surrogateescape")).write_bytes(
            wav_bytes(pcm16(UTF8_X))
        )
    elif kind == "duplicate clip under two names":
        shutil.copyfile(path.parent / GOOD, path)
    else:  # pragma: no cover
        raise AssertionError(kind)


@pytest.fixture
def corpus(tmp_path) -> dict[str, Path]:
    """Every kind as ``corpus/fan/test/<file>`` (the DCASE 2020 layout): kind -> path."""
    folder = tmp_path / "corpus" / "fan" / "test"
    folder.mkdir(parents=True)
    out = {}
    for k in KINDS:  # the good reference first: the duplicate copies it
        path = folder / k.filename
        if k.name == "non-UTF-8 bytes in a name":
            try:
                _write(path, k.name)
            except OSError as err:  # e.g. a file system that insists on UTF-8 names
                pytest.skip(f"the file system refuses a non-UTF-8 name: {err}")
        else:
            _write(path, k.name)
        out[k.name] = path
    return out


def _assert_read_value(kind: str, path: Path) -> None:
    """The samples read from an accepted kind, against what was written."""
    y, rate = read_audio(path, expected_sr=SR, min_seconds=MIN_SECONDS)
    assert rate == SR and y.dtype == np.float32
    if kind == "good reference":
        np.testing.assert_allclose(y, sine(440.0), atol=2.0**-16)  # 16-bit: half a step
    elif kind == "8-bit unsigned":
        # code c in 0..255 means (c - 128) / 128: step 1/128, rounding error <= 1/256
        np.testing.assert_array_equal(y, (U8_CODES.astype(np.float32) - 128) / 128)
        assert np.abs(y - U8_X).max() <= 1 / 256 + 1e-9
    elif kind == "24-bit":
        # code c means c / 2**23 (exact in float32: 24 significant bits); error <= 2**-24
        np.testing.assert_array_equal(y.astype(np.float64) * 2**23, PCM24_CODES)
        assert np.abs(y - PCM24_X).max() <= 2.0**-24 + 1e-12
    elif kind == "32-bit float":
        np.testing.assert_array_equal(y, F32_X)  # bit for bit
    elif kind == "64-bit float":
        np.testing.assert_array_equal(y, F64_X.astype(np.float32))  # rounded to float32 only
    elif kind == "WAVE_FORMAT_EXTENSIBLE 8-channel":
        raw = path.read_bytes()
        assert struct.unpack("<HH", raw[20:24]) == (0xFFFE, 8)  # format tag, channels
        # the loader takes channel 0 (as for the 8-channel MIMII recordings), never mixes
        # silently; "mean" mixes all 8 on request. Written by libsndfile, which scales by
        # 2**23 - 1 rather than 2**23: within one 24-bit step (2**-23) a channel
        step = 2.0**-23
        np.testing.assert_allclose(y, EXT_X[:, 0], rtol=0, atol=step)
        mean, _ = read_audio(path, channel="mean")
        np.testing.assert_allclose(mean, EXT_X.mean(axis=1), rtol=0, atol=step + 1e-7)
        last, _ = read_audio(path, channel=7)
        np.testing.assert_allclose(last, EXT_X[:, 7], rtol=0, atol=step)
        with pytest.raises(AudioError, match="channel 8 requested, the file has 8"):
            read_audio(path, channel=8)
    else:  # pragma: no cover
        raise AssertionError(kind)


@pytest.mark.parametrize("kind", [k.name for k in KINDS])
def test_read_audio_per_kind(corpus, kind):
    """What the reader (and so every loader, training and scoring) does with each kind."""
    k, path = BY_NAME[kind], corpus[kind]
    if k.outcome == "error" and k.where == "read":
        with pytest.raises(AudioError) as info:
            read_audio(path, expected_sr=SR, min_seconds=MIN_SECONDS)
        assert info.value.path == path
        assert k.phrase in info.value.fault
        assert str(info.value) == f"{display_path(path)}: {info.value.fault}"
    elif k.outcome == "reported":
        y, _ = read_audio(path, expected_sr=SR)  # usable: read as written
        assert y.size == N and np.isfinite(y).all()
        if kind == "all zeros":
            assert not y.any()
        elif kind == "constant DC":
            assert (y == 0.25).all()  # 8192 / 32768, exact in 16 bits
        else:
            assert np.abs(y).max() >= 32767 / 32768
    elif kind == "non-UTF-8 bytes in a name":
        # readable (the bytes go to libsndfile as they are); check and the loaders refuse it
        y, _ = read_audio(path, expected_sr=SR)
        np.testing.assert_allclose(y, UTF8_X, atol=2.0**-16)
    elif kind == "name that does not parse":
        y, _ = read_audio(path, expected_sr=SR)
        np.testing.assert_allclose(y, sine(510.0), atol=2.0**-16)
    elif kind == "duplicate clip under two names":
        np.testing.assert_array_equal(read_audio(path)[0], read_audio(corpus[GOOD_KIND])[0])
    else:
        assert k.outcome == "accepted"
        _assert_read_value(kind, path)


def test_check_files_names_every_bad_file_and_warns_on_the_odd_ones(corpus):
    paths = sorted(list_audio_files(corpus[GOOD_KIND].parent.parent.parent))
    paths = sorted(paths + list_audio_dirs(corpus[GOOD_KIND].parent.parent.parent))
    assert len(paths) == len(KINDS)  # nothing passed over, the directory included
    report = check_files(paths)  # no expected rate: the odd rate stands out against the others
    problems = dict(report.problems)
    warnings = dict(report.warnings)
    assert len(problems) == report.n_bad  # one fault a file
    for k in KINDS:
        path = corpus[k.name]
        if k.outcome == "error" and k.where in ("read", "check"):
            phrase = k.phrase
            if k.name == "wrong sample rate":
                phrase = "sample rate 8000 Hz, unlike the other files (10 at 16000 Hz)"
            assert phrase in problems.pop(path), k.name
        elif k.outcome == "reported":
            assert k.phrase in warnings.pop(path), k.name
    assert not problems and not warnings  # accepted kinds: no line at all
    dup = dict(report.problems)[corpus["duplicate clip under two names"]]
    assert dup == f"duplicate of {corpus[GOOD_KIND]} (the same audio)"
    # clip(1.5 sin) in 16 bits: full scale is code -32768 or 32767 (|x| >= 1 - 2**-15), which
    # holds where |sin| >= 2/3 roughly: 1 - (2 / pi) asin(2/3) = 53.5 % of the samples
    codes = np.clip(np.round(np.clip(3 * sine(480.0), -1, 1) * 32768), -32768, 32767)
    n_full = int((np.abs(codes) >= 32767).sum())
    assert abs(n_full / N - 0.535) < 0.01
    assert dict(report.warnings)[corpus["clipped"]] == (
        f"clipped: {n_full} of {N} samples ({100 * n_full / N:.1f}%) at full scale"
    )
    assert report.rates == ((8000, 1), (16000, 10))


def test_clip_table_names_unparsable_non_utf8_and_directory_entries(corpus):
    root = corpus[GOOD_KIND].parent.parent.parent
    loaded = load_dcase2020(root)
    reasons = dict(loaded.unparsed)
    for kind, why in [
        ("name that does not parse", BY_NAME["name that does not parse"].phrase),
        ("non-UTF-8 bytes in a name", BY_NAME["non-UTF-8 bytes in a name"].phrase),
        ("directory named .wav", "a directory named like an audio file"),
    ]:
        assert reasons.pop(corpus[kind]) == why
    assert not reasons
    # every other file is in the table: its content is judged when it is read, by name
    assert len(loaded.clips) == len(KINDS) - 3


def test_audioanom_check_end_to_end(corpus, capsys):
    root = corpus[GOOD_KIND].parent.parent.parent
    assert main(["check", str(root), "-q"]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    n_bad = sum(k.outcome == "error" and k.where != "table" for k in KINDS)
    assert f"{len(KINDS)} audio files, {n_bad} bad;" in lines[0]
    assert "; 3 with warnings" in lines[0]
    for k in KINDS:
        shown = display_path(corpus[k.name])
        mine = [line.strip() for line in lines if f" {shown}: " in line]
        if k.outcome == "accepted":
            assert mine == [], k.name
            continue
        tag = {"error": "BAD", "reported": "WARN"}[k.outcome]
        phrase = k.phrase
        if k.name == "duplicate clip under two names":
            phrase = f"duplicate of {corpus[GOOD_KIND]}"
        if k.where == "table":
            tag = "UNPARSED"
        assert any(line.startswith(f"{tag} {shown}: ") and phrase in line for line in mine), (
            k.name,
            mine,
        )
    # the non-UTF-8 name is printed with its bytes escaped, never as lone surrogates
    assert "normal_id_00_\\xff\\xfe.wav" in out
    out.encode("utf-8")  # printable


def test_warnings_alone_do_not_fail_check(tmp_path, capsys):
    folder = tmp_path / "d" / "fan" / "test"
    folder.mkdir(parents=True)
    _write(folder / GOOD, "good reference")
    for i, kind in enumerate(("all zeros", "constant DC", "clipped")):
        _write(folder / f"normal_id_00_0000001{i}.wav", kind)
    assert main(["check", str(tmp_path / "d"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "4 audio files, 0 bad;" in out and "; 3 with warnings" in out
    assert f"WARN {folder / 'normal_id_00_00000010.wav'}: silent: every sample is 0" in out
    assert "BAD" not in out


def test_check_warns_about_clips_too_short_for_the_networks(tmp_path, capsys):
    folder = tmp_path / "d" / "fan" / "test"
    folder.mkdir(parents=True)
    sf.write(folder / GOOD, sine(440.0, n=SR), SR)  # 1 s: readable, but under one window
    assert main(["check", str(tmp_path / "d"), "-q"]) == 0
    out = capsys.readouterr().out
    assert (
        f"WARN {folder / GOOD}: short: 1.000 s; the networks need one 64-frame window (2.016 s)"
        in out
    )


# ------------------------------------------------------------------------------------------
# the clip loading of training and scoring (STFT) and of the autoencoder (log-mel vectors)


@pytest.mark.parametrize(
    "kind", ["NaN", "+Inf", "truncated data chunk", "header only", "wrong sample rate"]
)
def test_machine_clip_loading_names_the_bad_clip(corpus, kind, tmp_path):
    """Training (``stft_table``) and scoring (``stft_table``, ``vectors_table``) raise naming the
    clip: a bad clip never turns into a score of 0."""
    from audioanom.machines.features import stft_table, vectors_table

    good, bad = corpus[GOOD_KIND], corpus[kind]
    for load in (stft_table, vectors_table):
        with pytest.raises(AudioError) as info:
            load([good, bad], cache_root=tmp_path / "cache")
        assert info.value.path == bad and BY_NAME[kind].phrase in str(info.value)
        assert str(info.value).startswith(f"{bad}: ")
    assert len(stft_table([good], cache=False)) == 1


def test_machine_clip_loading_refuses_a_0_01_s_clip(corpus):
    """A 0.01-s clip is readable audio but has no STFT frame: refused, never scored."""
    from audioanom.machines.features import stft_table

    with pytest.raises(ValueError, match="signal of 160 samples is too short"):
        stft_table([corpus["0.01 s clip"]], cache=False)


def test_machine_clip_loading_names_a_too_short_clip(corpus):
    from audioanom.machines.features import stft_table

    path = corpus["0.01 s clip"]
    with pytest.raises(ValueError, match=re.escape(str(path))):
        stft_table([path], cache=False)


def test_a_clip_shorter_than_one_window_is_named_before_training_or_scoring():
    """313 frames pass, 40 frames do not: the error names the short clip and counts them."""
    from audioanom.audio import AudioError
    from audioanom.machines.features import require_windows

    specs = [np.zeros((2, 5, 313)), np.zeros((2, 5, 40)), np.zeros((2, 5, 63))]
    require_windows(specs[:1], ["a.wav"], 64)
    fault = r"b\.wav: too short for the network: 40 STFT frames.*2 such"
    with pytest.raises(AudioError, match=fault):
        require_windows(specs, ["a.wav", "b.wav", "c.wav"], 64)
