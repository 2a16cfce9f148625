"""DINOv2 ViT-B/14 as the CAUSE pipeline runs it: all tokens after the final LayerNorm.

Parameter names are those of the official ``dinov2_vitb14_pretrain.pth``
(175 keys: ``cls_token``, ``pos_embed`` for a 37x37 grid, ``mask_token``,
``patch_embed.proj``, 12 ``blocks`` with LayerScale ``ls1``/``ls2``, ``norm``),
so the file loads with ``strict=True``.

Numerical quirk kept on purpose: the 37x37 positional grid is resampled with
PyTorch bicubic interpolation (no antialias) called with a *scale factor*
``(n + 0.1) / 37`` rather than an output size, exactly as the official DINOv2
(``interpolate_offset = 0.1``). The output size is the same; the sampling
positions are not, and an output-size call differs by up to ~1.2 per element.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PATCH_SIZE = 14
EMBED_DIM = 768
DEPTH = 12
NUM_HEADS = 12
MLP_DIM = 3072
GRID = 37  # pos_embed grid of the img_size-518 checkpoint
INTERPOLATE_OFFSET = 0.1
LAYERNORM_EPS = 1e-6


class PatchEmbed(nn.Module):
    """14x14 stride-14 convolution, flattened row-major to tokens."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, EMBED_DIM, kernel_size=PATCH_SIZE, stride=PATCH_SIZE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(EMBED_DIM, 3 * EMBED_DIM)
        self.proj = nn.Linear(EMBED_DIM, EMBED_DIM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, NUM_HEADS, dim // NUM_HEADS).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # softmax(q k^T / sqrt(64)) v
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class LayerScale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(EMBED_DIM))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Mlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(EMBED_DIM, MLP_DIM)
        self.fc2 = nn.Linear(MLP_DIM, EMBED_DIM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))  # exact (erf) GELU


class Block(nn.Module):
    """Pre-norm transformer block: ``x += ls1 * attn(norm1 x); x += ls2 * mlp(norm2 x)``."""

    def __init__(self) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(EMBED_DIM, eps=LAYERNORM_EPS)
        self.attn = Attention()
        self.ls1 = LayerScale()
        self.norm2 = nn.LayerNorm(EMBED_DIM, eps=LAYERNORM_EPS)
        self.mlp = Mlp()
        self.ls2 = LayerScale()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class DinoVisionTransformer(nn.Module):
    """(B, 3, H, W) with H, W multiples of 14 -> (B, 1 + R + H/14 * W/14, 768): CLS, R registers, patch tokens.

    The default is the plain ViT-B/14 CAUSE uses. The register variant
    (``dinov2_vitb14_reg4_pretrain.pth``: ``num_register_tokens=4``) resamples its
    positions as the official release configures it: an output size, with antialiasing.
    """

    def __init__(self, num_register_tokens: int = 0, interpolate_offset: float = INTERPOLATE_OFFSET,
                 interpolate_antialias: bool = False) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, EMBED_DIM))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + GRID * GRID, EMBED_DIM))
        self.num_register_tokens = num_register_tokens
        self.interpolate_offset, self.interpolate_antialias = interpolate_offset, interpolate_antialias
        if num_register_tokens:
            self.register_tokens = nn.Parameter(torch.zeros(1, num_register_tokens, EMBED_DIM))
        self.mask_token = nn.Parameter(torch.zeros(1, EMBED_DIM))  # in the checkpoint; unused at inference
        self.patch_embed = PatchEmbed()
        self.blocks = nn.ModuleList(Block() for _ in range(DEPTH))
        self.norm = nn.LayerNorm(EMBED_DIM, eps=LAYERNORM_EPS)

    def interpolated_pos_embed(self, rows: int, cols: int) -> torch.Tensor:
        """(1, 1 + rows*cols, 768) positional embedding for a rows x cols patch grid (see module docstring)."""
        pos = self.pos_embed.float()
        if rows == GRID and cols == GRID:
            return pos
        grid = pos[:, 1:].reshape(1, GRID, GRID, EMBED_DIM).permute(0, 3, 1, 2)
        if self.interpolate_offset:
            scale = ((rows + self.interpolate_offset) / GRID, (cols + self.interpolate_offset) / GRID)
            grid = F.interpolate(grid, scale_factor=scale, mode="bicubic", align_corners=False,
                                 antialias=self.interpolate_antialias)
        else:
            grid = F.interpolate(grid, size=(rows, cols), mode="bicubic", align_corners=False,
                                 antialias=self.interpolate_antialias)
        if grid.shape[-2:] != (rows, cols):
            raise ValueError(f"positional grid resampled to {tuple(grid.shape[-2:])}, expected {(rows, cols)}")
        return torch.cat([pos[:, :1], grid.flatten(2).transpose(1, 2)], dim=1)

    def patch_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H/14 * W/14, 768): the normalised patch tokens only (no CLS, no registers)."""
        return self(x)[:, 1 + self.num_register_tokens:]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % PATCH_SIZE or x.shape[-1] % PATCH_SIZE:
            raise ValueError(f"input size {tuple(x.shape[-2:])} is not a multiple of the patch size {PATCH_SIZE}")
        rows, cols = x.shape[-2] // PATCH_SIZE, x.shape[-1] // PATCH_SIZE
        tokens = self.patch_embed(x)
        tokens = torch.cat([self.cls_token.expand(len(tokens), -1, -1).to(tokens.dtype), tokens], dim=1)
        tokens = tokens + self.interpolated_pos_embed(rows, cols).to(tokens.dtype)
        if self.num_register_tokens:  # registers go after CLS, without positions
            tokens = torch.cat([tokens[:, :1], self.register_tokens.expand(len(tokens), -1, -1).to(tokens.dtype),
                                tokens[:, 1:]], dim=1)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)
