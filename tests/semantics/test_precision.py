"""bf16 autocast (``--amp``): only the heavy backbones run in bf16; the CAUSE head and the depth decoder stay float32."""

from __future__ import annotations

import torch

from refs.cause.model import CauseFeatures
from refs.spidepth.model import SPIdepth


def _record_precision(module: torch.nn.Module, seen: list) -> None:
    """Remember, at each call of ``module``, the dtype of its first input and whether autocast was on."""
    def hook(_module: torch.nn.Module, args: tuple) -> None:
        seen.append((args[0].dtype, torch.is_autocast_enabled("cpu")))
    module.register_forward_pre_hook(hook)


def test_cause_head_runs_in_float32_under_autocast() -> None:
    torch.manual_seed(0)
    model = CauseFeatures(torch.randn(2048, 768)).eval()
    backbone, head = [], []
    _record_precision(model.vit.blocks[0], backbone)
    _record_precision(model.head, head)
    crops = torch.rand(1, 3, 322, 322)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = model(crops)
    assert backbone == [(torch.bfloat16, True)]  # the ViT does run in bf16 ...
    assert head == [(torch.float32, False)] and mixed.dtype == torch.float32  # ... the head does not
    with torch.inference_mode():
        tokens = model.vit(crops)[:, 1:]
        plain, direct = model(crops), model.head(tokens)
    assert head[-1] == (torch.float32, False) and torch.equal(plain, direct)


def test_depth_decoder_runs_in_float32_under_autocast() -> None:
    torch.manual_seed(0)
    model = SPIdepth("convnextv2_atto").eval()
    decoder = []
    _record_precision(model.depth, decoder)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.rand(1, 3, 320, 1024))
    assert decoder == [(torch.float32, False)] and out.dtype == torch.float32
