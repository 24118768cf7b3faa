"""Where and how torch runs: device, precision, threads, and crash-safe saving.

* :func:`resolve_device`: ``"auto"`` picks CUDA, then Apple MPS, then the CPU.
* :func:`resolve_precision`: ``"auto"`` is bf16 autocast on CUDA where supported (else fp16
  with a gradient scaler), bf16 on a CPU with native bf16 (:func:`fast_bf16_available`: AMX or
  AVX512-BF16; emulated bf16 is slower than fp32), fp32 elsewhere. Numbers measured on one CPU
  therefore depend on it: tests pin ``precision="fp32"`` unless they test bf16 itself.
* :func:`torch_threads`: run with ``n`` intra-op threads and restore the previous count
  (default: the cores, shared among torchrun's processes on the machine).
* :func:`to_device` (pinned memory, non-blocking copies to CUDA) and :func:`cudnn_autotune`
  (``cudnn.benchmark`` for the fixed window shape): the GPU path of training.
* :func:`atomic_torch_save`: write to a temporary file and rename, so a crash never leaves a
  half-written checkpoint or model.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import torch

__all__ = [
    "PRECISIONS",
    "atomic_torch_save",
    "autocast_context",
    "cudnn_autotune",
    "default_threads",
    "fast_bf16_available",
    "resolve_device",
    "resolve_precision",
    "to_device",
    "torch_threads",
    "use_channels_last",
]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"``: CUDA if available, else MPS, else CPU; otherwise the named device, checked.

    Raises ValueError for a device this torch cannot use (e.g. ``"cuda"`` on a CPU build).
    """
    mps = getattr(torch.backends, "mps", None)
    has_mps = mps is not None and mps.is_available()
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if has_mps else torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"unknown device {device!r}: {err}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but this torch has no usable CUDA")
    if dev.type == "mps" and not has_mps:
        raise ValueError(f"device {device!r} requested but MPS is not available")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be auto, cpu, cuda[:N] or mps, got {device!r}")
    return dev


def fast_bf16_available() -> bool:
    """True when this CPU runs bf16 convolutions natively (AMX tiles or AVX512-BF16).

    Without either, oneDNN emulates bf16 and bf16 autocast is SLOWER than float32 (measured
    3x slower on an AVX-512 Skylake server).
    """
    if not torch.backends.mkldnn.is_available():
        return False
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"fp32"``, ``"bf16"`` or ``"fp16"`` for ``device`` (``"auto"``: module docstring).

    fp16 is refused on the CPU (CPU autocast covers it poorly); bf16 on a CPU without native
    support is allowed but slow.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if device.type == "cpu":
            return "bf16" if fast_bf16_available() else "fp32"
        return "fp32"
    if precision == "fp16" and device.type == "cpu":
        raise ValueError("precision 'fp16' is not supported on the CPU; use 'bf16' or 'fp32'")
    return precision


def autocast_context(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast for ``precision`` on ``device`` (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``x`` on ``device``; to CUDA through pinned memory with a non-blocking copy (the
    copy overlaps the previous step's kernels)."""
    if device.type != "cuda":
        return x.to(device)
    pinned = x if x.is_pinned() else x.pin_memory()
    return pinned.to(device, non_blocking=True)


@contextlib.contextmanager
def cudnn_autotune(device: torch.device) -> Iterator[None]:
    """``torch.backends.cudnn.benchmark`` on CUDA for the block (the training windows have one
    fixed shape, so cuDNN's fastest kernel is searched once), restored afterwards; elsewhere
    nothing changes."""
    before = torch.backends.cudnn.benchmark
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def use_channels_last(device: torch.device, precision: str) -> bool:
    """The channels_last (NHWC) layout for the networks: always on the CPU, on CUDA with
    reduced precision (tensor cores).

    On the CPU oneDNN's convolutions compute in NHWC. Measured on 2 AMD EPYC cores (AVX2,
    fp32), both layouts alternated in one process: an epoch of the default ``small`` complex
    network 95 -> 121 training windows/s (+27 %) with model and batch in channels_last (a bare
    step: +9 % with the model alone); the magnitude-only network, the paper-size network and
    scoring unchanged within noise (README, "Speed"). With bf16 (AMX, AVX512-BF16) it was
    already the layout."""
    return device.type == "cpu" or (precision != "fp32" and device.type == "cuda")


def default_threads() -> int:
    """Every core, shared among the processes torchrun started on this machine
    (``LOCAL_WORLD_SIZE``): ``os.cpu_count() // LOCAL_WORLD_SIZE``, at least 1."""
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, (os.cpu_count() or 1) // local)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[int]:
    """Run with ``n`` torch intra-op threads (None: :func:`default_threads`), then restore."""
    if n is not None and n < 1:
        raise ValueError(f"threads must be >= 1 or None, got {n}")
    before = torch.get_num_threads()
    n = n if n is not None else default_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)


def atomic_torch_save(obj: object, target: str | Path) -> Path:
    """``torch.save`` to ``target`` through a temporary file in the same folder and a rename
    (folders created); returns the path."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
