"""Every location the project reads or writes, in one place.

Each folder has a default relative to the repository root and an environment variable that
overrides it, so that JupyterLab, papermill, pytest and the CLI agree whatever the current
working directory is:

=====================  ==========================  ===================================
function               environment variable        default
=====================  ==========================  ===================================
:func:`repo_root`      ``AUDIOANOM_ROOT``          the folder holding ``pyproject.toml``
:func:`data_dir`       ``AUDIOANOM_DATA``          ``<root>/data``
:func:`figures_dir`    ``AUDIOANOM_FIGURES``       ``<root>/figures``
:func:`cache_dir`      ``AUDIOANOM_CACHE``         ``<data>/cache``
:func:`build_dir`      ``AUDIOANOM_BUILD``         ``<root>/build``
:func:`executed_dir`   ``AUDIOANOM_EXECUTED``      ``<build>/executed``
:func:`shared_data`    ``AUDIOANOM_SHARED_DATA``   ``<root>/../shared/data``
=====================  ==========================  ===================================

``AUDIOANOM_REQUIRE_REAL_DATA=1`` (set by CI) makes every section that needs the real data
fail loudly when it is absent (:func:`real_data_required`), instead of skipping it.

Functions (not module constants) so a changed environment variable takes effect at once.
Nothing here creates folders except :func:`ensure`.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser().resolve() if value else None


def repo_root() -> Path:
    """The repository root: ``AUDIOANOM_ROOT`` or the parent of the installed package."""
    env = _env_path("AUDIOANOM_ROOT")
    if env is not None:
        return env
    root = _PACKAGE_DIR.parent
    if not (root / "pyproject.toml").is_file():
        # Installed without the repository (not editable): fall back to the working directory.
        return Path.cwd().resolve()
    return root


def data_dir() -> Path:
    """Downloads, generated data sets and caches (git-ignored)."""
    return _env_path("AUDIOANOM_DATA") or repo_root() / "data"


def figures_dir() -> Path:
    """Where :func:`audioanom.plotting.save_figure` writes."""
    return _env_path("AUDIOANOM_FIGURES") or repo_root() / "figures"


def cache_dir() -> Path:
    """Feature caches (safe to delete)."""
    return _env_path("AUDIOANOM_CACHE") or data_dir() / "cache"


def build_dir() -> Path:
    """Run outputs: executed notebooks, checkpoints, score tables (git-ignored)."""
    return _env_path("AUDIOANOM_BUILD") or repo_root() / "build"


def executed_dir() -> Path:
    """Executed copies of the notebooks written by the runner."""
    return _env_path("AUDIOANOM_EXECUTED") or build_dir() / "executed"


def notebooks_dir() -> Path:
    """The numbered notebooks."""
    return repo_root() / "notebooks"


def registry_file() -> Path:
    """The committed dataset registry (URLs, sizes, checksums)."""
    return repo_root() / "data" / "registry.json"


def shared_data() -> Path:
    """The read-only real data beside the checkout (``../shared/data``) or its override."""
    return _env_path("AUDIOANOM_SHARED_DATA") or (repo_root().parent / "shared" / "data").resolve()


def real_data_required() -> bool:
    """True when ``AUDIOANOM_REQUIRE_REAL_DATA`` is set (CI): sections and tests that need the
    real data then fail instead of being skipped."""
    return os.environ.get("AUDIOANOM_REQUIRE_REAL_DATA", "").strip() not in ("", "0")


def ensure(path: Path) -> Path:
    """Create ``path`` (a folder) if needed and return it."""
    path.mkdir(parents=True, exist_ok=True)
    return path
