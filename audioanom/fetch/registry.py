"""The registry of data sets (``data/registry.json``): where each one comes from.

Loading and shape checks (:func:`load_registry`), name and alias lookup, the file list of
one spoken digit (:func:`digit_file_list`) and pointing registry URLs at a mirror or a test
server (:func:`rebase_url`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .. import paths


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


def digit_file_list(entry: Mapping[str, Any], digit: int) -> list[tuple[str, str]]:
    """``(remote path, local path)`` of every file of one digit, metadata first."""
    spec = entry["files"]
    out = list(dict(spec.get("extra", {})).items())
    for speaker in spec["speakers"]:
        for take in range(int(spec["takes"])):
            rel = spec["pattern"].format(digit=digit, speaker=speaker, take=take)
            out.append((rel, rel))
    return out
