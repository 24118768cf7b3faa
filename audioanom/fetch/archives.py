"""Safe, restartable unpacking of ``.zip`` and ``.tar.gz`` archives (:func:`extract`).

No member may land outside the target folder, and links or device files are refused.
Members go into a temporary sibling folder first; the result is moved into place and a
``.complete-<archive name>`` marker is written last, so an interrupted extraction never
looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from .errors import FetchError
from .transfer import CHUNK_BYTES


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
