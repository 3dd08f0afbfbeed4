"""Choosing the torch device: auto = cuda, then mps, then cpu."""

from __future__ import annotations

from charcomplete.errors import DeviceError

DEVICES = ("auto", "cpu", "cuda", "mps")  # what --device accepts


def available_devices() -> list[str]:
    import torch

    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found + ["cpu"]


def resolve_device(name: str = "auto") -> str:
    """A usable device name for `name`, or DeviceError naming the devices that exist."""
    name = (name or "auto").lower()
    base = name.split(":")[0]
    if base not in DEVICES:
        raise DeviceError(f"unknown device {name!r} (choose from {', '.join(DEVICES)})")
    found = available_devices()
    if base == "auto":
        return found[0]
    if base not in found:
        raise DeviceError(f"device {name!r} is not available on this machine (available: {', '.join(found)})")
    return name


def _cpu_only_without_torch() -> bool:
    """True when torch surely has no device but the CPU here, found without importing torch
    (1.3 s): a CPU-only torch build (its version.py names no cuda/hip/xpu), or a CUDA build on a
    Linux machine with no NVIDIA/AMD device node. False when unsure (macOS may have mps)."""
    import importlib.util
    import os
    import re
    import sys
    from pathlib import Path

    if sys.platform == "darwin":
        return False
    try:
        spec = importlib.util.find_spec("torch")
        text = Path(spec.submodule_search_locations[0], "version.py").read_text()
    except Exception:  # no torch, or an unusual install: ask torch itself
        return False
    builds = [m.group(2) for m in re.finditer(r"^(cuda|hip|xpu)\s*(?::[^=]*)?=\s*(.+)$", text, re.M)]
    if len(builds) == 3 and all(b.strip() == "None" for b in builds):
        return True
    return sys.platform.startswith("linux") and not any(os.path.exists(d) for d in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd"))


def resolve_device_cheaply(name: str = "auto") -> str | None:
    """`resolve_device` without importing torch where the answer is known without it: "cpu" for
    cpu, and for auto on a machine with no accelerator; None for auto when only torch can tell
    (resolve it later, where torch is loaded anyway). Explicit cuda/mps ask torch (and fail now)."""
    base = (name or "auto").lower().split(":")[0]
    if base not in DEVICES:
        raise DeviceError(f"unknown device {name!r} (choose from {', '.join(DEVICES)})")
    if base == "cpu":
        return "cpu"
    if base == "auto":
        return "cpu" if _cpu_only_without_torch() else None
    return resolve_device(name)
