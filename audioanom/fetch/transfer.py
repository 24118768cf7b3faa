"""One URL into one file: resumable over HTTP, retried, verified, renamed atomically.

:func:`download` streams into ``<dest>.part``, resumes an existing ``.part`` with an HTTP
``Range`` request, retries with exponential backoff on connection errors, timeouts, HTTP
408/425/429/5xx and transfers cut short, checks size and checksum, and only then renames
``.part`` to ``dest`` (``os.replace``). So ``dest`` exists only when it is complete.
"""

from __future__ import annotations

import http.client
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests
import urllib3

from ..progress import tqdm
from .checksum import Checksum, _matches, file_checksum
from .errors import FetchError

USER_AGENT = "audioanom-fetch/0.1"
CHUNK_BYTES = 1 << 16
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


class _Transient(Exception):
    """A failure worth retrying (connection, timeout, 5xx, short transfer)."""

    def __init__(self, message: str, *, offline: bool = False, progressed: bool = False):
        super().__init__(message)
        self.offline = offline
        self.progressed = progressed


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
