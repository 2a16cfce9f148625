"""Panoptic segments from another tool's instance masks: the original cascade evaluator's assembly.

Stuff classes become segments first, then each mask (by descending score,
named by its majority thing class) takes the pixels still free; ``hybrid``
mode adds the connected components of thing pixels no mask covers.
"""

from __future__ import annotations


import numpy as np

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.instances import splitting as inst


THING_MODES = ("connected_components", "maskcut", "hybrid")




def segments_from_masks(semantic: np.ndarray, masks: np.ndarray, scores: np.ndarray, min_stuff_area: int,
                        min_new_pixels: int) -> pan.Segments:
    """Stuff classes as segments, then masks by descending score (majority thing class) onto free pixels."""
    ids, stuff = pan.stuff_segment_ids(semantic, min_stuff_area)  # thing (and small-stuff) pixels stay free
    classes = list(stuff)
    for index in np.argsort(-scores, kind="stable"):
        mask = masks[index]
        if not mask.any():
            continue
        majority = int(np.bincount(semantic[mask], minlength=256).argmax())
        if not cs.IS_THING[majority]:
            continue
        new = mask & (ids == 0)
        if new.sum() >= min_new_pixels:
            classes.append(majority)
            ids[new] = len(classes)
    return pan.segments_from_ids(ids, classes)


def add_leftover_components(segments: pan.Segments, semantic: np.ndarray, things: tuple[int, ...],
                            min_area: int) -> pan.Segments:
    """Hybrid mode: each connected component (>= ``min_area`` px) of thing pixels no segment covers, as a segment."""
    ids = segments.ids.copy()
    classes = segments.classes[1:].tolist()
    leftover = inst.cc_instances(np.where(ids == 0, semantic, cs.IGNORE_ID).astype(np.uint8), min_area, things)
    for mask, class_id in zip(leftover.masks(), leftover.classes):
        classes.append(int(class_id))
        ids[mask] = len(classes)
    return pan.segments_from_ids(ids, classes)
