"""Reading official checkpoint files and loading them strictly, with errors that say what does not fit."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

CHECKPOINT_DIR = Path("checkpoints")
"""Where the README tells users to put the official weights (relative to the folder a command runs in)."""


class CheckpointError(ValueError):
    """A checkpoint that is missing or does not fit the network; the message names the file and the problem."""


def read_checkpoint(path: Path, release: str) -> dict:
    """``torch.load(weights_only=True)`` of a state-dict file on the CPU; ``release`` says where to get it."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found. Download {path.name} from {release} "
                                f"and put it in {path.parent}.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a damaged file
        raise CheckpointError(f"{path}: cannot be read as a PyTorch checkpoint ({exc}).") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict, found {type(state).__name__}.")
    return state


def mismatch_report(module: nn.Module, state: Mapping[str, torch.Tensor], limit: int = 5) -> str:
    """The first missing, unexpected and wrongly shaped keys of ``state`` for ``module`` ('' if it fits)."""
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    given = {k: tuple(v.shape) for k, v in state.items()}
    missing = [k for k in expected if k not in given][:limit]
    unexpected = [k for k in given if k not in expected][:limit]
    wrong = [f"{k}: file {given[k]} vs network {expected[k]}" for k in expected
             if k in given and given[k] != expected[k]][:limit]
    parts = []
    if missing:
        parts.append(f"missing keys {missing}")
    if unexpected:
        parts.append(f"unexpected keys {unexpected}")
    if wrong:
        parts.append(f"shape mismatches {wrong}")
    return "; ".join(parts)


def load_state(module: nn.Module, state: Mapping[str, torch.Tensor], path: Path, hint: str = "") -> None:
    """``load_state_dict(strict=True)``, turning any mismatch into a :class:`CheckpointError` naming ``path``."""
    report = mismatch_report(module, state)
    if report:
        raise CheckpointError(f"{path}: does not fit the network: {report}.{hint}")
    module.load_state_dict(state, strict=True)
