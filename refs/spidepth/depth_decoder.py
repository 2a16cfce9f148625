"""SPIdepth's query-transformer depth decoder (keys of the official ``depth.pth``).

From the U-Net's (B, 32, h, w) maps:

1. ``embedding_convPxP`` (a 32x32 stride-32 conv) cuts patch tokens; the first
   ones get ``positional_encodings`` added; a 4-layer post-norm
   ``TransformerEncoder`` (sequence first, d_model 32, 4 heads, FFN 1024, ReLU)
   runs over them and its first ``query_nums`` outputs are the queries.
2. ``conv3x3`` maps the U-Net output to ``x0``; ``energy[q, p] = x0[:, p] . query[q]``.
3. A softmax of the energy over the *pixels* weights ``x0`` into one summary
   vector per query; ``bins_regressor`` turns the flattened summaries into bin
   widths (ReLU + 0.1, normalised to sum 1) over [min_depth, max_depth].
4. ``convert_to_prob`` (1x1 conv + softmax over channels) turns the raw energy
   maps into per-pixel bin probabilities; depth = sum of probability x bin centre.
"""

from __future__ import annotations

import torch
from torch import nn

MIN_DEPTH, MAX_DEPTH = 0.01, 80.0


class QueryDepthDecoder(nn.Module):
    """(B, in_channels, h, w) -> (B, 1, h, w) depth, as SPIdepth's Cityscapes configuration."""

    def __init__(self, in_channels: int = 32, embedding_dim: int = 32, patch_size: int = 32, num_heads: int = 4,
                 query_nums: int = 64, dim_out: int = 64, min_depth: float = MIN_DEPTH,
                 max_depth: float = MAX_DEPTH) -> None:
        super().__init__()
        self.embedding_convPxP = nn.Conv2d(in_channels, embedding_dim, kernel_size=patch_size, stride=patch_size)
        self.positional_encodings = nn.Parameter(torch.zeros(500, embedding_dim))
        layer = nn.TransformerEncoderLayer(embedding_dim, num_heads, dim_feedforward=1024)
        # batch_first=False never takes the nested-tensor fast path; say so instead of warning
        self.transformer_encoder = nn.TransformerEncoder(layer, num_layers=4, enable_nested_tensor=False)
        self.conv3x3 = nn.Conv2d(in_channels, embedding_dim, kernel_size=3, padding=1)
        self.bins_regressor = nn.Sequential(
            nn.Linear(embedding_dim * query_nums, 16 * query_nums), nn.LeakyReLU(),
            nn.Linear(16 * query_nums, 16 * 16), nn.LeakyReLU(),
            nn.Linear(16 * 16, dim_out),
        )
        self.convert_to_prob = nn.Sequential(nn.Conv2d(query_nums, dim_out, kernel_size=1), nn.Softmax(dim=1))
        self.query_nums = query_nums
        self.min_depth, self.max_depth = min_depth, max_depth

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        tokens = self.embedding_convPxP(features).flatten(2)  # (B, E, N)
        if tokens.shape[2] < self.query_nums:
            raise ValueError(f"{tokens.shape[2]} patch tokens for {self.query_nums} queries: the input is too small "
                             f"(the release runs 1024x320 images)")
        tokens = tokens + self.positional_encodings[: tokens.shape[2]].T.unsqueeze(0)
        encoded = self.transformer_encoder(tokens.permute(2, 0, 1))  # (N, B, E), sequence first
        queries = encoded[: self.query_nums].permute(1, 0, 2)  # (B, Q, E)

        x0 = self.conv3x3(features)
        batch, channels, height, width = x0.shape
        pixels = x0.view(batch, channels, height * width).permute(0, 2, 1)  # (B, P, E)
        energy = torch.matmul(pixels, queries.permute(0, 2, 1))  # (B, P, Q)
        summary = torch.matmul(torch.softmax(energy, dim=1).permute(0, 2, 1), pixels)  # (B, Q, E)
        energy_maps = energy.permute(0, 2, 1).reshape(batch, self.query_nums, height, width)

        widths = torch.relu(self.bins_regressor(summary.reshape(batch, -1))) + 0.1
        widths = widths / widths.sum(dim=1, keepdim=True)
        widths = nn.functional.pad((self.max_depth - self.min_depth) * widths, (1, 0), value=self.min_depth)
        edges = torch.cumsum(widths, dim=1)
        centres = 0.5 * (edges[:, :-1] + edges[:, 1:])
        probabilities = self.convert_to_prob(energy_maps)
        return torch.sum(probabilities * centres[:, :, None, None], dim=1, keepdim=True)
