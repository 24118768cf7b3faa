"""Fetching whole data sets: :func:`fetch_dataset` and the steps for each kind of source.

Reads the registry (:mod:`audioanom.fetch.registry`) and lays a data set out exactly as the
loaders in :mod:`audioanom.datasets` read it: one archive per machine type (dcase2020), one
repository archive (audiomnist, fsdd with ``digit=None``) or, for one digit, file by file from
``raw.githubusercontent.com`` in a small thread pool. GitHub publishes no checksums, so
archives are checked by counting the extracted files and single files by reading each one with
:func:`audioanom.audio.read_audio`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from .. import paths
from ..audio import AudioError, read_audio
from ..progress import tqdm
from .archives import extract
from .errors import FetchError
from .registry import _check_registry, _resolve_name, digit_file_list, load_registry, rebase_url
from .transfer import download

BASE_URL_ENV = "AUDIOANOM_FETCH_BASE_URL"


@dataclass(frozen=True)
class _Options:
    base_url: str | None
    progress: bool
    retries: int
    backoff: float
    timeout: float


def fetch_dataset(
    name: str,
    dest: str | Path | None = None,
    *,
    machine_types: Iterable[str] | str | None = None,
    digit: int | None = None,
    base_url: str | None = None,
    progress: bool = True,
    workers: int = 8,
    registry: Mapping[str, Any] | None = None,
    keep_archives: bool = False,
    retries: int = 4,
    backoff: float = 1.0,
    timeout: float = 30,
) -> Path:
    """Download and unpack data set ``name`` into ``dest``; returns ``dest``.

    Args:
        name: ``audiomnist``, ``fsdd`` or ``dcase2020`` (the DCASE 2020 Task 2 development
            set, MIMII + ToyADMOS; ``mimii`` is the original MIMII layout, not downloadable).
        dest: target folder; default ``audioanom.paths.data_dir() / <folder>``, where folder
            is the registry's ``folder`` (``audiomnist``, ``fsdd``, ``dcase2020``): the folders
            :func:`audioanom.datasets.find_dataset_root` looks in.
        machine_types: dcase2020 only: which ``dev_data_<type>.zip`` to fetch (default fan, pump,
            slider, valve; ToyCar and ToyConveyor on request). A single string is one type.
        digit: audiomnist/fsdd only: fetch only this digit (0-9), file by file, plus the
            metadata; None fetches the whole repository archive (about 1 GB for AudioMNIST).
        base_url: replaces scheme and host of every URL (a mirror, or a test server); default
            the environment variable ``AUDIOANOM_FETCH_BASE_URL``, else the registry's URLs.
        progress: tqdm bars.
        workers: threads for file-by-file downloads.
        registry: a registry document to use instead of ``data/registry.json`` (tests).
        keep_archives: keep downloaded archives in ``dest/.downloads`` after unpacking.
        retries, backoff, timeout: passed to :func:`download`.

    What is already complete is not fetched again: an archive whose extraction marker is in
    ``dest``, a single file that exists and reads.

    Raises:
        ValueError: unknown data set, machine type or digit (the message lists the valid
            ones), or an option that does not apply to the data set.
        FetchError: a failed download, a checksum mismatch, a file that does not read as
            audio (named), or a wrong file count.
    """
    doc = _check_registry(registry, "(given)") if registry is not None else load_registry()
    datasets = doc["datasets"]
    key = _resolve_name(datasets, name)
    entry = datasets[key]
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    if base_url is None:
        base_url = os.environ.get(BASE_URL_ENV, "").strip() or None
    opts = _Options(base_url, progress, retries, backoff, timeout)
    dest = Path(dest) if dest is not None else paths.data_dir() / entry.get("folder", key)

    if "machine_types" in entry:
        if digit is not None:
            raise ValueError(f"digit applies to spoken-digit data sets, not to {key!r}")
        types = _check_machine_types(key, entry, machine_types)
        for mt in types:
            _fetch_machine_type(entry, mt, dest, opts, keep_archives)
        return dest

    if machine_types is not None:
        raise ValueError(f"machine_types applies to dcase2020, not to {key!r}")
    if digit is None:
        if "archive" not in entry:
            raise ValueError(f"{key!r} has no whole archive in the registry; pass digit=0..9")
        _fetch_archive(entry, dest, opts, keep_archives)
    else:
        _check_digit(key, entry, digit)
        if "files" not in entry:
            raise ValueError(f"{key!r} has no per-file URLs in the registry; use digit=None")
        _fetch_digit_files(entry, digit, dest, opts, workers)
    return dest


def _check_machine_types(key: str, entry: Mapping[str, Any], machine_types) -> list[str]:
    valid = list(entry["machine_types"])
    if machine_types is None:
        types = list(entry.get("default_machine_types", valid))
    elif isinstance(machine_types, str):
        types = [machine_types]
    else:
        types = list(machine_types)
    if not types:
        raise ValueError(f"no machine types given for {key!r}; valid: {', '.join(valid)}")
    unknown = [t for t in types if t not in entry["machine_types"]]
    if unknown:
        raise ValueError(
            f"unknown machine type(s) {', '.join(map(repr, unknown))} for {key!r}; "
            f"valid: {', '.join(valid)}"
        )
    return list(dict.fromkeys(types))


def _check_digit(key: str, entry: Mapping[str, Any], digit: Any) -> None:
    valid = list(entry.get("digits", range(10)))
    if isinstance(digit, bool) or not isinstance(digit, int) or digit not in valid:
        raise ValueError(f"digit must be one of {valid} for {key!r}, got {digit!r}")


def _downloads_dir(dest: Path) -> Path:
    return dest / ".downloads"


def _download_and_extract(
    spec: Mapping[str, Any],
    url: str,
    archive_name: str,
    dest: Path,
    opts: _Options,
    *,
    include: Sequence[str] | None,
    rename: Mapping[str, str] | None = None,
) -> Path:
    """Download the archive ``spec`` describes to ``dest/.downloads/<archive_name>`` (size and
    checksum from ``spec``) and unpack it into ``dest``; returns the archive's path."""
    archive = download(
        rebase_url(url, opts.base_url),
        _downloads_dir(dest) / archive_name,
        size=spec.get("size"),
        checksum=spec.get("checksum"),
        retries=opts.retries,
        backoff=opts.backoff,
        timeout=opts.timeout,
        progress=opts.progress,
    )
    extract(
        archive,
        dest,
        strip_components=int(spec.get("strip_components", 0)),
        include=include,
        rename=rename,
    )
    return archive


def _fetch_machine_type(
    entry: Mapping[str, Any], mt: str, dest: Path, opts: _Options, keep: bool
) -> None:
    item = entry["machine_types"][mt]
    archive_name = item["filename"]
    if (dest / f".complete-{archive_name}").is_file():
        return
    archive = _download_and_extract(
        item, item["url"], archive_name, dest, opts, include=item.get("include", [f"{mt}/"])
    )
    for split in ("train", "test"):
        folder = dest / mt / split
        if not folder.is_dir() or not any(folder.glob("*.wav")):
            raise FetchError(f"{archive}: unpacked, but {folder} holds no .wav files")
    _drop_archive(archive, keep)


def _fetch_archive(entry: Mapping[str, Any], dest: Path, opts: _Options, keep: bool) -> None:
    spec = entry["archive"]
    url = spec["url"]
    archive_name = spec.get("filename") or PurePosixPath(urlsplit(url).path).name
    if not (dest / f".complete-{archive_name}").is_file():
        archive = _download_and_extract(
            spec,
            url,
            archive_name,
            dest,
            opts,
            include=spec.get("include"),
            rename=spec.get("rename"),
        )
        _drop_archive(archive, keep)
    expect = spec.get("expect")
    if expect:
        found = sum(1 for _ in dest.glob(expect["glob"]))
        if found != expect["count"]:
            (dest / f".complete-{archive_name}").unlink(missing_ok=True)
            raise FetchError(
                f"{dest}: {found} files match {expect['glob']!r} after unpacking "
                f"{archive_name}, expected {expect['count']}; delete {dest} and fetch again"
            )


def _drop_archive(archive: Path, keep: bool) -> None:
    if keep:
        return
    archive.unlink(missing_ok=True)
    try:
        archive.parent.rmdir()  # only if empty
    except OSError:
        pass


def _fetch_digit_files(
    entry: Mapping[str, Any], digit: int, dest: Path, opts: _Options, workers: int
) -> None:
    spec = entry["files"]
    base = spec["base_url"]
    rate = entry.get("sample_rate")
    files = digit_file_list(entry, digit)
    n_extra = len(spec.get("extra", {}))

    def one(remote: str, local: str, bar_progress: bool) -> None:
        target = dest / local
        is_audio = target.suffix.lower() in (".wav", ".flac")
        if target.is_file():
            if not is_audio:
                return
            try:
                read_audio(target, expected_sr=rate)
                return
            except AudioError:
                target.unlink()  # a bad leftover: fetch it again
        url = rebase_url(base.rstrip("/") + "/" + remote, opts.base_url)
        download(
            url,
            target,
            retries=opts.retries,
            backoff=opts.backoff,
            timeout=opts.timeout,
            progress=bar_progress,
        )
        if is_audio:
            try:
                read_audio(target, expected_sr=rate)
            except AudioError as exc:
                target.unlink(missing_ok=True)
                raise FetchError(
                    f"downloaded {url} to {target}, but it does not read as audio: {exc.fault}"
                ) from exc

    # Metadata first and alone: an offline machine fails once, not once per file.
    for remote, local in files[:n_extra]:
        one(remote, local, opts.progress)
    audio_files = files[n_extra:]
    with tqdm(
        total=len(audio_files), unit="file", desc=f"digit {digit}", disable=not opts.progress
    ) as bar:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(one, r, loc, False) for r, loc in audio_files]
            for fut in futures:
                fut.add_done_callback(lambda _f: bar.update(1))
            _, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for fut in pending:
                fut.cancel()  # stop at the first failure instead of retrying every file
        errors = [f.exception() for f in futures if not f.cancelled() and f.exception() is not None]
    if errors:
        first = errors[0]
        if isinstance(first, FetchError):
            raise first
        raise FetchError(f"digit {digit} download failed: {first}") from first
    missing = [loc for _, loc in audio_files if not (dest / loc).is_file()]
    if missing:
        raise FetchError(
            f"{dest}: {len(missing)} of {len(audio_files)} files of digit {digit} missing "
            f"after download, e.g. {missing[0]}"
        )
