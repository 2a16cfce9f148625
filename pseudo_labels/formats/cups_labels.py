"""CUPS-format label folders: the files, their reader, and how CUPS splits the pseudo-classes into things and stuff.

A CUPS label folder is flat: per image ``{stem}_leftImg8bit_semantic.png``
(8-bit pseudo-class ids), ``{stem}_leftImg8bit_instance.png`` (instance ids,
0 = none) and ``{stem}_leftImg8bit.pt`` (two per-class pixel counts). CUPS'
``PseudoLabelDataset`` (visinf/cups, ``cups/data/pseudo_label_dataset.py``)
sums the ``.pt`` files, ranks the pseudo-classes by the share of their pixels
that lie inside instances and calls the leading ones things
(:func:`pseudo_class_split`). The export writes these files, the CUPS-protocol
evaluator and the sweep read them or compute the same numbers; the rules live
here once.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pseudo_labels.core.errors import InputError
from pseudo_labels.formats.semantic import read_label_png

INSIDE = "distribution inside object proposals"
EVERYWHERE = "distribution all pixels"
SEMANTIC_SUFFIX = "_leftImg8bit_semantic.png"
INSTANCE_SUFFIX = "_leftImg8bit_instance.png"
PT_SUFFIX = "_leftImg8bit.pt"
LABEL_SUFFIXES = (SEMANTIC_SUFFIX, INSTANCE_SUFFIX, PT_SUFFIX)
"""The three files of one image in a CUPS label folder."""
CUPS_DEFAULT_THRESHOLD = 0.08
"""CUPS' ``DATA.THING_STUFF_THRESHOLD`` default (``cups/config.py``)."""


def class_distributions(semantic: np.ndarray, instance_map: np.ndarray, num_classes: int) -> dict[str, np.ndarray]:
    """One image's ``.pt`` content: per-class pixel counts over all pixels and inside instances (instance > 0)."""
    valid = semantic < num_classes
    everywhere = np.bincount(semantic[valid].astype(np.int64), minlength=num_classes)[:num_classes]
    inside = np.bincount(semantic[valid & (instance_map > 0)].astype(np.int64), minlength=num_classes)[:num_classes]
    return {EVERYWHERE: everywhere.astype(np.float32), INSIDE: inside.astype(np.float32)}


def read_distributions(folder: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """Sum the ``.pt`` files of a label folder as CUPS does (every name containing ``.pt``), in float32.

    Files are summed in sorted order (CUPS uses directory order; the split does
    not depend on it beyond float32 rounding). Returns (inside, everywhere,
    number of files); unreadable files, or files of another length, are an
    error naming the file, as they would crash CUPS.
    """
    import torch

    inside: torch.Tensor | None = None
    everywhere: torch.Tensor | None = None
    names = [name for name in sorted(os.listdir(folder)) if ".pt" in name]
    for name in names:
        path = Path(folder) / name
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
            pair = (data[INSIDE].to(torch.float32).reshape(-1), data[EVERYWHERE].to(torch.float32).reshape(-1))
        except Exception as exc:  # noqa: BLE001 - any unreadable file stops CUPS too
            raise InputError(f"{path}: CUPS would load this file as label statistics and cannot ({exc}). "
                             f"Remove it or re-run the export with --overwrite.") from None
        if pair[0].shape != pair[1].shape or (inside is not None and pair[0].shape != inside.shape):
            length = inside.shape[0] if inside is not None else pair[1].shape[0]
            raise InputError(f"{path}: {pair[0].shape[0]} classes where the folder's other .pt vectors have "
                             f"{length}; CUPS cannot stack them. Export into a new --output_subdir.")
        inside = pair[0] if inside is None else inside + pair[0]
        everywhere = pair[1] if everywhere is None else everywhere + pair[1]
    if inside is None or everywhere is None:
        raise InputError(f"{folder}: no .pt files; CUPS needs one per image. Is this a CUPS export folder "
                         f"(pseudo-labels cups)?")
    return inside.numpy(), everywhere.numpy(), len(names)


def ranked_shares(inside: np.ndarray, everywhere: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CUPS' ranking: (float32 normalised inside-ratios, descending; the pseudo-class at each rank).

    ``torch.sort(descending=True)`` on the CPU, as CUPS calls it: pseudo-classes
    with equal ratios (every pure-stuff class has ratio 0) come in torch's tie
    order, which decides the label space and so the matching's row order.
    """
    import torch

    ratio = torch.as_tensor(np.asarray(inside, np.float32)) / (torch.as_tensor(np.asarray(everywhere, np.float32))
                                                               + 1e-06)
    ranked, order = torch.sort(ratio, descending=True)
    return (ranked / ranked.sum()).numpy(), order.numpy()


def pseudo_class_split(inside: np.ndarray, everywhere: np.ndarray, threshold: float
                       ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(things, stuffs) as CUPS reads them from the summed ``.pt`` vectors, both in CUPS' order.

    Things are the leading ranks whose share is above ``threshold``, counted
    with an ``argmin`` over the booleans: when every share is above it, there
    are no things at all (CUPS' edge case, kept).
    """
    shares, order = ranked_shares(inside, everywhere)
    count = int(np.argmin(shares > np.float32(threshold)))  # first False; 0 when all are True
    return tuple(int(c) for c in order[:count]), tuple(int(c) for c in order[count:])


def thing_classes(inside: np.ndarray, everywhere: np.ndarray, threshold: float) -> tuple[int, ...]:
    """The pseudo-classes CUPS treats as things for ``threshold`` (its rule, including its edge case).

    CUPS counts the leading ranks whose share is above the threshold with an
    ``argmin`` over the booleans, so when every share is above it, it finds
    no things at all.
    """
    return tuple(sorted(pseudo_class_split(inside, everywhere, threshold)[0]))


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
    shares, order = ranked_shares(inside, everywhere)
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


def threshold_range_for_things(inside: np.ndarray, everywhere: np.ndarray) -> tuple[float, float] | None:
    """The widest threshold interval ``[low, high)`` that leaves at least one thing, or None when none does."""
    shares, _ = ranked_shares(inside, everywhere)
    if len(shares) < 2 or not shares[0] > shares[-1]:
        return None
    return float(shares[-1]), float(shares[0])


# --------------------------------------------------------------------------- the label maps


_STEM = re.compile(r"^(?P<stem>.+)" + re.escape(SEMANTIC_SUFFIX) + "$")


def label_stems(folder: Path) -> list[str]:
    """Image stems (``city_seq_frame``) with a semantic PNG in a flat CUPS label folder, sorted."""
    if not Path(folder).is_dir():
        raise InputError(f"{folder}: not a folder. Pass the CUPS export folder (pseudo-labels cups --output_subdir).")
    return sorted(m["stem"] for m in map(_STEM.match, os.listdir(folder)) if m)


def read_semantic_labels(path: Path, num_classes: int) -> np.ndarray:
    """A ``*_semantic.png``: HxW uint8 pseudo-class ids below ``num_classes``, 255 = void (checked)."""
    array = read_label_png(path, num_classes, allow_ignore=True, limit_from=(
        "the length of the folder's .pt vectors; 255 is the only id allowed above them: void. The maps and the .pt "
        "files come from different exports; re-run the export into a new folder"))
    if array.dtype != np.uint8:
        raise InputError(f"{path}: expected an 8-bit single-channel map of pseudo-class ids, got dtype {array.dtype}.")
    return array


def read_instance_labels(path: Path) -> np.ndarray:
    """A ``*_instance.png``: HxW instance ids (8- or 16-bit, all 16 bits read), 0 = no instance."""
    return read_label_png(path)
