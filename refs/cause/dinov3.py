"""DINOv3 ViT-L/16 from Meta's official checkpoint, and CAUSE's heads retrained on it.

The backbone is timm's ``vit_large_patch16_dinov3_qkvb`` (an Eva with RoPE,
4 storage tokens, LayerScale, q/v biases), built without downloading anything.
The official file (``dinov3_vitl16_pretrain_lvd1689m-8aa4cbdd.pth``) names its
parameters as Meta's ``dinov3`` repository does; :func:`timm_state_from_official`
renames them (a pure function) and the result loads with ``strict=True``.
What the conversion drops, and why that cannot change the output, is checked
rather than assumed:

* ``mask_token``: used only for masked-image pretraining;
* ``rope_embed.periods``: a buffer timm recomputes from the base (100); the
  file's values must equal timm's;
* ``blocks.N.attn.qkv.bias_mask`` and the key third of ``qkv.bias``: DINOv3
  masks the key bias to zero (``mask_k_bias``); the mask must be 0 there and
  1 elsewhere (without a mask, the key bias itself must be zero).

Per crop (320 x 320, ImageNet-normalised) the network gives CLS, 4 storage
tokens and 20 x 20 patch tokens after the final LayerNorm; the head sees the
400 patch tokens only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn

from refs.cause.head import SegmentHead
from refs.checkpoints import CheckpointError

CROP = 320
PATCH_SIZE = 16
GRID = CROP // PATCH_SIZE  # 20
HEAD_WIDTH = 64  # every DINOv3 ViT has 64-wide attention heads (ViT-L/16: 1024 = 16 x 64)
VITL16_WIDTH, VITL16_DEPTH = 1024, 24
NUM_STORAGE_TOKENS = 4
TIMM_NAME = "vit_large_patch16_dinov3_qkvb"
BACKBONE_GLOB = "dinov3_vitl16_pretrain*.pth"
BACKBONE_FILE = "dinov3_vitl16_pretrain_lvd1689m-8aa4cbdd.pth"
DINOV3_RELEASE = "the DINOv3 release (github.com/facebookresearch/dinov3, ViT-L/16 distilled, LVD-1689M)"
UNUSED_OFFICIAL_KEYS = ("mask_token",)
"""Official keys dropped without a check: they take no part in inference."""
_RENAMES = ((re.compile(r"^storage_tokens$"), "reg_token"),
            (re.compile(r"\.ls1\.gamma$"), ".gamma_1"),
            (re.compile(r"\.ls2\.gamma$"), ".gamma_2"))


def backbone_size(state: Mapping[str, torch.Tensor]) -> tuple[int, int]:
    """(width, depth) of an official-layout DINOv3 state dict, from ``cls_token`` and the ``blocks.N`` keys."""
    cls = state.get("cls_token")
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.", k))}
    if not isinstance(cls, torch.Tensor) or not blocks:
        raise CheckpointError("no 'cls_token' or 'blocks.N.*' keys: not a DINOv3 ViT state dict")
    return int(cls.shape[-1]), max(blocks) + 1


def build_backbone(width: int = VITL16_WIDTH, depth: int = VITL16_DEPTH) -> nn.Module:
    """timm's DINOv3 ViT/16 with random weights (ViT-L/16 by default; smaller sizes for tests)."""
    import timm

    if width % HEAD_WIDTH:
        raise CheckpointError(f"width {width} is not a multiple of DINOv3's {HEAD_WIDTH}-wide heads")
    return timm.create_model(TIMM_NAME, pretrained=False, embed_dim=width, depth=depth,
                             num_heads=width // HEAD_WIDTH, img_size=CROP)


def timm_state_from_official(state: Mapping[str, torch.Tensor], periods: torch.Tensor) -> dict[str, torch.Tensor]:
    """Official DINOv3 keys -> timm Eva keys; ``periods``: the model's RoPE periods, to check the file's against."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key in UNUSED_OFFICIAL_KEYS or key.endswith(".attn.qkv.bias_mask"):
            continue
        if key == "rope_embed.periods":
            if value.shape != periods.shape or not torch.allclose(value.float(), periods.float(), rtol=1e-5):
                raise CheckpointError(f"rope_embed.periods differ from RoPE base 100 ({value.flatten()[:3].tolist()}"
                                      f"... vs {periods.flatten()[:3].tolist()}...): not a DINOv3 backbone")
            continue
        if key.endswith(".attn.qkv.bias"):
            query, key_bias, value_bias = value.chunk(3)
            mask = state.get(key + "_mask")
            if mask is not None:
                q_mask, k_mask, v_mask = mask.chunk(3)
                if k_mask.any() or not (q_mask == 1).all() or not (v_mask == 1).all():
                    raise CheckpointError(f"{key}_mask is not DINOv3's key-bias mask (0 on keys, 1 elsewhere)")
            elif key_bias.any():
                raise CheckpointError(f"{key}: the key bias is not zero and there is no bias_mask")
            prefix = key[: -len("qkv.bias")]
            out[prefix + "q_bias"], out[prefix + "v_bias"] = query, value_bias
            continue
        for pattern, replacement in _RENAMES:
            key = pattern.sub(replacement, key)
        out[key] = value
    return out


def official_state_from_timm(state: Mapping[str, torch.Tensor], periods: torch.Tensor) -> dict[str, torch.Tensor]:
    """timm Eva keys -> the official DINOv3 layout (with ``mask_token``, ``rope_embed.periods``, bias masks).

    The inverse of :func:`timm_state_from_official`, for writing random weights
    in the official layout (tests, benchmarks).
    """
    out: dict[str, torch.Tensor] = {}
    width = state["cls_token"].shape[-1]
    for key, value in state.items():
        if key.endswith(".attn.k_bias"):
            continue
        if key.endswith(".attn.q_bias"):
            prefix = key[: -len("q_bias")]
            out[prefix + "qkv.bias"] = torch.cat([value, torch.zeros_like(value), state[prefix + "v_bias"]])
            out[prefix + "qkv.bias_mask"] = torch.cat([torch.ones_like(value), torch.zeros_like(value),
                                                       torch.ones_like(value)])
            continue
        if key.endswith(".attn.v_bias"):
            continue
        key = key.replace("reg_token", "storage_tokens").replace(".gamma_1", ".ls1.gamma").replace(".gamma_2", ".ls2.gamma")
        out[key] = value
    out["mask_token"] = torch.zeros(1, width)
    out["rope_embed.periods"] = periods.clone()
    return out


def rope_periods(backbone: nn.Module) -> torch.Tensor:
    """The RoPE periods timm computed for this backbone (the official file stores the same values)."""
    return backbone.rope.periods.detach().cpu()


class Dinov3CauseFeatures(nn.Module):
    """(B, 3, 320, 320) ImageNet-normalised crops -> (B, 90, 20, 20) CAUSE features on DINOv3 ViT/16 tokens."""

    def __init__(self, backbone: nn.Module, codebook: torch.Tensor) -> None:
        super().__init__()
        self.vit = backbone
        self.width = int(backbone.embed_dim)
        self.head = SegmentHead(codebook, dim=self.width, grid=GRID)

    def features_and_tokens(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 90, 20, 20) features and the (B, 400, width) patch tokens (CLS and storage tokens dropped)."""
        tokens = self.vit.forward_features(crops)[:, self.vit.num_prefix_tokens:]
        with torch.autocast(crops.device.type, enabled=False):  # the head's VQ stays float32, as for DINOv2
            return self.head(tokens.float()), tokens

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        return self.features_and_tokens(crops)[0]
