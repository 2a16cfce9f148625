"""What CUPS (visinf/cups, CVPR 2025) needs of an exported label folder besides its files: size and command.

* **Size.** CUPS scales only the image, by ``DATA.SCALE``, then centre-crops
  image and labels alike; the labels must already have the scaled size
  (:func:`label_scale`).
* **Instance PNGs** are read by torchvision, which before 0.20 (CUPS pins
  0.16) reads 8-bit PNGs only (:data:`PNG_8BIT_LIMIT`).
* **Training command**: upstream CUPS' README command with our values (:func:`train_command`).

How CUPS splits the pseudo-classes into things and stuff, and which
``DATA.THING_STUFF_THRESHOLD`` values give the intended split, is a rule of the
label folder: :mod:`pseudo_labels.formats.cups_labels`.
"""

from __future__ import annotations

import math
from pathlib import Path

from pseudo_labels.core.errors import InputError

DEFAULT_SCALE = 0.625
"""CUPS' ``DATA.SCALE`` (configs/train_cityscapes.yaml): 1024x2048 images are trained at 640x1280."""
PNG_8BIT_LIMIT = 255
"""Most instances an 8-bit instance PNG holds (id 0 is "no instance")."""


def label_scale(image_size: tuple[int, int], target: tuple[int, int]) -> float:
    """CUPS' ``DATA.SCALE`` for labels of size ``target``: an error unless it maps the image exactly onto them.

    CUPS resizes the image by one scale factor (``F.interpolate``, floor of
    size x scale) and crops image and labels together, so labels of another
    aspect ratio, or a size that factor does not reach, are misaligned.
    """
    (height, width), (target_h, target_w) = image_size, target
    scale = target_h / height
    if target_h * width != target_w * height or math.floor(width * scale) != target_w \
            or math.floor(height * scale) != target_h:
        raise InputError(f"--target_h {target_h} --target_w {target_w} is not an exact scale of the {height}x{width} "
                         f"images: CUPS scales the image by one factor and crops labels and image together, so these "
                         f"labels would be misaligned. Use {round(height * DEFAULT_SCALE)}x{round(width * DEFAULT_SCALE)}"
                         f" (DATA.SCALE {DEFAULT_SCALE}, upstream CUPS) or {height}x{width} (the original repo's CUPS copy).")
    return scale


def train_command(root: Path, root_pseudo: Path, threshold: float | None, scale: float) -> str:
    """Upstream CUPS' training command (from its README) for this label folder, with our values."""
    value = "<no threshold separates the thing set; see stats.json>" if threshold is None else f"{threshold:.6g}"
    return ("python -W ignore train.py --experiment_config_file configs/train_cityscapes.yaml "
            f'DATA.ROOT "{root}" DATA.ROOT_VAL "{root}" DATA.ROOT_PSEUDO "{root_pseudo}" '
            f"DATA.SCALE {scale:.10g} DATA.THING_STUFF_THRESHOLD {value}")
