"""Downloading the data sets: resumable, verified, atomic.

Three layers, each usable on its own:

* :func:`download` fetches one URL into one file. It streams into ``<dest>.part``, resumes an
  existing ``.part`` with an HTTP ``Range`` request, retries with exponential backoff on
  connection errors, timeouts, HTTP 408/429/5xx and transfers cut short, checks size and
  checksum, and only then renames ``.part`` to ``dest`` (``os.replace``: atomic). So ``dest``
  exists only when it is complete.
* :func:`extract` unpacks a ``.zip`` or ``.tar.gz`` safely (no member may land outside the
  target folder, no links or device files) into a temporary sibling folder, moves the result
  into place and writes a ``.complete-<archive name>`` marker last, so an interrupted
  extraction never looks complete.
* :func:`fetch_dataset` reads the committed registry (``data/registry.json``, see
  :func:`audioanom.paths.registry_file`) and lays a data set out exactly as the loaders in
  :mod:`audioanom.datasets` read it:

  ==============  ===============================================  ======================
  name            layout under ``dest``                             default ``dest``
  ==============  ===============================================  ======================
  ``audiomnist``  ``data/NN/{digit}_{NN}_{take}.wav``,              ``<data>/audiomnist``
                  ``audioMNIST_meta.txt``
  ``fsdd``        ``recordings/{digit}_{speaker}_{take}.wav``,      ``<data>/fsdd``
                  ``metadata.py``
  ``mimii``       ``<type>/{train,test}/*.wav`` (DCASE 2020 Task 2  ``<data>/dcase2020``
                  development set)
  ==============  ===============================================  ======================

  GitHub data sets come either as one repository archive (``digit=None``) or, for one digit,
  file by file from ``raw.githubusercontent.com`` in a small thread pool. GitHub publishes no
  checksums, so archives are checked by counting the extracted files and single files by
  reading each one with :func:`audioanom.audio.read_audio`.

``base_url`` (or the environment variable ``AUDIOANOM_FETCH_BASE_URL``) replaces the scheme and
host of every registry URL, which points all downloads at a mirror or a test server.

Nothing here touches the network on import.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import stat
import tarfile
import time
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from tqdm.auto import tqdm

from . import paths
from .audio import AudioError, read_audio

BASE_URL_ENV = "AUDIOANOM_FETCH_BASE_URL"
USER_AGENT = "audioanom-fetch/0.1"
CHUNK_BYTES = 1 << 16
_HASHES = ("md5", "sha1", "sha256", "sha512")
_RETRY_STATUS = frozenset({408, 425, 429})
_STREAM_ERRORS = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
)
_REASONS = (
    (
        ("failed to resolve", "name or service not known", "nodename nor servname",
         "getaddrinfo failed", "temporary failure in name resolution"),
        "DNS lookup failed",
    ),
    (("connection refused",), "connection refused"),
    (("network is unreachable", "no route to host"), "network unreachable"),
    (("timed out", "timeout"), "timed out"),
    (("connection reset", "connection aborted"), "connection reset"),
    (("incompleteread", "connection broken"), "connection broken"),
)  # fmt: skip


class FetchError(RuntimeError):
    """A download or extraction that cannot be completed; the message says what and where."""


class _Transient(Exception):
    """A failure worth retrying (connection, timeout, 5xx, short transfer)."""

    def __init__(self, message: str, *, offline: bool = False, progressed: bool = False):
        super().__init__(message)
        self.offline = offline
        self.progressed = progressed


# --------------------------------------------------------------------------- checksums


@dataclass(frozen=True)
class Checksum:
    """An expected digest: ``algorithm`` (md5, sha1, sha256, sha512) and lowercase hex."""

    algorithm: str
    digest: str

    @classmethod
    def parse(cls, text: str) -> Checksum:
        """Parse ``"md5:<hex>"`` / ``"sha256:<hex>"``; ValueError for anything else."""
        algorithm, sep, digest = str(text).partition(":")
        algorithm, digest = algorithm.strip().lower(), digest.strip().lower()
        if not sep or algorithm not in _HASHES:
            raise ValueError(f"checksum {text!r} must look like 'md5:<hex>' or 'sha256:<hex>'")
        size = hashlib.new(algorithm).digest_size * 2
        if len(digest) != size or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"checksum {text!r}: {algorithm} needs {size} hex digits")
        return cls(algorithm, digest)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.digest}"


def file_checksum(path: str | Path, algorithm: str = "sha256") -> str:
    """``"<algorithm>:<hex>"`` of a file, read in 1 MiB blocks."""
    h = hashlib.new(algorithm)
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return f"{algorithm}:{h.hexdigest()}"


def _matches(path: Path, size: int | None, checksum: Checksum | None) -> bool:
    if size is not None and path.stat().st_size != size:
        return False
    return checksum is None or file_checksum(path, checksum.algorithm) == str(checksum)


# --------------------------------------------------------------------------- download


def download(
    url: str,
    dest: str | Path,
    *,
    size: int | None = None,
    checksum: str | None = None,
    retries: int = 4,
    backoff: float = 1.0,
    timeout: float = 30,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest``, resumably, and verify it; returns ``dest``.

    Args:
        url: http(s) URL.
        dest: the final file. Bytes go to ``<dest>.part`` first; an existing ``.part`` is
            resumed with ``Range: bytes=N-`` (a server that ignores the range and answers 200
            restarts it from zero).
        size: expected size in bytes, or None. Checked against the server's Content-Length
            before the transfer and against the file after it.
        checksum: ``"md5:<hex>"`` or ``"sha256:<hex>"`` (also sha1, sha512), or None.
        retries: extra attempts after connection errors, timeouts, HTTP 408/425/429/5xx and
            transfers cut short. The count starts afresh whenever an attempt added bytes, so a
            slow but advancing download of a large file is not given up.
        backoff: seconds before the first retry, doubled for each further one.
        timeout: seconds to connect and between two received blocks.
        progress: show a tqdm bar.

    An existing complete ``dest`` (right size and checksum where given) is returned without
    any request.

    Raises:
        FetchError: HTTP 4xx (at once, no retry), an unreachable host after all retries
            ("cannot reach <host>: no network connection? ..."), a size or checksum mismatch
            (the ``.part`` file is deleted), or a server that keeps failing.
        ValueError: a malformed checksum, size, retries, backoff or timeout.
    """
    dest = Path(dest)
    expected = Checksum.parse(checksum) if checksum is not None else None
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise ValueError(f"size must be a non-negative int or None, got {size!r}")
    if not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an int >= 0, got {retries!r}")
    if backoff < 0 or timeout <= 0:
        raise ValueError(f"backoff must be >= 0 and timeout > 0, got {backoff!r}, {timeout!r}")
    if dest.is_file() and _matches(dest, size, expected):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")

    failures = 0
    while True:
        try:
            _transfer(url, part, size=size, timeout=timeout, progress=progress)
            break
        except _Transient as exc:
            failures = 1 if exc.progressed else failures + 1
            if failures > retries:
                raise FetchError(_give_up_message(url, exc, retries)) from exc
            time.sleep(backoff * 2 ** (failures - 1))

    _verify_part(url, part, dest, size, expected)
    os.replace(part, dest)
    return dest


def _give_up_message(url: str, exc: _Transient, retries: int) -> str:
    attempts = f"{retries + 1} attempt{'s' if retries else ''}"
    if exc.offline:
        host = urlsplit(url).hostname or url
        return (
            f"cannot reach {host}: no network connection? ({exc}; {attempts} for {url}). "
            "Check the connection or proxy and run again; a partial download is kept and resumed."
        )
    return f"download of {url} failed after {attempts}: {exc}"


def _verify_part(
    url: str, part: Path, dest: Path, size: int | None, expected: Checksum | None
) -> None:
    got_size = part.stat().st_size
    if size is not None and got_size != size:
        part.unlink()
        raise FetchError(
            f"size mismatch for {url}: {dest} would have {got_size} bytes, expected {size}; "
            "the partial file was deleted, run again to retry"
        )
    if expected is not None:
        got = file_checksum(part, expected.algorithm)
        if got != str(expected):
            part.unlink()
            raise FetchError(
                f"checksum mismatch for {url}: {dest} has {got}, expected {expected}; "
                "the download was deleted, run again to retry"
            )


def _content_range_start(value: str | None) -> tuple[int | None, int | None]:
    """``(start, total)`` from ``Content-Range: bytes start-end/total`` (None where absent)."""
    if not value or not value.strip().lower().startswith("bytes"):
        return None, None
    spec = value.strip()[5:].strip()
    span, _, total = spec.partition("/")
    start = span.split("-")[0].strip()
    return (
        int(start) if start.isdigit() else None,
        int(total) if total.strip().isdigit() else None,
    )


def _transfer(url: str, part: Path, *, size: int | None, timeout: float, progress: bool) -> None:
    """One HTTP request that appends to ``part``; raises _Transient for retryable failures."""
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:  # a stale .part from another file: start over
        part.unlink()
        have = 0
    if size is not None and have == size and size > 0:
        return  # already complete; the caller verifies it
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = requests.get(url, headers=headers, stream=True, timeout=timeout)
    except requests.exceptions.ConnectionError as exc:
        raise _Transient(_short_reason(exc), offline=True) from exc
    except requests.exceptions.Timeout as exc:
        raise _Transient(f"no answer within {timeout} s") from exc
    except requests.exceptions.RequestException as exc:
        raise FetchError(f"cannot request {url}: {exc}") from exc
    with resp:
        status = resp.status_code
        if status == 416 and have:
            _, total = _content_range_start(resp.headers.get("Content-Range"))
            if total == have:
                return  # the .part already holds everything
            part.unlink()
            raise _Transient(f"HTTP 416 for range {have}-: restarting from zero")
        if status in _RETRY_STATUS or status >= 500:
            raise _Transient(f"HTTP {status} {resp.reason or ''}".strip())
        if status >= 400:
            raise FetchError(f"HTTP {status} {resp.reason or ''} for {url}".replace("  ", " "))
        if status not in (200, 206):
            raise FetchError(f"unexpected HTTP {status} {resp.reason or ''} for {url}")

        length = resp.headers.get("Content-Length")
        length = int(length) if length and length.strip().isdigit() else None
        if status == 206:
            start, _ = _content_range_start(resp.headers.get("Content-Range"))
            if start != have:
                part.unlink(missing_ok=True)
                raise _Transient(f"server resumed at byte {start}, asked for {have}: restarting")
            mode = "ab"
        else:  # 200: the whole file (a server that ignores Range included)
            have, mode = 0, "wb"
        total = have + length if length is not None else None
        if size is not None and total is not None and total != size:
            part.unlink(missing_ok=True)
            raise FetchError(
                f"size mismatch for {url}: the server announces {total} bytes, expected {size}"
            )
        written = 0
        with (
            tqdm(
                total=total,
                initial=have,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=part.name[: -len(".part")],
                disable=not progress,
                leave=False,
            ) as bar,
            part.open(mode) as fh,
        ):
            try:
                for chunk in resp.iter_content(CHUNK_BYTES):
                    fh.write(chunk)  # a disk error (OSError) propagates as it is
                    written += len(chunk)
                    bar.update(len(chunk))
            except _STREAM_ERRORS as exc:
                raise _Transient(
                    f"transfer broke after {have + written} bytes ({_short_reason(exc)})",
                    progressed=written > 0,
                ) from exc
        if length is not None and written < length:
            raise _Transient(
                f"transfer cut short: {have + written} of {total} bytes", progressed=written > 0
            )


def _short_reason(exc: BaseException) -> str:
    """A readable reason for a requests/urllib3 error: DNS failure, refused, timeout..."""
    text = str(exc)
    lowered = text.lower()
    for markers, reason in _REASONS:
        if any(m in lowered for m in markers):
            return reason
    return text if len(text) < 200 else text[:200] + "..."


# --------------------------------------------------------------------------- extract


def _archive_kind(archive: Path) -> str:
    name = archive.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        return "tar"
    raise ValueError(f"{archive}: not a .zip, .tar.gz or .tgz archive")


def _safe_relative(name: str, archive: Path, strip_components: int) -> PurePosixPath | None:
    """The member's path below the target after stripping; None to skip; FetchError if unsafe."""
    raw = name.replace("\\", "/")
    posix = PurePosixPath(raw)
    if raw.startswith("/") or (posix.parts and ":" in posix.parts[0]):
        raise FetchError(f"{archive}: unsafe member {name!r} (absolute path)")
    parts = [p for p in posix.parts if p not in ("", ".")]
    if ".." in parts:
        raise FetchError(f"{archive}: unsafe member {name!r} (escapes the target folder)")
    parts = parts[strip_components:]
    return PurePosixPath(*parts) if parts else None


def _selected(rel: PurePosixPath, include: Sequence[str] | None) -> bool:
    if include is None:
        return True
    text = rel.as_posix()
    for item in include:
        if item.endswith("/"):
            if text.startswith(item) or text + "/" == item:
                return True
        elif text == item:
            return True
    return False


def _iter_members(archive: Path, kind: str):
    """``(name, is_dir, is_regular_file, opener)`` per member of a zip or tar archive."""
    if kind == "zip":
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                mode = info.external_attr >> 16
                is_link = stat.S_ISLNK(mode)
                yield (
                    info.filename,
                    info.is_dir(),
                    not info.is_dir() and not is_link,
                    (lambda info=info: zf.open(info)),
                )
    else:
        with tarfile.open(archive, "r:*") as tf:
            for member in tf:
                yield (
                    member.name,
                    member.isdir(),
                    member.isfile(),
                    (lambda member=member: tf.extractfile(member)),
                )


def extract(
    archive: str | Path,
    dest_dir: str | Path,
    *,
    strip_components: int = 0,
    include: Sequence[str] | None = None,
    rename: Mapping[str, str] | None = None,
) -> Path:
    """Unpack ``archive`` (.zip, .tar.gz, .tgz) into ``dest_dir`` safely; returns ``dest_dir``.

    Args:
        archive: the archive file.
        dest_dir: the target folder (created if needed).
        strip_components: leading path parts dropped from every member (1 for GitHub archives,
            whose members all sit below ``<repo>-<commit>/``).
        include: keep only members whose stripped path equals an entry or, for entries ending
            in ``/``, lies below it; None keeps everything.
        rename: stripped member path -> path below ``dest_dir`` (e.g. move a metadata file to
            the top).

    Members are written into a temporary sibling folder of ``dest_dir``; each top-level entry
    is then moved into ``dest_dir`` (replacing an existing entry of the same name, which can
    only be a leftover of an unmarked, i.e. incomplete, earlier run), and the marker
    ``dest_dir/.complete-<archive name>`` is written last. If the marker is already there the
    archive is not unpacked again.

    Raises:
        FetchError: a member that would land outside ``dest_dir`` (absolute path, ``..``), a
            link or special file, a corrupt archive, or no member selected.
        ValueError: an unsupported archive type or strip_components < 0.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    kind = _archive_kind(archive)
    if strip_components < 0:
        raise ValueError(f"strip_components must be >= 0, got {strip_components}")
    if not archive.is_file():
        raise FileNotFoundError(f"{archive}: no such archive")
    rename = dict(rename or {})
    marker = dest_dir / f".complete-{archive.name}"
    if marker.is_file():
        return dest_dir
    dest_dir.mkdir(parents=True, exist_ok=True)
    staging = dest_dir.parent / f".{dest_dir.name}.extract-{archive.name}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    root = staging.resolve()
    n_files = 0
    try:
        for name, is_dir, is_file, opener in _iter_members(archive, kind):
            rel = _safe_relative(name, archive, strip_components)
            if rel is None or not _selected(rel, include):
                continue
            if not is_dir and not is_file:
                raise FetchError(f"{archive}: unsafe member {name!r} (link or special file)")
            rel = PurePosixPath(rename.get(rel.as_posix(), rel.as_posix()))
            target = (staging / rel).resolve()
            if target != root and root not in target.parents:
                raise FetchError(f"{archive}: unsafe member {name!r} (escapes the target folder)")
            if is_dir:
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with opener() as src, target.open("wb") as out:
                shutil.copyfileobj(src, out, CHUNK_BYTES * 16)
            n_files += 1
        if n_files == 0:
            raise FetchError(
                f"{archive}: no files extracted (strip_components={strip_components}, "
                f"include={list(include) if include is not None else None})"
            )
        for entry in sorted(staging.iterdir()):
            target = dest_dir / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
            os.replace(entry, target)
        marker.write_text(
            json.dumps({"archive": archive.name, "files": n_files}, indent=1) + "\n",
            encoding="utf-8",
        )
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise FetchError(f"{archive}: cannot extract ({exc}); delete it and fetch again") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest_dir


# --------------------------------------------------------------------------- registry


def load_registry(path: str | Path | None = None) -> dict[str, Any]:
    """The registry document (``data/registry.json`` by default), checked for its shape."""
    path = Path(path) if path is not None else paths.registry_file()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"dataset registry {path} not found") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"dataset registry {path} is not valid JSON: {exc}") from exc
    return _check_registry(doc, str(path))


def _check_registry(doc: Any, where: str) -> dict[str, Any]:
    if not isinstance(doc, dict) or not isinstance(doc.get("datasets"), dict):
        raise ValueError(f"registry {where}: expected an object with a 'datasets' object")
    for name, entry in doc["datasets"].items():
        if not isinstance(entry, dict):
            raise ValueError(f"registry {where}: dataset {name!r} is not an object")
        if "machine_types" in entry:
            types = entry["machine_types"]
            if not isinstance(types, dict) or not types:
                raise ValueError(f"registry {where}: {name}.machine_types must not be empty")
            for mt, item in types.items():
                if not isinstance(item, dict) or "url" not in item or "filename" not in item:
                    raise ValueError(f"registry {where}: {name}.{mt} needs url and filename")
        elif "archive" not in entry and "files" not in entry:
            raise ValueError(
                f"registry {where}: dataset {name!r} needs 'archive', 'files' or 'machine_types'"
            )
    return doc


def _resolve_name(datasets: Mapping[str, Any], name: str) -> str:
    if name in datasets:
        return name
    for key, entry in datasets.items():
        if name in entry.get("aliases", ()):
            return key
    known = sorted(set(datasets) | {a for e in datasets.values() for a in e.get("aliases", ())})
    raise ValueError(f"unknown data set {name!r}; known: {', '.join(known)}")


def rebase_url(url: str, base_url: str | None) -> str:
    """``url`` with its scheme and host replaced by ``base_url`` (kept as is when None)."""
    if not base_url:
        return url
    base = urlsplit(base_url)
    if base.scheme not in ("http", "https") or not base.netloc:
        raise ValueError(f"base_url {base_url!r} must look like http(s)://host[:port][/prefix]")
    parts = urlsplit(url)
    new = base_url.rstrip("/") + (parts.path or "/")
    return new + (f"?{parts.query}" if parts.query else "")


# --------------------------------------------------------------------------- fetch_dataset


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
    retries: int = 4,
    backoff: float = 1.0,
    timeout: float = 30,
    keep_archives: bool = False,
) -> Path:
    """Download and unpack data set ``name`` into ``dest``; returns ``dest``.

    Args:
        name: ``audiomnist``, ``fsdd`` or ``mimii`` (alias ``dcase2020``): the DCASE 2020
            Task 2 development set, MIMII + ToyADMOS).
        dest: target folder; default ``audioanom.paths.data_dir() / <folder>``, where folder
            is the registry's ``folder`` (``audiomnist``, ``fsdd``, ``dcase2020``): the folders
            :func:`audioanom.datasets.find_dataset_root` looks in.
        machine_types: mimii only: which ``dev_data_<type>.zip`` to fetch (default fan, pump,
            slider, valve; ToyCar and ToyConveyor on request). A single string is one type.
        digit: audiomnist/fsdd only: fetch only this digit (0-9), file by file, plus the
            metadata; None fetches the whole repository archive (about 1 GB for AudioMNIST).
        base_url: replaces scheme and host of every URL (a mirror, or a test server); default
            the environment variable ``AUDIOANOM_FETCH_BASE_URL``, else the registry's URLs.
        progress: tqdm bars.
        workers: threads for file-by-file downloads.
        registry: a registry document to use instead of ``data/registry.json`` (tests).
        retries, backoff, timeout: passed to :func:`download`.
        keep_archives: keep downloaded archives in ``dest/.downloads`` after unpacking.

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
        raise ValueError(f"machine_types applies to mimii, not to {key!r}")
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


def _fetch_machine_type(
    entry: Mapping[str, Any], mt: str, dest: Path, opts: _Options, keep: bool
) -> None:
    item = entry["machine_types"][mt]
    archive_name = item["filename"]
    if (dest / f".complete-{archive_name}").is_file():
        return
    archive = download(
        rebase_url(item["url"], opts.base_url),
        _downloads_dir(dest) / archive_name,
        size=item.get("size"),
        checksum=item.get("checksum"),
        retries=opts.retries,
        backoff=opts.backoff,
        timeout=opts.timeout,
        progress=opts.progress,
    )
    extract(
        archive,
        dest,
        strip_components=int(item.get("strip_components", 0)),
        include=item.get("include", [f"{mt}/"]),
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


def digit_file_list(entry: Mapping[str, Any], digit: int) -> list[tuple[str, str]]:
    """``(remote path, local path)`` of every file of one digit, metadata first."""
    spec = entry["files"]
    out = list(dict(spec.get("extra", {})).items())
    for speaker in spec["speakers"]:
        for take in range(int(spec["takes"])):
            rel = spec["pattern"].format(digit=digit, speaker=speaker, take=take)
            out.append((rel, rel))
    return out


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
