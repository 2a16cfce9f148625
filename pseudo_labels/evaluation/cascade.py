"""The cascade evaluation: a semantic folder (and an instance folder) scored by mIoU, PQ and instance AP.

Panoptic segments from another tool's instance masks are the original cascade
evaluator's assembly: stuff classes become segments first, then each mask (by
descending score, named by its majority thing class) takes the pixels still
free; ``hybrid`` mode adds the connected components of thing pixels no mask
covers. :func:`evaluate_folders` runs the whole evaluation of a split.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pseudo_labels.core.errors import InputError
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.evaluation.instance_metrics import InstanceTotals, gt_thing_instances
from pseudo_labels.evaluation.semantic import confusion, semantic_scores
from pseudo_labels.formats.instance_npz import instance_npz, masks_from_npz
from pseudo_labels.formats.semantic import read_label_png
from pseudo_labels.formats.stuff_things import read_stuff_things
from pseudo_labels.instances import splitting as inst

log = logging.getLogger("cascade")  # the command's name, as its log lines have always said

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


def _semantic_at(path: Path, id_table: np.ndarray | None, size: tuple[int, int]) -> np.ndarray:
    """A trainId map at ``size``: mapped through ``id_table`` when given, else checked to hold trainIds."""
    semantic = read_label_png(path)
    if id_table is not None:
        semantic = id_table[semantic]
    elif int(semantic.max()) >= cs.NUM_CLASSES and int(semantic.max()) != cs.IGNORE_ID:
        raise InputError(f"{path}: id {int(semantic.max())} is not a trainId "
                         f"(raw clusters? remap them first, or pass --cause27 for CAUSE-27 ids).")
    return cs.resize_nearest(semantic, size)


def _predictions(semantic: np.ndarray, masks: np.ndarray | None, scores: np.ndarray | None, thing_mode: str,
                 things: tuple[int, ...], cc_min_area: int) -> dict[str, pan.Segments]:
    """The panoptic prediction of one image under each protocol, with things found as ``thing_mode`` says."""
    if thing_mode == "connected_components":
        found = inst.cc_instances(semantic, cc_min_area, things)
        return {p: pan.protocol_prediction(semantic, found, p) for p in pan.PROTOCOLS}
    predictions = {p: segments_from_masks(semantic, masks, scores, *pan.area_rule(p)) for p in pan.PROTOCOLS}
    if thing_mode == "hybrid":
        predictions = {p: add_leftover_components(segments, semantic, things, cc_min_area)
                       for p, segments in predictions.items()}
    return predictions


def evaluate_folders(root: Path, split: str, semantic_subdir: str, instance_subdir: str,
                     thing_mode: str = "connected_components", cc_min_area: int = inst.CC_MIN_AREA,
                     stuff_things: Path | None = None, id_table: np.ndarray | None = None,
                     max_images: int | None = None, eval_size: tuple[int, int] = cs.WORKING_SIZE,
                     skip_semantic: bool = False, skip_instance: bool = False, skip_panoptic: bool = False) -> dict:
    """mIoU, PQ (both protocols) and class-agnostic instance scores of ``{root}/{semantic_subdir}/{split}``.

    The semantic PNGs hold trainIds, or ids ``id_table`` maps to trainIds
    (the CAUSE-27 table); ``stuff_things`` names the thing trainIds (default
    Cityscapes' 11..18). Things come from ``thing_mode`` (see the command's
    help); the masks of ``{root}/{instance_subdir}/{split}`` are also scored as
    instances whenever they are there. Images: those with gtFine labels (the
    first ``max_images``), scored at ``eval_size``. The ``skip_*`` flags leave a part out.
    Returns the result JSON: ``n_images``, ``eval_size``, ``thing_mode``, then
    ``semantic``, ``panoptic_{protocol}`` and ``instance`` as computed.
    """
    semantic_files = cs.output_paths(root / semantic_subdir, split, ".png", "semantic PNG")
    labels, instance_ids = cs.label_ids_paths(root, split), cs.instance_ids_paths(root, split)
    keys = [k for k in semantic_files if k in labels][: max_images or None]
    if not keys:
        raise InputError(f"no semantic PNG under {root / semantic_subdir / split} has gtFine labels.")
    things = read_stuff_things(stuff_things, cs.NUM_CLASSES) if stuff_things else cs.THING_TRAIN_IDS
    size = tuple(eval_size)
    matrix = np.zeros((cs.NUM_CLASSES, cs.NUM_CLASSES), np.int64)
    totals = {p: pan.PanopticStats() for p in pan.PROTOCOLS}
    instance_totals = InstanceTotals()
    instance_paths = {key: instance_npz(root / instance_subdir, split, key) for key in keys}
    needs_masks = thing_mode != "connected_components" and not skip_panoptic
    missing = [str(cs.output_path(root / instance_subdir, split, k, ".npz"))
               for k, p in instance_paths.items() if p is None]
    if needs_masks and missing:
        raise InputError(f"{len(missing)} instance file(s) missing for --thing_mode {thing_mode}, e.g. "
                         f"{missing[:3]}. Pass --instance_subdir (the folder generate_depth_guided_instances.py "
                         f"wrote under the root).")
    score_instances = not skip_instance and any(p is not None for p in instance_paths.values())
    if not skip_instance and not score_instances:
        log.info("no instance files under %s: instance scores skipped", root / instance_subdir / split)
    for key in tqdm(keys, desc="evaluate", unit="img"):
        semantic = _semantic_at(semantic_files[key], id_table, size)
        gt = cs.load_ground_truth(labels[key], instance_ids[key])
        gt_train_ids, gt_instance_ids = cs.resize_nearest(gt.train_ids, size), cs.resize_nearest(gt.instance_ids, size)
        if not skip_semantic:
            matrix += confusion(semantic, gt_train_ids)
        masks = scores = None
        if instance_paths[key] is not None and (score_instances or needs_masks):
            masks, scores = masks_from_npz(instance_paths[key], size)
            if score_instances:
                instance_totals.add(masks, scores, *gt_thing_instances(gt_instance_ids))
        if skip_panoptic:
            continue
        predictions = _predictions(semantic, masks, scores, thing_mode, things, cc_min_area)
        reference_gt = pan.reference_gt_segments(gt_train_ids, gt_instance_ids)
        totals[pan.REFERENCE] += pan.match(reference_gt, predictions[pan.REFERENCE], pan.REFERENCE)
        official_gt = pan.official_gt_segments(gt.instance_ids)
        totals[pan.OFFICIAL] += pan.match(official_gt, predictions[pan.OFFICIAL].resized(official_gt.ids.shape),
                                          pan.OFFICIAL)
    result: dict = {"n_images": len(keys), "eval_size": list(size), "thing_mode": thing_mode}
    if not skip_semantic:
        result["semantic"] = semantic_scores(matrix)
    if not skip_panoptic:
        result.update({f"panoptic_{p}": pan.summary(totals[p], p) for p in pan.PROTOCOLS})
    if score_instances:  # the instance folder's masks, as masks
        result["instance"] = instance_totals.summary()
    return result


def format_cascade(result: dict) -> str:
    """The summary lines of :func:`evaluate_folders`' result: mIoU, PQ per protocol, instance scores (those present)."""
    lines = []
    if "semantic" in result:
        semantic = result["semantic"]
        lines.append(f"mIoU {semantic['mIoU']:.2f}  pixel accuracy {semantic['pixel_accuracy']:.2f}")
    for protocol in pan.PROTOCOLS:
        if f"panoptic_{protocol}" in result:
            r = result[f"panoptic_{protocol}"]
            lines.append(f"{protocol:9s} PQ {r['PQ']:.2f}  PQ_stuff {r['PQ_stuff']:.2f}  "
                         f"PQ_things {r['PQ_things']:.2f}  SQ {r['SQ']:.2f}  RQ {r['RQ']:.2f}")
    if "instance" in result:
        r = result["instance"]
        lines.append(f"instances (class-agnostic, {r['num_images']} images with GT things): recall@0.5 "
                     f"{r['ar_100']:.2f}  AP50 {r['ap_50']:.2f}  AP75 {r['ap_75']:.2f}  masks/image "
                     f"{r['avg_pred_instances']:.1f} (GT {r['avg_gt_instances']:.1f})")
    return "\n".join(lines)
