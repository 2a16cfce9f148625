"""Choosing the torch device for the network stages."""

from __future__ import annotations

import torch


def pick_device(name: str | None, mps: bool = False) -> torch.device:
    """``--device`` when given (``cuda``, ``cuda:1``, ``mps``, ``cpu``), else (None, ``auto``) CUDA if available,
    then Apple's MPS when ``mps`` (the original scripts whose ``auto`` tries it), else CPU."""
    if name and name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if mps and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
