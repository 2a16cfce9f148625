"""SPIdepth's encoder: a U-Net whose contracting path is a timm backbone (ConvNeXtV2 in the release).

Module names equal the keys of the official ``encoder.pth``: ``encoder.*`` is
timm's ``features_only`` wrapper (it renames ``stem.0`` to ``stem_0`` and
``stages.0`` to ``stages_0``), ``decoder.blocks.{i}.conv{1,2}.{conv,bn}.*`` and
``decoder.final_conv.*`` are the expanding path.

Expanding path, as the release computes it: the deepest map first, no centre
block; blocks 0-2 upsample to the next skip's size with bilinear
``align_corners=True`` and concatenate that skip; block 3 has no skip and
upsamples x2 with bilinear ``align_corners=False``; each block is two
conv3x3 (no bias) -> BatchNorm -> ReLU; a 1x1 conv gives ``out_channels`` maps
at stride 2. The pixel input is in [0, 1], not mean/std normalised.
"""

from __future__ import annotations

from collections.abc import Sequence

import timm
import torch
import torch.nn.functional as F
from torch import nn

DEFAULT_BACKBONE = "convnextv2_huge.fcmae_ft_in22k_in1k_384"
DECODER_CHANNELS = (1024, 512, 256, 128)
OUT_CHANNELS = 32


class ConvBnRelu(nn.Module):
    """conv3x3 without bias, BatchNorm, ReLU (keys ``conv.*``, ``bn.*``)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class DecoderBlock(nn.Module):
    """Upsample, concatenate the skip (if any), two ConvBnRelu."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = ConvBnRelu(in_channels, out_channels)
        self.conv2 = ConvBnRelu(out_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        if skip is None:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        else:
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=True)
            x = torch.cat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


class UNetDecoder(nn.Module):
    """The expanding path over encoder maps given deepest first."""

    def __init__(self, encoder_channels: Sequence[int], decoder_channels: Sequence[int] = DECODER_CHANNELS,
                 out_channels: int = OUT_CHANNELS) -> None:
        super().__init__()
        inputs = [encoder_channels[0], *decoder_channels[:-1]]
        skips = [*encoder_channels[1:], 0]
        self.blocks = nn.ModuleList(DecoderBlock(i + s, o) for i, s, o in zip(inputs, skips, decoder_channels))
        self.final_conv = nn.Conv2d(decoder_channels[-1], out_channels, kernel_size=1)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        x = features[0]
        for index, block in enumerate(self.blocks):
            x = block(x, features[index + 1] if index + 1 < len(features) else None)
        return self.final_conv(x)


class UNet(nn.Module):
    """timm backbone (``features_only``, never pretrained here) + :class:`UNetDecoder`: (B,3,H,W) -> (B,32,H/2,W/2)."""

    def __init__(self, backbone: str = DEFAULT_BACKBONE, decoder_channels: Sequence[int] = DECODER_CHANNELS,
                 out_channels: int = OUT_CHANNELS) -> None:
        super().__init__()
        # pretrained=False: the official encoder.pth replaces every weight, nothing is downloaded
        self.encoder = timm.create_model(backbone, features_only=True, pretrained=False, in_chans=3)
        channels = [info["num_chs"] for info in self.encoder.feature_info][::-1]
        self.decoder = UNetDecoder(channels, decoder_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x)[::-1])
