"""Cityscapes panoptic format (COCO-style): RGB-encoded id PNGs plus one JSON of ``segments_info``.

A segment id ``i`` is stored as the colour ``(i % 256, i // 256 % 256, i // 65536)``;
``category_id`` is the Cityscapes labelId (as ``createPanopticImgs`` writes GT
without ``--use-train-id``); label-free clusters, which have no class, are
categories ``cluster + 1`` (COCO numbers categories from 1), each marked thing
or stuff by the label-free decision. This module converts :class:`~pseudo_labels.evaluation.panoptic.Segments`
to and from that format; evaluation never needs a GT conversion step.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import write_json, write_png
from pseudo_labels.evaluation.panoptic import Segments

PANOPTIC_SUFFIX = "_panoptic.png"


def id_to_rgb(ids: np.ndarray) -> np.ndarray:
    """HxW segment ids (< 2**24) -> HxWx3 uint8 colours."""
    ids = ids.astype(np.int64)
    return np.stack([ids % 256, ids // 256 % 256, ids // 65536 % 256], axis=-1).astype(np.uint8)


def rgb_to_id(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 colours (RGB order) -> HxW int32 segment ids."""
    ids = rgb[..., 2].astype(np.int32) << 16
    ids |= rgb[..., 1].astype(np.int32) << 8
    ids |= rgb[..., 0]
    return ids


MAX_TABLE_ID = 1 << 20
"""Stored ids below this are mapped through a lookup table; larger ones by binary search."""


def category_ids(space: cs.ClassSpace) -> np.ndarray:
    """(classes,) COCO ``category_id`` of each class of ``space``: the labelId of a trainId, ``cluster + 1``."""
    if space == cs.TRAIN_ID_CLASSES:
        return cs.TRAIN_ID_TO_LABEL_ID[: cs.NUM_CLASSES].astype(np.int64)
    return np.arange(1, len(space.names) + 1)


def categories(space: cs.ClassSpace = cs.TRAIN_ID_CLASSES) -> list[dict]:
    """The JSON's ``categories``: the 19 evaluated Cityscapes classes, or one per label-free cluster."""
    ids = category_ids(space)
    return [{"id": int(ids[c]), "name": name, "isthing": int(c in space.things)} for c, name in enumerate(space.names)]


def segments_info(segments: Segments) -> list[dict]:
    """COCO ``segments_info`` of a prediction: id, category (:func:`category_ids`), area, bbox, iscrowd 0."""
    category_of = category_ids(segments.space)
    areas = np.bincount(segments.ids.ravel(), minlength=segments.count + 1)
    boxes = ndimage.find_objects(segments.ids, max_label=segments.count)
    info = []
    for seg_id, box in enumerate(boxes, start=1):
        if box is None:
            continue
        rows, cols = box
        info.append({
            "id": seg_id,
            "category_id": int(category_of[segments.classes[seg_id]]),
            "area": int(areas[seg_id]),
            "bbox": [cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start],
            "iscrowd": 0,
        })
    return info


def write_prediction_png(pred_dir: str | Path, stem: str, segments: Segments) -> dict:
    """Write ``{pred_dir}/{stem}_panoptic.png``; returns the image's JSON annotation."""
    file_name = f"{stem}{PANOPTIC_SUFFIX}"
    write_png(Path(pred_dir) / file_name, id_to_rgb(segments.ids))
    return {"image_id": stem, "file_name": file_name, "segments_info": segments_info(segments)}


def write_prediction_json(json_path: str | Path, annotations: list[dict], space: cs.ClassSpace = cs.TRAIN_ID_CLASSES,
                          **extra: object) -> Path:
    """The JSON listing ``annotations`` (in the given order) and the categories of ``space`` (:func:`categories`)."""
    return write_json(json_path, {"annotations": annotations, "categories": categories(space), **extra})


def write_predictions(pred_dir: str | Path, json_path: str | Path,
                      items: Iterable[tuple[str, Segments]]) -> Path:
    """Write ``{pred_dir}/{stem}_panoptic.png`` per ``(stem, segments)`` and the JSON listing them."""
    return write_prediction_json(json_path, [write_prediction_png(pred_dir, stem, seg) for stem, seg in items])


def read_segment_ids(png_path: str | Path) -> np.ndarray:
    """HxW int32 segment ids of an RGB-encoded panoptic PNG.

    OpenCV decodes to BGR; the ids are composed from those channels directly
    (no RGB copy), which matters where thousands of 2-Mpx maps are read.
    """
    colours = cv2.imread(str(png_path), cv2.IMREAD_UNCHANGED)
    if colours is None:  # missing or unreadable: let Pillow name the problem
        colours = cs.read_png(png_path)
        if colours.ndim == 3:
            colours = colours[:, :, 2::-1]
    if colours.ndim != 3 or colours.shape[2] < 3 or colours.dtype != np.uint8:
        raise InputError(f"{png_path}: a panoptic PNG must be 8-bit RGB (segment ids as colours), "
                         f"got shape {colours.shape} dtype {colours.dtype}.")
    ids = colours[:, :, 0].astype(np.int32) << 16  # B: id // 65536
    ids |= colours[:, :, 1].astype(np.int32) << 8
    ids |= colours[:, :, 2]  # R: id % 256
    return ids


def read_prediction(png_path: str | Path, annotation: dict) -> Segments:
    """One predicted image as :class:`Segments` (compact ids), checking the PNG against its JSON entry."""
    raw = read_segment_ids(png_path)
    listed = {int(s["id"]): s for s in annotation.get("segments_info", [])}
    ids_sorted = np.array(sorted(listed), np.int64)
    classes = []
    for seg_id in ids_sorted:
        category = int(listed[int(seg_id)]["category_id"])
        train_id = int(cs.LABEL_ID_TO_TRAIN_ID[category]) if 0 <= category < 256 else cs.IGNORE_ID
        if train_id == cs.IGNORE_ID:
            raise InputError(f"{png_path}: segment {seg_id} has category_id {category}, which is not one of the "
                             f"19 evaluated Cityscapes labelIds.")
        classes.append(train_id)
    lookup = np.concatenate([[0], ids_sorted])  # compact id -> stored id (0 = void)
    largest = int(raw.max())
    if largest < MAX_TABLE_ID:  # the usual case: one table look-up per pixel
        table = np.full(max(largest, int(lookup[-1])) + 1, -1, np.int32)
        table[lookup] = np.arange(len(lookup), dtype=np.int32)
        compact = table[raw]
        unlisted = compact < 0
    else:
        compact = np.minimum(np.searchsorted(lookup, raw), len(lookup) - 1).astype(np.int32)
        unlisted = lookup[compact] != raw
    if unlisted.any():
        raise InputError(f"{png_path}: segment ids {np.unique(raw[unlisted])[:10].tolist()} are in the PNG but not in "
                         f"the JSON entry for image {annotation.get('image_id')!r}. Re-export the predictions.")
    absent = ids_sorted[np.bincount(compact.ravel(), minlength=len(lookup))[1:] == 0]
    if len(absent):
        raise InputError(f"{png_path}: segment ids {absent[:10].tolist()} are in the JSON but not in the PNG. "
                         f"Re-export the predictions.")
    return Segments(compact, np.array([cs.IGNORE_ID, *classes], np.uint8), np.zeros(len(classes) + 1, bool))
