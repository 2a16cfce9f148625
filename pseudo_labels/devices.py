"""Choosing the torch device for the network stages."""

from __future__ import annotations

import torch


def pick_device(name: str | None) -> torch.device:
    """``--device`` when given (``cuda``, ``cuda:1``, ``cpu``, ``auto``), else CUDA if available, else CPU."""
    if name and name != "auto":
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
