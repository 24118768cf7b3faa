"""`python3 tasks.py lab`: JupyterLab starts in notebooks/ with the project's kernel."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 (127.0.0.1 only)
        return json.loads(r.read().decode())


@pytest.mark.notebook
def test_tasks_lab_serves_the_notebooks_with_the_project_kernel(tmp_path):
    """Start `tasks.py lab` on 127.0.0.1 with a token; /api/status answers, the kernel
    `python3` is this environment's Python, the numbered notebooks are listed; then stop it."""
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        pytest.fail(
            "JupyterLab is missing: tasks.py installs the lab extra (python3 tasks.py setup)"
        )
    port, token = _free_port(), "audioanom-test-token"
    env = dict(
        os.environ,
        AUDIOANOM_VENV=str(Path(sys.prefix)),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
    )
    cmd = [
        sys.executable,
        str(ROOT / "tasks.py"),
        "lab",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
    ]
    log = (tmp_path / "lab.log").open("w")
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        status, deadline = None, time.monotonic() + 120
        while status is None and time.monotonic() < deadline:
            if proc.poll() is not None:
                log_text = (tmp_path / "lab.log").read_text()
                pytest.fail(f"tasks.py lab exited ({proc.returncode}):\n{log_text}")
            try:
                status = _get(f"{base}/api/status?token={token}")
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        assert status is not None, (tmp_path / "lab.log").read_text()
        assert "started" in status
        with pytest.raises(urllib.error.HTTPError):  # the token is required
            _get(f"{base}/api/kernelspecs")
        specs = _get(f"{base}/api/kernelspecs?token={token}")
        assert specs["default"] == "python3"
        argv0 = Path(specs["kernelspecs"]["python3"]["spec"]["argv"][0])
        assert argv0.resolve() == Path(sys.executable).resolve()
        listing = _get(f"{base}/api/contents?token={token}")
        names = {item["name"] for item in listing["content"]}
        assert {p.name for p in (ROOT / "notebooks").glob("0*.ipynb")} <= names
    finally:
        _stop(proc)
        log.close()


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the whole process group (tasks.py and the JupyterLab it started), SIGKILL if
    it lingers; nothing to do when it has already exited."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
