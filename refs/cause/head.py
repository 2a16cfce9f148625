"""CAUSE's Segment_TR inference head (``head_ema``) and its modularity codebook.

Keys are the ``head_ema.*`` entries of the official ``segment_tr.pth`` without
the prefix: ``query_pos`` (529 x 768, one per token of a 23x23 grid) and
``tr.*`` (the decoder layer and the output projections). The 2048 x 768
codebook is not in that file: it comes from ``modular.npy`` and is kept as a
buffer outside the state dict.

Per crop (tokens F: 529 x 768, sequence first inside):
1. vector quantisation: each token takes the codebook row of highest cosine
   similarity (both sides L2-normalised, eps 1e-12; first index on ties);
   ``Q`` are those *raw* rows;
2. self-attention (1 head, 768-d) with q = k = Q + pos, v = Q, then norm1;
3. cross-attention with query = tgt + pos, key = value = F, then norm2;
4. FFN 768 -> 2048 -> ReLU -> 768, then norm3 (LayerNorm eps 1e-5, post-norm);
5. residual ``F + tgt``, as a 768 x 23 x 23 map, then ``f1(x) + f2(x)``:
   a 1x1 conv to 90 plus (1x1 conv 768 -> 768, ReLU, 1x1 conv -> 90).

The width (768) and grid (23) are those of DINOv2 ViT-B/14 on 322 crops; the
heads CAUSE trains on another backbone (DINOv3 ViT-L/16 on 320 crops: 1024
wide, 20 x 20 queries) are the same module with ``dim`` and ``grid`` set; the
FFN stays 2048 wide, as in CAUSE's ``TRDecoder``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DIM = 768
REDUCED_DIM = 90
NUM_QUERIES = 529  # 23 x 23 tokens of a 322 x 322 crop
GRID = 23
FFN_DIM = 2048
CODEBOOK_SHAPE = (2048, 768)


class TransformerDecoderHead(nn.Module):
    """The ``tr`` part: one post-norm decoder layer, the ViT residual and the 90-d projections."""

    def __init__(self, dim: int = DIM, grid: int = GRID) -> None:
        super().__init__()
        self.dim, self.grid = dim, grid
        self.self_attn = nn.MultiheadAttention(dim, num_heads=1)
        self.multihead_attn = nn.MultiheadAttention(dim, num_heads=1)
        self.linear1 = nn.Linear(dim, FFN_DIM)
        self.linear2 = nn.Linear(FFN_DIM, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)
        self.f1 = nn.Conv2d(dim, REDUCED_DIM, kernel_size=1)
        self.f2 = nn.Sequential(nn.Conv2d(dim, dim, kernel_size=1), nn.ReLU(), nn.Conv2d(dim, REDUCED_DIM, kernel_size=1))

    def decode(self, target: torch.Tensor, memory: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """Decoder layer on sequence-first (529, B, 768) tensors; returns norm3's output."""
        query = target + pos
        target = self.norm1(target + self.self_attn(query, query, target, need_weights=False)[0])
        target = self.norm2(target + self.multihead_attn(target + pos, memory, memory, need_weights=False)[0])
        return self.norm3(target + self.linear2(F.relu(self.linear1(target))))

    def forward(self, target: torch.Tensor, memory: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        tokens = memory + self.decode(target, memory, pos)  # (529, B, 768)
        grid = tokens.permute(1, 2, 0).reshape(tokens.shape[1], self.dim, self.grid, self.grid)
        return self.f1(grid) + self.f2(grid)


class SegmentHead(nn.Module):
    """CAUSE ``head_ema``: (B, grid^2, dim) ViT patch tokens -> (B, 90, grid, grid); default (B, 529, 768) -> 23 x 23."""

    def __init__(self, codebook: torch.Tensor | None = None, dim: int = DIM, grid: int = GRID) -> None:
        super().__init__()
        self.num_queries = grid * grid
        self.query_pos = nn.Parameter(torch.zeros(self.num_queries, dim))
        self.tr = TransformerDecoderHead(dim, grid)
        self.register_buffer("codebook", torch.zeros(CODEBOOK_SHAPE[0], dim) if codebook is None else codebook,
                             persistent=False)

    def quantise(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Index (B, 529) of the most cosine-similar codebook row per token, and those raw rows (B, 529, 768)."""
        similarity = F.normalize(tokens, dim=-1) @ F.normalize(self.codebook, dim=-1).T
        index = similarity.argmax(dim=-1)
        return index, self.codebook[index]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.shape[1] != self.num_queries:
            raise ValueError(f"the head takes {self.num_queries} tokens ({self.tr.grid} x {self.tr.grid} patches), "
                             f"got {tokens.shape[1]}")
        _, quantised = self.quantise(tokens)
        pos = self.query_pos[:, None, :].expand(-1, len(tokens), -1)
        return self.tr(quantised.transpose(0, 1), tokens.transpose(0, 1), pos)
