"""COCO-panoptic prediction JSON (one ``segments_info`` list per image): the one reader and its schema.

The panoptic evaluator reads it; the PNG each entry names is read with the
format's writer (:mod:`pseudo_labels.export.cityscapes_panoptic`), which checks
the categories and the PNG against the entry.
"""

from __future__ import annotations

from pathlib import Path

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import is_json_int, read_json


def read_prediction_json(path: str | Path) -> dict[str, dict]:
    """``image_id -> annotation`` of a COCO-panoptic prediction JSON, checked against the format's schema.

    Each annotation needs an ``image_id`` (string or integer, once per file), a
    ``file_name`` string and a ``segments_info`` list of objects with integer
    ``id`` (>= 1, once per image) and ``category_id``. The categories and the
    PNG's agreement with the list are checked when the image is read
    (:func:`read_prediction`).
    """
    data = read_json(path, "a COCO panoptic prediction JSON", "Re-export the predictions.")
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise InputError(f"{path}: not a COCO panoptic JSON: it needs an 'annotations' list.")
    return annotations_by_image(data["annotations"], path)


def annotations_by_image(entries: list, path: str | Path) -> dict[str, dict]:
    """``image_id -> annotation`` of an already parsed ``annotations`` list, checked by the rules of
    :func:`read_prediction_json` (the shard files of a sharded export hold such a list too)."""
    annotations: dict[str, dict] = {}
    for index, entry in enumerate(entries):
        where = f"{path}: annotation {index}"
        if not isinstance(entry, dict):
            raise InputError(f"{where} is {type(entry).__name__}, not an object.")
        image_id = entry.get("image_id")
        if not (isinstance(image_id, str) or is_json_int(image_id)):
            raise InputError(f"{where}: 'image_id' must be a string or an integer, got {image_id!r}.")
        if not isinstance(entry.get("file_name"), str) or not isinstance(entry.get("segments_info"), list):
            raise InputError(f"{where} (image {image_id!r}) needs a 'file_name' string and a 'segments_info' list.")
        if str(image_id) in annotations:
            raise InputError(f"{where}: image {image_id!r} is listed twice.")
        seen: set[int] = set()
        for segment in entry["segments_info"]:
            if not isinstance(segment, dict) or not all(is_json_int(segment.get(k)) for k in ("id", "category_id")):
                raise InputError(f"{where} (image {image_id!r}): every segment needs integer 'id' and "
                                 f"'category_id', got {segment!r}.")
            if segment["id"] < 1 or segment["id"] in seen:
                raise InputError(f"{where} (image {image_id!r}): segment id {segment['id']} is "
                                 f"{'listed twice' if segment['id'] in seen else 'below 1 (0 is void)'}.")
            seen.add(segment["id"])
        annotations[str(image_id)] = entry
    return annotations
