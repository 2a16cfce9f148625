"""One image of the CUPS export: read and check its semantic map, find its instances, write its three files.

Per image ``{stem}_leftImg8bit_semantic.png`` (uint8 pseudo-class ids),
``{stem}_leftImg8bit_instance.png`` (8-bit, 0 = no instance) and
``{stem}_leftImg8bit.pt`` (per-class pixel counts, all pixels and inside
instances, from the written PNGs). Every instance's pixels hold one semantic
id, its majority class, so CUPS (which names an instance by the largest id
under it) keeps it with that class. :mod:`pseudo_labels.export.cups_export`
runs this over a split; the functions here are what its worker processes call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import write_png, write_pt
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data.frames import working_size
from pseudo_labels.evaluation.panoptic import THING_MIN_AREA
from pseudo_labels.export import cups, training
from pseudo_labels.formats.cups_labels import class_distributions
from pseudo_labels.formats.depth import load_depth
from pseudo_labels.formats.instance_npz import read_instance_masks
from pseudo_labels.formats.semantic import read_label_png
from pseudo_labels.instances.painting import (MAX_INSTANCES, instance_classes, instance_id_map,
                                              paint_instance_classes)
from pseudo_labels.instances.settings import SplitSettings
from pseudo_labels.instances.splitting import split
from pseudo_labels.instances.units import Units

log = logging.getLogger("cups")  # the command's name: log lines read as they did when this lived in the command


@dataclass(frozen=True)
class ExportSettings:
    """What every image of one export shares.

    ``mode``: "npz" (instance files), "depth" or "cc" (the evaluated split),
    "legacy" (the original exporter's per-cluster split). ``units``: how the
    split reads the semantic ids (not used for "npz"). ``things``: the thing
    pseudo-classes in the written ids (``read_things``: in the ids read). ``num_ids``: the ids a map read may
    hold (255 besides them with ``allow_ignore``). ``output_ids``: (256,) lookup from the
    input ids to the written ids (trainIds -> CAUSE ids with --trainid_input). ``num_classes``: the ids
    the written maps may hold, the length of the ``.pt`` distributions.
    """

    output: Path
    mode: str
    units: Units
    things: tuple[int, ...]
    read_things: tuple[int, ...]
    num_ids: int
    allow_ignore: bool
    output_ids: np.ndarray | None
    split: SplitSettings
    target: tuple[int, int] | None
    """None: each map's size x CUPS' default scale (frames of other layouts, of any size)."""
    num_classes: int
    png_bits: int


def read_semantic(settings: ExportSettings, path: Path) -> np.ndarray:
    """The semantic map, every id checked at full resolution (the pre-pass and the export call this)."""
    semantic = read_label_png(path, settings.num_ids, settings.allow_ignore)
    if semantic.dtype != np.uint8:
        raise InputError(f"{path}: a 16-bit semantic map; CUPS reads 8-bit pseudo-classes (k <= 255).")
    return semantic


def check_semantic(settings: ExportSettings, path: Path) -> tuple[int, int]:
    """The pre-pass over one map, before anything is written; returns its (H, W).

    Every id read must be one the inputs allow (:func:`read_semantic`), and
    every id written -- after ``output_ids`` -- must be below ``num_classes``:
    the ``.pt`` distributions have that many entries, so a larger id would be
    written to the PNG and silently left out of the counts CUPS ranks classes by.
    """
    semantic = read_semantic(settings, path)
    written = semantic if settings.output_ids is None else settings.output_ids[semantic]
    values = written[written != cs.IGNORE_ID] if settings.allow_ignore else written
    top = int(values.max()) if values.size else 0
    if top >= settings.num_classes:
        raise InputError(f"{path}: id {top} is not below --num_classes {settings.num_classes}, the number of "
                         f"pseudo-classes the .pt distributions count. Pass the number of pseudo-classes of the "
                         f"semantic maps as --num_classes.")
    return semantic.shape


def check_semantic_job(job: tuple[ExportSettings, Path]) -> tuple[int, int]:
    """:func:`check_semantic` on one ``(settings, path)`` pair (what the worker processes receive)."""
    return check_semantic(*job)


def npz_instances(path: Path, semantic: np.ndarray, things: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The original's default mode: an instance map from a ``.npz`` of masks, and each instance's class.

    Masks in descending score order; a mask is kept when the majority id of the
    semantic map (at the masks' size) under it is a thing, and it takes the
    pixels no earlier mask took. Returns the uint16 map (ids 1..N) at the masks'
    size and the (N+1,) class of each id.
    """
    found = read_instance_masks(path, require=("scores", "num_valid", "h_patches", "w_patches"))
    masks, scores = found.masks, found.scores
    height, width = masks.shape[1:]
    labels = cs.resize_nearest(semantic, (height, width))
    instance_map = np.zeros((height, width), np.uint16)
    classes = [0]
    thing_set = set(things)
    for index in np.argsort(-scores):
        values = labels[masks[index]]
        if not values.size:
            continue
        majority = int(np.bincount(values).argmax())
        fresh = masks[index] & (instance_map == 0)
        if majority in thing_set and fresh.any():
            if len(classes) > MAX_INSTANCES:
                raise InputError(f"{path}: more than {MAX_INSTANCES} instances; raise the minimum area.")
            instance_map[fresh] = len(classes)
            classes.append(majority)
    return instance_map, np.array(classes, np.uint16)


def label_size(settings: ExportSettings, semantic: np.ndarray) -> tuple[int, int]:
    """(H, W) of an image's labels: the export's target, or its map's size x CUPS' default ``DATA.SCALE``."""
    return settings.target or cups.default_target(semantic.shape)


def split_instances(settings: ExportSettings, semantic: np.ndarray, path: Path, depth_path: Path
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The evaluated algorithm at the working size (512x1024 for Cityscapes; or the legacy split at the target
    size) and each instance's class."""
    if settings.mode == "legacy":
        settings.units.unit_map(semantic, path)  # checks the ids
        target = label_size(settings, semantic)
        labels = cs.resize_nearest(semantic, target)
        depth = load_depth(depth_path, target) if settings.split.uses_depth else None
        instance_map = training.legacy_instance_map(labels, settings.read_things, depth, settings.split)
    else:
        size = working_size(*semantic.shape)
        labels = cs.resize_nearest(semantic, size)
        depth = load_depth(depth_path, size) if settings.split.uses_depth else None
        found = split(settings.units.unit_map(labels, path), settings.units.things, depth, settings.split)
        instance_map, _ = instance_id_map(found, THING_MIN_AREA)
    return instance_map, instance_classes(instance_map, labels, settings.units.max_id + 1)


def instance_png(instance_map: np.ndarray, bits: int, key: str) -> np.ndarray:
    """The instance map as CUPS can read it: 8-bit when it fits, else an error unless 16 bits are allowed."""
    largest = int(instance_map.max()) if instance_map.size else 0
    if largest <= cups.PNG_8BIT_LIMIT:
        return instance_map.astype(np.uint8)
    if bits == 8:
        raise InputError(f"{key}: {largest} instances do not fit an 8-bit instance PNG, the only kind CUPS' pinned "
                         f"torchvision (0.16) reads. Raise --min_instance_area, or pass --instance_png_bits 16 for a "
                         f"CUPS with torchvision >= 0.20.")
    log.warning("%s: %d instances, written as a 16-bit PNG that CUPS' pinned torchvision cannot read", key, largest)
    return instance_map


def export_image(settings: ExportSettings, name: str, semantic_path: Path, aux_path: Path) -> int:
    """Write one image's semantic PNG, instance PNG and ``.pt`` distributions, named ``{name}_leftImg8bit*``
    (its Cityscapes-style name: :func:`~pseudo_labels.data.frames.cityscapes_names`); returns its instance count.

    ``aux_path`` is the image's instance ``.npz`` in the "npz" mode, else its depth map.
    """
    semantic = read_semantic(settings, semantic_path)
    target = label_size(settings, semantic)
    semantic_out = cs.resize_nearest(semantic, target)
    if settings.mode == "npz":
        if settings.output_ids is not None:
            semantic_out = settings.output_ids[semantic_out]
        instance_map, classes = npz_instances(aux_path, semantic_out, settings.things)
    else:
        instance_map, classes = split_instances(settings, semantic, semantic_path, aux_path)
        if settings.output_ids is not None:
            semantic_out, classes = settings.output_ids[semantic_out], settings.output_ids[classes]
    instance_out = cs.resize_nearest(instance_map, target)
    semantic_out = paint_instance_classes(semantic_out, instance_out, classes)
    instance_out = instance_png(instance_out, settings.png_bits, str(semantic_path))
    stem = f"{name}_leftImg8bit"
    write_png(settings.output / f"{stem}_semantic.png", semantic_out)
    write_png(settings.output / f"{stem}_instance.png", instance_out)
    distributions = class_distributions(semantic_out, instance_out, settings.num_classes)
    write_pt(settings.output / f"{stem}.pt", {name: torch.from_numpy(v) for name, v in distributions.items()})
    return int(np.count_nonzero(np.bincount(instance_out.ravel())[1:]))


def export_job(job: tuple[ExportSettings, str, Path, Path]) -> int:
    """:func:`export_image` on one ``(settings, name, semantic path, aux path)`` tuple (for worker processes)."""
    return export_image(*job)
