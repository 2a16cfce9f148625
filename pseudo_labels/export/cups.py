"""What CUPS (visinf/cups, CVPR 2025) needs of an exported label folder besides its files: size and command.

* **Size.** CUPS scales only the image, by ``DATA.SCALE``, then centre-crops
  image and labels alike; the labels must already have the scaled size
  (:func:`label_scale`).
* **Instance PNGs** are read by torchvision, which before 0.20 (CUPS pins
  0.16) reads 8-bit PNGs only (:data:`PNG_8BIT_LIMIT`).
* **Training command**: upstream CUPS' README command with our values (:func:`train_command`).
* **Images.** For Cityscapes CUPS reads ``{DATA.ROOT}/leftImg8bit_sequence/{split}/{city}/{name}_leftImg8bit.png``
  beside each label's name; other data gets that layout as links to its own files (:func:`link_images`).
  torchvision's ``read_image`` decodes by content, so a JPEG behind a ``.png`` link is read as a JPEG.

How CUPS splits the pseudo-classes into things and stuff, and which
``DATA.THING_STUFF_THRESHOLD`` values give the intended split, is a rule of the
label folder: :mod:`pseudo_labels.formats.cups_labels`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

from pseudo_labels.core.errors import InputError

DEFAULT_SCALE = 0.625
"""CUPS' ``DATA.SCALE`` (configs/train_cityscapes.yaml): 1024x2048 images are trained at 640x1280."""
PNG_8BIT_LIMIT = 255
"""Most instances an 8-bit instance PNG holds (id 0 is "no instance")."""


def default_target(image_size: tuple[int, int]) -> tuple[int, int]:
    """The label size CUPS' default ``DATA.SCALE`` gives: ``F.interpolate``'s floor of size x 0.625."""
    return math.floor(image_size[0] * DEFAULT_SCALE), math.floor(image_size[1] * DEFAULT_SCALE)


def label_scale(image_size: tuple[int, int], target: tuple[int, int]) -> float:
    """CUPS' ``DATA.SCALE`` for labels of size ``target``: an error unless one factor maps the image exactly onto them.

    CUPS resizes the image by one scale factor (``F.interpolate``: floor of
    size x scale) and crops image and labels together, so the labels must
    have exactly the floored size of one factor: CUPS' default 0.625, or
    the factor of either side. Labels of another aspect ratio, or a size no
    factor reaches, would be misaligned.
    """
    (height, width), (target_h, target_w) = image_size, target
    for scale in (DEFAULT_SCALE, target_h / height, target_w / width):
        if math.floor(height * scale) == target_h and math.floor(width * scale) == target_w:
            return scale
    default_h, default_w = default_target(image_size)
    raise InputError(f"--target_h {target_h} --target_w {target_w} is not one scale of the {height}x{width} images: "
                     f"CUPS scales the image by one factor and crops labels and image together, so these labels "
                     f"would be misaligned. Use {default_h}x{default_w} (DATA.SCALE {DEFAULT_SCALE}, upstream CUPS) "
                     f"or {height}x{width} (the original repo's CUPS copy).")


def train_command(root: Path, root_pseudo: Path, threshold: float | None, scale: float,
                  crop: tuple[int, int] | None = None) -> str:
    """Upstream CUPS' training command (from its README) for this label folder, with our values; ``crop`` sets
    ``DATA.CROP_RESOLUTION`` (labels of other sizes than Cityscapes', which its config crops at 640x1280)."""
    value = "<no threshold separates the thing set; see stats.json>" if threshold is None else f"{threshold:.6g}"
    crop_setting = "" if crop is None else f' DATA.CROP_RESOLUTION "({crop[0]}, {crop[1]})"'
    root, root_pseudo = os.path.abspath(root), os.path.abspath(root_pseudo)  # CUPS runs in its own checkout
    return ("python -W ignore train.py --experiment_config_file configs/train_cityscapes.yaml "
            f'DATA.ROOT "{root}" DATA.ROOT_VAL "{root}" DATA.ROOT_PSEUDO "{root_pseudo}" '
            f"DATA.SCALE {scale:.10g} DATA.THING_STUFF_THRESHOLD {value}{crop_setting}")


IMAGE_FOLDER = "leftImg8bit_sequence"
"""The folder below ``DATA.ROOT`` CUPS reads Cityscapes-named training images from."""


def image_link(root: Path, split: str, name: str) -> Path:
    """Where CUPS looks for the image of label name ``name`` (``{city}_{seq}_{frame}``)."""
    return Path(root) / IMAGE_FOLDER / split / name.split("_")[0] / f"{name}_leftImg8bit.png"


def link_images(images: Mapping[str, Path], names: Mapping[str, str], root: Path, split: str = "train",
                overwrite: bool = False) -> int:
    """Make CUPS' image layout under ``root`` as symbolic links to ``images`` (key -> file), named by ``names``.

    Links, not copies: the images stay where they are. A link that already
    points at its image is kept; any other file in the way is an InputError
    naming it, unless ``overwrite``. Each link appears at once (made under a
    temporary name and renamed). Returns how many links were made.
    """
    made = 0
    for key, image in images.items():
        link, target = image_link(root, split, names[key]), Path(image).resolve()
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        if (link.exists() or link.is_symlink()) and not overwrite:
            raise InputError(f"{link}: already there and not a link to {target}; use another --cups_root or pass "
                             f"--overwrite.")
        link.parent.mkdir(parents=True, exist_ok=True)
        temporary = link.with_name(f".pl-tmp-{os.getpid()}-{link.name}")
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(target)
        os.replace(temporary, link)
        made += 1
    return made
