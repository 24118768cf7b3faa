"""Tell which supported layout a folder holds."""

from __future__ import annotations

from pathlib import Path


def detect_layout(root: str | Path) -> str | None:
    """The layout of ``root``: audiomnist | fsdd | dcase2020 | mimii, or None if none fits."""
    root = Path(root)
    if (root / "recordings").is_dir():
        return "fsdd"
    data = root / "data"
    if data.is_dir() and any(p.is_dir() and p.name.isdigit() for p in data.iterdir()):
        return "audiomnist"
    subdirs = [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    if any((p / "train").is_dir() or (p / "test").is_dir() for p in subdirs):
        return "dcase2020"
    for p in subdirs:
        if any(q.is_dir() and q.name.startswith("id_") for q in p.iterdir()):
            return "mimii"
        if "_dB_" in p.name:
            return "mimii"
    return None
