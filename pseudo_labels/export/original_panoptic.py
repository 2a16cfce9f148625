"""The original ``generate_panoptic_pseudolabels.py`` assembly: semantic map + instance masks -> class*1000+instance.

Per image, at the semantic map's own size (instance masks resized to it with
Pillow NEAREST):

1. masks in descending score (``np.argsort(-scores)``, the original's call, so
   ties fall the same way), each with >= 10 pixels, named by the majority id
   of the semantic pixels under it that are < 19; a mask whose name is a thing
   id takes its free pixels when there are >= 10 of them, as
   ``id * 1000 + n`` (n = 1, 2, ... per id);
2. each stuff id, ascending, takes its free pixels when there are >= 64, as
   ``id * 1000``;
3. the free pixels of each thing id, ascending, become instances by
   4-connected components of >= 10 pixels, numbered after that id's masks.

Pixels left over are 0 -- as is stuff id 0 (road), as in the original. The
visualisation PNG holds ``id * 256 + n`` per segment (uint16), so ids must be
below 256 there. Pure functions over arrays; the CLI does the file I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import ndimage

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.core.errors import InputError
from pseudo_labels.formats.instance_npz import InstanceMasks

MIN_MASK_PIXELS = 10
MIN_STUFF_PIXELS = 64
VOTING_IDS = 19
"""Only semantic ids below this vote for a mask's name (the original assumed trainIds)."""
FALLBACK_SCORE = 0.1
"""Score the original gives the connected-component instances of step 3."""


def panoptic_map(semantic: np.ndarray, instances: InstanceMasks | None, stuff_ids: Iterable[int],
                 thing_ids: Iterable[int]) -> tuple[np.ndarray, list[dict]]:
    """HxW int32 ``id * 1000 + n`` and the segment list (the original's ``segment_info``), see the module doc."""
    stuff_ids, thing_ids = sorted(set(stuff_ids)), sorted(set(thing_ids))
    things = set(thing_ids)
    shape = semantic.shape
    panoptic = np.zeros(shape, np.int32)
    assigned = np.zeros(shape, bool)
    segments: list[dict] = []
    counter: Counter[int] = Counter()
    if instances is not None and len(instances):
        order = np.argsort(-instances.scores) if instances.scores is not None else np.arange(len(instances))
        for index in order:
            mask = instances.at(int(index), shape)
            if mask.sum() < MIN_MASK_PIXELS:
                continue
            votes = semantic[mask]
            votes = votes[votes < VOTING_IDS]
            if len(votes) == 0:
                continue
            name = int(np.bincount(votes, minlength=VOTING_IDS).argmax())
            if name not in things:
                continue
            free = mask & ~assigned
            area = int(free.sum())
            if area < MIN_MASK_PIXELS:
                continue
            counter[name] += 1
            segment_id = name * cs.INSTANCE_OFFSET + counter[name]
            panoptic[free] = segment_id
            assigned |= free
            score = float(instances.scores[index]) if instances.scores is not None else 1.0
            segments.append(_segment(segment_id, name, True, area, round(score, 4)))
    for class_id in stuff_ids:
        free = (semantic == class_id) & ~assigned
        area = int(free.sum())
        if area < MIN_STUFF_PIXELS:
            continue
        panoptic[free] = class_id * cs.INSTANCE_OFFSET
        assigned |= free
        segments.append(_segment(class_id * cs.INSTANCE_OFFSET, class_id, False, area))
    for class_id in thing_ids:
        free = (semantic == class_id) & ~assigned
        if free.sum() < MIN_MASK_PIXELS:
            continue
        labels, count = ndimage.label(free)
        sizes = np.bincount(labels.ravel(), minlength=count + 1)
        number = max((s["id"] % cs.INSTANCE_OFFSET for s in segments if s["category_id"] == class_id and s["isthing"]),
                     default=0)
        new_ids = np.zeros(count + 1, np.int64)
        for label in np.flatnonzero(sizes[1:] >= MIN_MASK_PIXELS) + 1:
            number += 1
            new_ids[label] = class_id * cs.INSTANCE_OFFSET + number
            segments.append(_segment(int(new_ids[label]), class_id, True, int(sizes[label]), FALLBACK_SCORE))
        taken = new_ids[labels] > 0
        panoptic[taken] = new_ids[labels][taken]
        assigned |= taken
    return panoptic, segments


def _segment(segment_id: int, class_id: int, is_thing: bool, area: int, score: float | None = None) -> dict:
    """One ``segment_info`` entry with the original's keys."""
    entry = {"id": int(segment_id), "category_id": int(class_id), "category_name": cs.original_class_name(class_id),
             "isthing": is_thing, "area": int(area)}
    if score is not None:
        entry["score"] = score
    return entry


def visualisation(panoptic: np.ndarray, segments: Sequence[dict]) -> np.ndarray:
    """HxW uint16: ``id * 256 + n`` on each segment's pixels (a later segment of the same id wins), else 0."""
    values = {s["id"]: s["category_id"] * 256 + s["id"] % cs.INSTANCE_OFFSET for s in segments}
    ids, inverse = np.unique(panoptic, return_inverse=True)
    lookup = np.array([values.get(int(i), 0) for i in ids], np.int64)
    if lookup.size and lookup.max() > np.iinfo(np.uint16).max:
        raise InputError(f"segment value {int(lookup.max())} does not fit the uint16 _panoptic.png (id*256 + n): "
                         f"ids must be below 256 there.")
    return lookup[inverse.reshape(panoptic.shape)].astype(np.uint16)


def run_statistics(per_image: Sequence[Sequence[dict]], stuff_ids: Iterable[int], thing_ids: Iterable[int]) -> dict:
    """The original's ``stats.json`` (without its wall-clock ``elapsed_seconds``)."""
    images = len(per_image)
    segments = [s for image in per_image for s in image]
    things = sum(1 for s in segments if s["isthing"])
    per_class = Counter(s["category_id"] for s in segments)
    denominator = max(images, 1)
    return {
        "total_images": images,
        "total_segments": len(segments),
        "total_stuff_segments": len(segments) - things,
        "total_thing_segments": things,
        "avg_segments_per_image": round(len(segments) / denominator, 2),
        "avg_stuff_per_image": round((len(segments) - things) / denominator, 2),
        "avg_things_per_image": round(things / denominator, 2),
        "per_class_segment_counts": {cs.original_class_name(k): v for k, v in sorted(per_class.items())},
        "stuff_ids": sorted(set(stuff_ids)),
        "thing_ids": sorted(set(thing_ids)),
    }
