"""Expected digests (:class:`Checksum`) and file digests (:func:`file_checksum`).

Used by :func:`audioanom.fetch.transfer.download` to decide whether a file is already
complete and to verify a finished transfer."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

_HASHES = ("md5", "sha1", "sha256", "sha512")


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
