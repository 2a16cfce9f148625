"""BDD100K layout: the 10k images with panoptic labels, and the bitmask ground truth.

Layout handled here::

    {root}/images/10k/{split}/{name}.jpg
    {root}/labels/pan_seg/bitmasks/{split}/{name}.png      (GT: evaluation only)

Frames are keyed ``{name}``. A bitmask PNG is RGBA: R the category (0
unlabeled, 1..30 stuff, 31..40 things), G attribute bits (truncated << 3 |
occluded << 2 | crowd << 1 | ignore), and B << 8 | A the instance. Categories
map to the Cityscapes trainIds by BDD100K's own table (``bdd100k/label/label.py``,
its ``trainId`` column, "compatible with Cityscapes"); every other category is
void (255).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pseudo_labels.core.errors import InputError
from pseudo_labels.data import cityscapes as cs

CATEGORY_TO_TRAIN_ID = {7: 0, 8: 1, 10: 2, 15: 3, 11: 4, 20: 5, 25: 6, 26: 7, 29: 8, 28: 9, 30: 10,
                        31: 11, 32: 12, 35: 13, 40: 14, 34: 15, 39: 16, 37: 17, 33: 18}
"""BDD100K pan_seg category id -> Cityscapes trainId (road 7 -> 0, ..., bicycle 33 -> 18)."""
FIRST_THING_CATEGORY = 31
"""Categories 31..40 (person .. truck) are things; below are stuff, whose instance ids mean nothing."""
CROWD_BIT, IGNORE_BIT = 2, 1
"""Attribute bits of the G channel."""

_LOOKUP = np.full(256, cs.IGNORE_ID, np.uint8)
_LOOKUP[list(CATEGORY_TO_TRAIN_ID)] = list(CATEGORY_TO_TRAIN_ID.values())


@dataclass(frozen=True)
class Bdd100kLayout:
    """BDD100K 10k: ``images/10k/{split}/{name}.jpg``, keyed ``name``."""

    name: str = "bdd100k"

    def frames(self, root: Path, split: str) -> dict[str, Path]:
        folder = self.images_folder(root, split)
        if not folder.is_dir():
            raise InputError(f"{folder}: BDD100K split not found. Check the root (it holds images/10k/) and --split.")
        files = sorted(folder.glob("*.jpg"))
        if not files:
            raise InputError(f"no BDD100K frames (*.jpg) under {folder}: the split is empty.")
        return {path.stem: path for path in files}

    def images_folder(self, root: Path, split: str) -> Path:
        return Path(root) / "images" / "10k" / split

    def panoptic_folder(self, root: Path, split: str) -> Path:
        """The folder of a split's panoptic bitmasks (ground truth: evaluation only)."""
        return Path(root) / "labels" / "pan_seg" / "bitmasks" / split

    def panoptic_paths(self, root: Path, split: str) -> dict[str, Path]:
        """``key -> bitmask GT PNG`` of a split (ground truth: evaluation only)."""
        folder = self.panoptic_folder(root, split)
        files = sorted(folder.glob("*.png"))
        if not files:
            raise InputError(f"no BDD100K panoptic bitmasks under {folder}. Download the pan_seg labels for {split}.")
        return {path.stem: path for path in files}


def bdd_ground_truth(bitmask: np.ndarray, source: str = "BDD100K bitmask") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(trainIds HxW uint8, instance HxW int32 with 0 for stuff and none, crowd-or-ignore HxW bool) of a bitmask."""
    if bitmask.ndim != 3 or bitmask.shape[2] != 4 or bitmask.dtype != np.uint8:
        raise InputError(f"{source}: a BDD100K panoptic bitmask is 8-bit RGBA (R category, G attributes, B<<8|A "
                         f"instance), got shape {bitmask.shape} dtype {bitmask.dtype}.")
    category = bitmask[:, :, 0]
    if int(category.max()) > 40:
        raise InputError(f"{source}: category {int(category.max())} is not a BDD100K pan_seg category (0..40).")
    instance = (bitmask[:, :, 2].astype(np.int32) << 8) | bitmask[:, :, 3]
    instance[category < FIRST_THING_CATEGORY] = 0
    excluded = (bitmask[:, :, 1] & (CROWD_BIT | IGNORE_BIT)) > 0
    return _LOOKUP[category], instance, excluded
