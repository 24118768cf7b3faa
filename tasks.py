#!/usr/bin/env python3
"""The project's two commands, needing nothing but python3 and pip.

    python3 tasks.py run    # create/reuse .venv, install, run every notebook (papermill)
    python3 tasks.py test   # create/reuse .venv, install, ruff + notebook-strip check + pytest
    python3 tasks.py lab    # create/reuse .venv, install, JupyterLab in notebooks/ (prints the URL)

Both create (or reuse) a virtual environment in ``.venv`` next to this file. PyTorch is
installed first, pinned to ``TORCH_SPEC`` (default ``torch==2.13.0``, the CPU wheel), so that the
project's open range ``torch>=2.4`` is already satisfied and pip downloads no CUDA packages.
A GPU user installs their own torch into ``.venv`` first (or sets ``TORCH_SPEC``, e.g.
``TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu124"``): an installed torch
that satisfies ``torch>=2.4`` is kept as it is.

Extra arguments after the command go to ``audioanom run``, to pytest or to ``jupyter lab``
respectively. The project is installed with its ``dev`` and ``lab`` extras, and the
environment's Python is registered as the kernel ``python3`` (the one the notebooks name), so
JupyterLab, papermill and the tests all run the notebooks on the same interpreter.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("AUDIOANOM_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
STAMP = VENV / ".audioanom-installed"


def sh(*args: str | Path, **kw) -> None:
    print("+", " ".join(shlex.quote(str(a)) for a in args), flush=True)
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT, **kw)


def has_torch() -> bool:
    probe = (
        "import sys, torch; "
        "sys.exit(0 if tuple(map(int, torch.__version__.split('.')[:2])) >= (2, 4) else 1)"
    )
    return subprocess.run([str(PY), "-c", probe], capture_output=True).returncode == 0


def ensure_env() -> None:
    """Create .venv if needed; install torch (pinned) and then the project with its dev extra."""
    if not PY.exists():
        print(f"creating virtual environment {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    # Re-install when pyproject.toml changed since the last install.
    want = (ROOT / "pyproject.toml").stat().st_mtime_ns
    if STAMP.exists() and STAMP.read_text().strip() == str(want) and has_torch():
        return
    pip = [PY, "-m", "pip", "install", "--disable-pip-version-check", "-qq"]
    if not has_torch():
        sh(*pip, *shlex.split(os.environ.get("TORCH_SPEC", "torch==2.13.0")))
    sh(*pip, "-e", ".[dev,lab]")
    sh(PY, "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3")
    STAMP.write_text(str(want))


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test", "lab", "setup"}:
        print(__doc__)
        return 2
    cmd, rest = argv[0], argv[1:]
    t0 = time.perf_counter()
    ensure_env()
    print(f"environment ready in {time.perf_counter() - t0:.0f} s", flush=True)
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    try:
        if cmd == "run":
            # `audioanom run` prints the durations and ends with the report's path
            sh(BIN / "audioanom", "run", *rest, env=env)
            return 0
        elif cmd == "test":
            sh(PY, "-m", "ruff", "check", ".", env=env)
            sh(PY, "-m", "ruff", "format", "--check", ".", env=env)
            sh(PY, "-m", "pytest", *rest, env=env)
        elif cmd == "lab":
            env.pop("MPLBACKEND")  # inline figures in JupyterLab
            print("JupyterLab on the project kernel; its URL (with the token) follows", flush=True)
            root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
            lab = [PY, "-m", "jupyter", "lab", "--notebook-dir", ROOT / "notebooks", *root]
            sh(*lab, *rest, env=env)  # as root (containers, CI) JupyterLab needs --allow-root
    except subprocess.CalledProcessError as err:
        return err.returncode or 1
    print(f"{cmd}: done in {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
