"""Monocular depth maps with SPIdepth, pre- and post-processed exactly as the reference pipeline.

1. The RGB frame is resized to 1024x320 with Pillow LANCZOS on uint8 (Pillow's
   fixed-point filter: a float bicubic resize differs by up to 11 levels) and
   divided by 255; no mean/std normalisation.
2. The network runs on the frame and on its horizontal mirror; the mirrored
   output is flipped back and the two are averaged (plain mean).
3. The (160, 512) result is resized to the target size with PyTorch bilinear
   (``align_corners=False``) and min-max normalised per image to [0, 1]
   float32 (all zeros when the range is below 1e-6).

Frames of other datasets and shapes (``depth --layout``) go through the same
steps: the network sees 320x1024 whatever the frame (see :data:`NETWORK_SIZE`),
and the map is written at the frame's working size, so it keeps the frame's
aspect ratio.

``crop_bottom`` (default 0: the reference) runs the network on the top
``1 - crop_bottom`` of the frame, as SPIdepth was trained without the ego
vehicle, then fills the cropped rows by repeating the last predicted row before
the normalisation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from pseudo_labels.data.cityscapes import WORKING_SIZE

NETWORK_SIZE = (320, 1024)
"""(H, W) the network sees, for frames of any size and shape. SPIdepth's decoder adds positional encodings to its
patch tokens by their row-major index, learnt on the 5x16 token grid of its 320x1024 training frames (Cityscapes'
and KITTI's checkpoints alike): another input size would move every encoding off its position (and below 256x1024
there are fewer tokens than queries). So every frame is resized to the training size, as Monodepth2's inference
does, and the map is resized back to the frame's own shape (:func:`normalised_depth`)."""
FLAT_RANGE = 1e-6


def network_input(rgb: np.ndarray, crop_bottom: float = 0.0) -> np.ndarray:
    """HxWx3 uint8 frame -> (3, 320, 1024) float32 in [0, 1] (top ``1 - crop_bottom`` of the frame)."""
    if not 0.0 <= crop_bottom < 1.0:
        raise ValueError(f"crop_bottom must be in [0, 1), got {crop_bottom}")
    kept_rows = cropped_height(rgb.shape[0], crop_bottom)
    image = Image.fromarray(np.ascontiguousarray(rgb[:kept_rows]))
    resized = np.asarray(image.resize(NETWORK_SIZE[::-1], Image.LANCZOS), dtype=np.float32)
    return np.ascontiguousarray(resized.transpose(2, 0, 1)) / np.float32(255.0)


def cropped_height(height: int, crop_bottom: float) -> int:
    """Rows kept from the top of an image of ``height`` rows when the bottom fraction is cropped."""
    return max(1, int(round(height * (1.0 - crop_bottom))))


@torch.inference_mode()
def predict(model: torch.nn.Module, batch: torch.Tensor, flip: bool = True) -> torch.Tensor:
    """Raw depth (B, h, w) for a (B, 3, 320, 1024) batch; with ``flip`` the mirrored pass runs in the same batch."""
    if flip:
        both = model(torch.cat([batch, batch.flip(-1)], dim=0))
        plain, mirrored = both[: len(batch)], both[len(batch):]
        out = (plain + mirrored.flip(-1)) / 2
    else:
        out = model(batch)
    return out[:, 0].float()


def normalised_depth(raw: torch.Tensor, target_size: Sequence[int] = WORKING_SIZE,
                     crop_bottom: float = 0.0) -> np.ndarray:
    """(h, w) raw depth -> (H, W) float32 in [0, 1]: bilinear resize, bottom fill, per-image min-max."""
    height, width = int(target_size[0]), int(target_size[1])
    rows = cropped_height(height, crop_bottom)
    resized = F.interpolate(raw[None, None].float(), size=(rows, width), mode="bilinear", align_corners=False)[0, 0]
    if rows < height:  # the cropped bottom repeats the last predicted row
        resized = torch.cat([resized, resized[-1:].expand(height - rows, width)], dim=0)
    low, high = resized.min(), resized.max()
    if float(high - low) < FLAT_RANGE:
        return np.zeros((height, width), np.float32)
    return ((resized - low) / (high - low)).cpu().numpy().astype(np.float32)
