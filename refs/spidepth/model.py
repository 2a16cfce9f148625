"""SPIdepth as one module, and strict loading of the official ``encoder.pth`` / ``depth.pth``.

``encoder.pth`` is the state dict of :class:`~refs.spidepth.unet.UNet` (keys
``encoder.*``, ``decoder.*``), possibly with the monodepth-style non-tensor
entries ``height``, ``width`` and ``use_stereo``; exactly those are dropped and
everything else must match. ``depth.pth`` is the state dict of
:class:`~refs.spidepth.depth_decoder.QueryDepthDecoder`. Both load with
``strict=True``; a mismatch raises :class:`CheckpointError` listing the first
differing keys and shapes and, when the file reveals it, the ConvNeXtV2
backbone it was trained with.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from refs.checkpoints import CheckpointError, load_state, read_checkpoint
from refs.spidepth.depth_decoder import QueryDepthDecoder
from refs.spidepth.unet import DEFAULT_BACKBONE, UNet

__all__ = ["CheckpointError", "SPIdepth", "guess_backbone", "load_spidepth"]

ENCODER_FILE, DEPTH_FILE = "encoder.pth", "depth.pth"
NON_TENSOR_ENTRIES = ("height", "width", "use_stereo")
"""Entries monodepth-style training stores in encoder.pth beside the weights."""
RELEASE = "the SPIdepth release (github.com/Lavreniuk/SPIdepth, Cityscapes checkpoint)"

CONVNEXTV2_WIDTHS = {40: "atto", 48: "femto", 64: "pico", 80: "nano", 96: "tiny", 128: "base", 192: "large", 352: "huge"}
"""Stem width -> ConvNeXtV2 variant (tiny and small share 96; small has 27 blocks in stage 3)."""


class SPIdepth(nn.Module):
    """U-Net encoder + query depth decoder: (B,3,H,W) in [0,1] -> (B,1,H/2,W/2) depth in metres-like units."""

    def __init__(self, backbone: str = DEFAULT_BACKBONE) -> None:
        super().__init__()
        self.encoder = UNet(backbone)
        self.depth = QueryDepthDecoder()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.encoder(x)
        # Under bf16 autocast only the encoder runs in bf16: the decoder regresses metric depth, which bf16
        # would round to 8 significant bits (0.25 m steps at 40 m; benchmarks/README.md measures it).
        with torch.autocast(x.device.type, enabled=False):
            return self.depth(features.float())


def guess_backbone(state: Mapping[str, torch.Tensor]) -> str | None:
    """The ConvNeXtV2 variant an encoder state dict was trained with, when recognisable."""
    stem = state.get("encoder.stem_0.weight")
    if not isinstance(stem, torch.Tensor) or stem.ndim != 4:
        return None
    variant = CONVNEXTV2_WIDTHS.get(int(stem.shape[0]))
    if variant == "tiny" and any(k.startswith("encoder.stages_2.blocks.9.") for k in state):
        variant = "small"
    return f"convnextv2_{variant}" if variant else None


def load_spidepth(checkpoint_dir: str | Path, backbone: str = DEFAULT_BACKBONE) -> SPIdepth:
    """Build SPIdepth for ``backbone`` and load ``{checkpoint_dir}/encoder.pth`` and ``depth.pth`` strictly (CPU, eval)."""
    folder = Path(checkpoint_dir)
    encoder_state = read_checkpoint(folder / ENCODER_FILE, RELEASE)
    depth_state = read_checkpoint(folder / DEPTH_FILE, RELEASE)
    encoder_state = {k: v for k, v in encoder_state.items() if k not in NON_TENSOR_ENTRIES}
    model = SPIdepth(backbone)
    guessed = guess_backbone(encoder_state)
    hint = ""
    if guessed and not backbone.startswith(guessed):
        hint = f" The file looks like a {guessed} backbone: pass --backbone {guessed}."
    load_state(model.encoder, encoder_state, folder / ENCODER_FILE, hint)
    load_state(model.depth, depth_state, folder / DEPTH_FILE)
    return model.eval()
