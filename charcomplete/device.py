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
