"""What CUPS' ``PseudoLabelDataset`` (visinf/cups, CVPR 2025) does with an exported label folder.

The exporter uses these rules to write labels CUPS reads as intended:

* **Thing/stuff split.** CUPS sums the ``.pt`` files of the folder, ranks the
  pseudo-classes by (pixels inside instances) / (all pixels), normalises the
  ranked ratios to sum 1 and calls the leading ones with a share above
  ``DATA.THING_STUFF_THRESHOLD`` things (:func:`thing_classes`). We report the
  interval of thresholds for which that yields exactly the intended thing set
  (:func:`threshold_interval`).
* **Size.** CUPS scales only the image, by ``DATA.SCALE``, then centre-crops
  image and labels alike; the labels must already have the scaled size
  (:func:`label_scale`).
* **Instance PNGs** are read by torchvision, which before 0.20 (CUPS pins
  0.16) reads 8-bit PNGs only.

The arithmetic follows CUPS' float32 torch code, so the interval is exact up to
the summation order of the ``.pt`` files (CUPS sums them in directory order).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pseudo_labels.core.errors import InputError

DEFAULT_SCALE = 0.625
"""CUPS' ``DATA.SCALE`` (configs/train_cityscapes.yaml): 1024x2048 images are trained at 640x1280."""
PNG_8BIT_LIMIT = 255
"""Most instances an 8-bit instance PNG holds (id 0 is "no instance")."""
INSIDE = "distribution inside object proposals"
EVERYWHERE = "distribution all pixels"


def _shares(inside: np.ndarray, everywhere: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CUPS' ranked, normalised inside-ratios (float32) and the class of each rank."""
    import torch

    ratio = torch.as_tensor(inside, dtype=torch.float32) / (torch.as_tensor(everywhere, dtype=torch.float32) + 1e-06)
    ranked, order = torch.sort(ratio, descending=True, stable=True)
    return (ranked / ranked.sum()).numpy(), order.numpy()


def thing_classes(inside: np.ndarray, everywhere: np.ndarray, threshold: float) -> tuple[int, ...]:
    """The pseudo-classes CUPS treats as things for ``threshold`` (its rule, including its edge case).

    CUPS counts the leading ranks whose share is above the threshold with an
    ``argmin`` over the booleans, so when every share is above it, it finds
    no things at all.
    """
    shares, order = _shares(inside, everywhere)
    above = shares > np.float32(threshold)
    count = int(np.argmin(above))  # first False; 0 when all are True, as in CUPS
    return tuple(sorted(int(c) for c in order[:count]))


@dataclass(frozen=True)
class ThresholdInterval:
    """Thresholds ``low <= t < high`` that give exactly ``things``; empty (None) when no threshold does."""

    things: tuple[int, ...]
    low: float | None
    high: float | None
    unreachable: tuple[int, ...]
    """Intended thing classes with no pixel inside any instance: CUPS can never call them things."""
    outranked_by: tuple[int, ...] = ()
    """Stuff classes whose inside-ratio ranks above an intended thing class (why the interval is empty)."""

    @property
    def suggested(self) -> float | None:
        """The interval's midpoint: robust to the float32 summation order CUPS uses."""
        if self.low is None or self.high is None:
            return None
        return float(np.float32((self.low + self.high) / 2))

    def as_json(self) -> dict:
        """For ``stats.json``."""
        return {"thing_classes": list(self.things), "low": self.low, "high": self.high,
                "suggested": self.suggested, "unreachable_thing_classes": list(self.unreachable),
                "stuff_classes_ranked_above_things": list(self.outranked_by)}


def threshold_interval(inside: np.ndarray, everywhere: np.ndarray, intended: tuple[int, ...]) -> ThresholdInterval:
    """The ``DATA.THING_STUFF_THRESHOLD`` values for which CUPS' rule yields the intended thing set.

    Classes never inside an instance cannot be things for any threshold, so
    the target is the intended classes that do occur inside instances.
    """
    inside = np.asarray(inside, np.float64)
    reachable = tuple(sorted(c for c in intended if inside[c] > 0))
    unreachable = tuple(sorted(c for c in intended if inside[c] <= 0))
    shares, order = _shares(inside, everywhere)
    count = len(reachable)
    if count == 0 or count >= len(shares):
        return ThresholdInterval(reachable, None, None, unreachable)
    if set(order[:count].tolist()) != set(reachable):
        lowest_thing = min(shares[list(order).index(c)] for c in reachable)
        above = tuple(sorted(int(c) for c, s in zip(order, shares) if c not in reachable and s >= lowest_thing))
        return ThresholdInterval(reachable, None, None, unreachable, above)
    high, low = float(shares[count - 1]), float(shares[count])
    if not high > low:  # a tie across the boundary: no threshold separates them
        return ThresholdInterval(reachable, None, None, unreachable)
    return ThresholdInterval(reachable, low, high, unreachable)


def read_distributions(folder: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """Sum the ``.pt`` files of a label folder as CUPS does (every name containing ``.pt``).

    Returns (inside, everywhere, number of files); unreadable files are an
    error naming the file, as they would crash CUPS.
    """
    import torch

    inside: np.ndarray | None = None
    everywhere: np.ndarray | None = None
    names = [name for name in sorted(os.listdir(folder)) if ".pt" in name]
    for name in names:
        path = Path(folder) / name
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
            pair = (data[INSIDE].numpy().astype(np.float64), data[EVERYWHERE].numpy().astype(np.float64))
        except Exception as exc:  # noqa: BLE001 - any unreadable file stops CUPS too
            raise InputError(f"{path}: CUPS would load this file as label statistics and cannot ({exc}). "
                             f"Remove it or re-run the export with --overwrite.") from None
        if inside is not None and pair[0].shape != inside.shape:
            raise InputError(f"{path}: {pair[0].shape[0]} classes where the folder's other .pt files have "
                             f"{inside.shape[0]}; CUPS cannot stack them. Export into a new --output_subdir.")
        inside = pair[0] if inside is None else inside + pair[0]
        everywhere = pair[1] if everywhere is None else everywhere + pair[1]
    if inside is None or everywhere is None:
        raise InputError(f"{folder}: no .pt files; CUPS needs one per image.")
    return inside, everywhere, len(names)


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
