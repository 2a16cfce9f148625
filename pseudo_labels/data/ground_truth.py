"""The panoptic ground truth of a split in the Cityscapes instanceIds encoding, whatever the dataset (evaluation only).

Ground truth is read only to evaluate: no stage that makes pseudo-labels reads
it. Every evaluator that takes ``--gt_layout`` lists and reads its GT here::

    cityscapes  {root}/gtFine/{split}/{city}/{stem}_gtFine_instanceIds.png   (read as distributed)
    kitti_step  {root}/panoptic_maps/{split}/{seq}/{frame}.png                (R trainId, G*256+B instance)
    bdd100k     {root}/labels/pan_seg/bitmasks/{split}/{name}.png             (RGBA bitmask)

:func:`ground_truth` names every GT image as the exports name its prediction:
the flat Cityscapes-style name :func:`~pseudo_labels.data.frames.cityscapes_names`
gives the frame keys of the split's images (a Cityscapes stem stays itself, so
a Cityscapes split needs only its gtFine folder). :func:`read_instance_ids`
returns one HxW int32 map in gtFine's instanceIds encoding: ``labelId * 1000 + n``
for instance ``n`` >= 1 of a thing class, the plain labelId elsewhere (a thing
pixel without instance is crowd) and 0 (void) for pixels of no evaluated class.
KITTI-STEP and BDD100K maps go through their readers
(:func:`~pseudo_labels.data.kitti.step_ground_truth`,
:func:`~pseudo_labels.data.bdd100k.bdd_ground_truth`) and
:func:`~pseudo_labels.data.cityscapes.instance_ids_of`; their instances are
renumbered 1..n per image first, so track ids of 1000 or more still fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pseudo_labels.core.errors import InputError
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data.bdd100k import bdd_ground_truth
from pseudo_labels.data.frames import cityscapes_names, layout_named
from pseudo_labels.data.kitti import step_ground_truth

CITYSCAPES = "cityscapes"
GT_LAYOUTS = (CITYSCAPES, "kitti_step", "bdd100k")
"""The layouts whose panoptic ground truth the evaluators read (``--gt_layout``)."""


@dataclass(frozen=True)
class GtSource:
    """One GT image: its file, its frame key and the layout that says how to read it."""

    layout: str
    key: str
    path: Path

    def read(self) -> np.ndarray:
        """HxW int32 Cityscapes instanceIds of this image (:func:`read_instance_ids`)."""
        return read_instance_ids(self)


def _check_layout(layout: str) -> None:
    if layout not in GT_LAYOUTS:
        raise InputError(f"--gt_layout {layout!r}: ground truth is read for {', '.join(GT_LAYOUTS)} only.")


def gt_folder(layout: str, root: str | Path, split: str) -> Path:
    """The folder holding the split's GT files (for messages, and so an output is never written inside it)."""
    _check_layout(layout)
    if layout == CITYSCAPES:
        return Path(root) / "gtFine" / split
    return layout_named(layout).panoptic_folder(root, split)


def ground_truth(layout: str, root: str | Path, split: str) -> dict[str, GtSource]:
    """``name -> GtSource`` of every GT image of a split, in frame-key order.

    ``name`` is the Cityscapes-style name the exports give the frame's
    prediction (:func:`~pseudo_labels.data.frames.cityscapes_names` over the
    keys of the split's images under ``root``). A missing or empty GT folder,
    or a GT file without its image (its prediction cannot be named), is an
    InputError naming it.
    """
    _check_layout(layout)
    if layout == CITYSCAPES:
        return {key.split("/")[1]: GtSource(layout, key, path) for key, path in cs.instance_ids_paths(root, split).items()}
    frames = layout_named(layout)
    files = frames.panoptic_paths(root, split)  # the GT first: a missing GT folder is named before the images
    keys = list(frames.frames(root, split))
    known = set(keys)
    orphans = [path for key, path in files.items() if key not in known]
    if orphans:
        raise InputError(f"{orphans[0]}: ground truth without its image under {root} ({len(orphans)} such file(s)); "
                         f"predictions are named by the split's images (cityscapes_names), so this one cannot be "
                         f"paired. Restore the image or remove the GT file.")
    names = cityscapes_names(keys)
    return {names[key]: GtSource(layout, key, path) for key, path in files.items()}


def _renumbered(train_ids: np.ndarray, instances: np.ndarray, source: Path) -> np.ndarray:
    """Instances of thing pixels renumbered 1..n in ascending order (0 stays none); other pixels 0."""
    kept = np.where(cs.IS_THING[train_ids], instances, 0)
    present = np.flatnonzero(np.bincount(kept.ravel()))
    present = present[present > 0]
    if len(present) >= cs.INSTANCE_OFFSET:
        raise InputError(f"{source}: {len(present)} instances in one image; the Cityscapes encoding "
                         f"(labelId * 1000 + n) holds at most {cs.INSTANCE_OFFSET - 1}.")
    lookup = np.zeros(int(kept.max(initial=0)) + 1, np.int32)
    lookup[present] = np.arange(1, len(present) + 1, dtype=np.int32)
    return lookup[kept]


def read_instance_ids(source: GtSource) -> np.ndarray:
    """HxW int32 Cityscapes instanceIds of one GT image; a file of the wrong kind or an unknown class is an
    InputError naming it."""
    path = source.path
    if source.layout == CITYSCAPES:
        return cs.load_instance_ids(path)
    if source.layout == "kitti_step":
        panoptic = cs.read_png(path, ("RGB",), "a KITTI-STEP panoptic map",
                               "Use the panoptic_maps PNG as distributed (R class, G*256+B instance).")
        train_ids, instances = step_ground_truth(panoptic, str(path))
        return cs.instance_ids_of(train_ids, _renumbered(train_ids, instances, path))
    if source.layout == "bdd100k":
        bitmask = cs.read_png(path, ("RGBA",), "a BDD100K pan_seg bitmask",
                              "Use the labels/pan_seg/bitmasks PNG as distributed.")
        train_ids, instances, excluded = bdd_ground_truth(bitmask, str(path))
        return cs.instance_ids_of(train_ids, _renumbered(train_ids, instances, path), excluded)
    _check_layout(source.layout)
    raise AssertionError(source.layout)
