"""KITTI layouts: raw drives (images only) and KITTI-STEP (images and panoptic ground truth).

Layouts handled here::

    {root}/{date}/{date}_drive_{nnnn}_sync/image_02/data/{frame:010d}.png     (raw: left colour camera)
    {root}/images/{split}/{seq:04d}/{frame:06d}.png                             (KITTI-STEP, as deeplab2 prepares it)
    {root}/panoptic_maps/{split}/{seq:04d}/{frame:06d}.png                      (KITTI-STEP GT: evaluation only)

Raw frames are keyed ``{date}_drive_{nnnn}_sync/{frame}`` (the split names only
the output folder: raw KITTI has none); STEP frames ``{seq}/{frame}``. Only the
left colour camera (``image_02``) is read: the pipeline is monocular, and
``image_03`` is the same scene from the right. Frame sizes differ between drives
(375x1242, 370x1224, ...), so every stage reads each frame's own size.

A KITTI-STEP panoptic PNG holds the semantic class in R (Cityscapes trainIds
0..18, 255 void) and the instance in G * 256 + B (0: none); only person (11) and
car (13) carry instances, so STEP scores the other thing classes as stuff.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pseudo_labels.core.errors import InputError
from pseudo_labels.data import cityscapes as cs

RAW_CAMERA = "image_02"
"""The left colour camera of a raw drive."""
STEP_THINGS = (11, 13)
"""The trainIds KITTI-STEP annotates instances of: person and car."""


def _listed(files: list[Path], folder: Path, what: str, fix: str) -> list[Path]:
    if not files:
        raise InputError(f"no {what} under {folder}. {fix}")
    return files


@dataclass(frozen=True)
class KittiRawLayout:
    """KITTI raw drives: ``image_02/data`` of every ``*_sync`` drive below ``{root}``."""

    name: str = "kitti_raw"

    def frames(self, root: Path, split: str) -> dict[str, Path]:
        root = Path(root)
        if not root.is_dir():
            raise InputError(f"{root}: KITTI raw folder not found. Pass the folder holding the date folders.")
        files = _listed(sorted(root.glob(f"*/*_sync/{RAW_CAMERA}/data/*.png")), root, "KITTI raw frames",
                        f"Expected {{date}}/{{date}}_drive_{{nnnn}}_sync/{RAW_CAMERA}/data/*.png.")
        return {f"{path.parents[2].name}/{path.stem}": path for path in files}

    def images_folder(self, root: Path, split: str) -> Path:
        return Path(root)


@dataclass(frozen=True)
class KittiStepLayout:
    """KITTI-STEP: ``images/{split}/{seq}/{frame}.png``, keyed ``seq/frame``."""

    name: str = "kitti_step"

    def frames(self, root: Path, split: str) -> dict[str, Path]:
        folder = self.images_folder(root, split)
        if not folder.is_dir():
            raise InputError(f"{folder}: KITTI-STEP split not found. Check the root (it holds images/ and "
                             f"panoptic_maps/) and --split.")
        files = _listed(sorted(folder.glob("*/*.png")), folder, "KITTI-STEP frames",
                        "Expected images/{split}/{seq:04d}/{frame:06d}.png.")
        return {f"{path.parent.name}/{path.stem}": path for path in files}

    def images_folder(self, root: Path, split: str) -> Path:
        return Path(root) / "images" / split

    def panoptic_folder(self, root: Path, split: str) -> Path:
        """The folder of a split's panoptic GT maps (ground truth: evaluation only)."""
        return Path(root) / "panoptic_maps" / split

    def panoptic_paths(self, root: Path, split: str) -> dict[str, Path]:
        """``key -> panoptic GT PNG`` of a split (ground truth: evaluation only)."""
        folder = self.panoptic_folder(root, split)
        files = _listed(sorted(folder.glob("*/*.png")), folder, "KITTI-STEP panoptic maps",
                        "The test split has no ground truth; download kitti-step.tar.gz for train and val.")
        return {f"{path.parent.name}/{path.stem}": path for path in files}


def step_ground_truth(panoptic: np.ndarray, source: str = "KITTI-STEP panoptic map") -> tuple[np.ndarray, np.ndarray]:
    """(trainIds HxW uint8, instance HxW int32, 0 = none) of a KITTI-STEP panoptic PNG (HxWx3 uint8)."""
    if panoptic.ndim != 3 or panoptic.shape[2] != 3 or panoptic.dtype != np.uint8:
        raise InputError(f"{source}: a KITTI-STEP panoptic map is 8-bit RGB (R class, G*256+B instance), got "
                         f"shape {panoptic.shape} dtype {panoptic.dtype}.")
    semantic = panoptic[:, :, 0]
    bad = (semantic >= cs.NUM_CLASSES) & (semantic != cs.IGNORE_ID)
    if bad.any():
        raise InputError(f"{source}: class {int(semantic[bad].max())} is not a Cityscapes trainId (0..18, 255).")
    instance = panoptic[:, :, 1].astype(np.int32) * 256 + panoptic[:, :, 2]
    return semantic.copy(), instance
