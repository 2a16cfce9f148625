"""Evaluate a semantic pseudo-label folder and (optionally) an instance folder: mIoU and PQ, both protocols.

    python pseudo_labels/evaluation/evaluate_cascade_pseudolabels.py --cityscapes_root R --split val \\
        --semantic_subdir pseudo_semantic_k80_trainid --instance_subdir instances_k80 --thing_mode maskcut

Semantics: ``{R}/{semantic_subdir}/{split}/{city}/{stem}.png`` with trainIds
(``--cause27``: CAUSE 27-class ids, mapped to trainIds first). Things:
``connected_components`` of each thing class (>= ``--cc_min_area`` px),
``maskcut`` -- masks from ``{R}/{instance_subdir}/{split}/{city}/{stem}.npz``
in the instance tool's layout (``masks`` N x h*w, ``h_patches``, ``w_patches``,
``scores``), taken by descending score, each kept when the majority of its
pixels is a thing class (that class becomes its class) and painted onto free
pixels; masks without ``scores`` are ranked by area, as the original does -- or
``hybrid``: maskcut, then the connected components (>= ``--cc_min_area`` px) of
thing pixels no segment covers. In maskcut and hybrid mode the masks are also
scored as class-agnostic instances (recall, AP@0.5, AP@0.75 against the GT
thing instances; see :mod:`pseudo_labels.evaluation.instance_metrics`) -- in any mode,
as the original, whenever ``--instance_subdir`` holds files for the images.
``--skip_semantic``, ``--skip_instance`` and ``--skip_panoptic`` leave a part
out. The defaults are the original's (``--split train``, ``--semantic_subdir
pseudo_semantic_dinov3``, ``--instance_subdir pseudo_instance``, the result in
``{R}/eval_cascade_{split}.json``). Ground truth (gtFine) is read here: this
is an evaluation tool.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.instances import splitting as inst
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.core.errors import InputError, exit_on_input_error
from pseudo_labels.formats.stuff_things import read_stuff_things
from pseudo_labels.core.fileio import prepare_output_file, write_json
from pseudo_labels.evaluation.instance_metrics import InstanceTotals, gt_thing_instances
from pseudo_labels.export.relabel import cause27_table
from pseudo_labels.evaluation.cascade import THING_MODES, add_leftover_components, segments_from_masks
from pseudo_labels.formats.instance_npz import masks_from_npz
from pseudo_labels.evaluation.semantic import confusion, semantic_scores
from pseudo_labels.formats.semantic import read_label_png
from pseudo_labels.formats.instance_npz import instance_npz

log = logging.getLogger("cascade")













def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--cityscapes_root", required=True, type=Path)
    parser.add_argument("--split", default="train", choices=("train", "val"), help="split to evaluate")
    parser.add_argument("--eval_size", type=int, nargs=2, default=list(cs.WORKING_SIZE), metavar=("H", "W"))
    parser.add_argument("--semantic_subdir", default="pseudo_semantic_dinov3",
                        help="trainId (or --cause27) PNGs under the root")
    parser.add_argument("--instance_subdir", default="pseudo_instance",
                        help="instance .npz folder under the root: the masks of maskcut/hybrid mode, and scored as "
                             "class-agnostic instances in any mode when its files are there")
    parser.add_argument("--thing_mode", choices=THING_MODES, default="connected_components")
    parser.add_argument("--cc_min_area", type=int, default=inst.CC_MIN_AREA, help="connected-component minimum")
    parser.add_argument("--stuff_things", type=Path, default=None,
                        help="stuff_things.json naming the thing trainIds (default: Cityscapes' 11..18)")
    parser.add_argument("--cause27", action="store_true", help="semantic PNGs hold CAUSE 27-class ids")
    parser.add_argument("--max_images", type=int, default=None)
    parser.add_argument("--output", type=Path, default=None, help="result JSON (default: {root}/eval_cascade_{split}.json)")
    parser.add_argument("--skip_semantic", action="store_true", help="no mIoU")
    parser.add_argument("--skip_instance", action="store_true", help="no class-agnostic instance scores")
    parser.add_argument("--skip_panoptic", action="store_true", help="no PQ")
    return parser


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root: Path = args.cityscapes_root
    semantic_files = cs.output_paths(root / args.semantic_subdir, args.split, ".png", "semantic PNG")
    labels, instance_ids = cs.label_ids_paths(root, args.split), cs.instance_ids_paths(root, args.split)
    keys = [k for k in semantic_files if k in labels][: args.max_images or None]
    if not keys:
        raise InputError(f"no semantic PNG under {root / args.semantic_subdir / args.split} has gtFine labels.")
    things = read_stuff_things(args.stuff_things, cs.NUM_CLASSES) if args.stuff_things else cs.THING_TRAIN_IDS
    size = tuple(args.eval_size)
    matrix = np.zeros((cs.NUM_CLASSES, cs.NUM_CLASSES), np.int64)
    totals = {p: pan.PanopticStats() for p in pan.PROTOCOLS}
    instance_totals = InstanceTotals()
    instance_paths = {key: instance_npz(root / args.instance_subdir, args.split, key) for key in keys}
    needs_masks = args.thing_mode != "connected_components" and not args.skip_panoptic
    missing = [str(cs.output_path(root / args.instance_subdir, args.split, k, ".npz"))
               for k, p in instance_paths.items() if p is None]
    if needs_masks and missing:
        raise InputError(f"{len(missing)} instance file(s) missing for --thing_mode {args.thing_mode}, e.g. "
                         f"{missing[:3]}. Pass --instance_subdir (the folder generate_depth_guided_instances.py "
                         f"wrote under the root).")
    score_instances = not args.skip_instance and any(p is not None for p in instance_paths.values())
    if not args.skip_instance and not score_instances:
        log.info("no instance files under %s: instance scores skipped", root / args.instance_subdir / args.split)
    for key in tqdm(keys, desc="evaluate", unit="img"):
        semantic = read_label_png(semantic_files[key])
        if args.cause27:
            semantic = cause27_table()[semantic]
        elif int(semantic.max()) >= cs.NUM_CLASSES and int(semantic.max()) != cs.IGNORE_ID:
            raise InputError(f"{semantic_files[key]}: id {int(semantic.max())} is not a trainId "
                             f"(raw clusters? remap them first, or pass --cause27 for CAUSE-27 ids).")
        semantic = cs.resize_nearest(semantic, size)
        gt = cs.load_ground_truth(labels[key], instance_ids[key])
        gt_train_ids, gt_instance_ids = cs.resize_nearest(gt.train_ids, size), cs.resize_nearest(gt.instance_ids, size)
        if not args.skip_semantic:
            matrix += confusion(semantic, gt_train_ids)
        masks = scores = None
        if instance_paths[key] is not None and (score_instances or needs_masks):
            masks, scores = masks_from_npz(instance_paths[key], size)
            if score_instances:
                instance_totals.add(masks, scores, *gt_thing_instances(gt_instance_ids))
        if args.skip_panoptic:
            continue
        if args.thing_mode == "connected_components":
            found = inst.cc_instances(semantic, args.cc_min_area, things)
            predictions = {p: pan.protocol_prediction(semantic, found, p) for p in pan.PROTOCOLS}
        else:
            predictions = {p: segments_from_masks(semantic, masks, scores, *pan.area_rule(p)) for p in pan.PROTOCOLS}
            if args.thing_mode == "hybrid":
                predictions = {p: add_leftover_components(segments, semantic, things, args.cc_min_area)
                               for p, segments in predictions.items()}
        reference_gt = pan.reference_gt_segments(gt_train_ids, gt_instance_ids)
        totals[pan.REFERENCE] += pan.match(reference_gt, predictions[pan.REFERENCE], pan.REFERENCE)
        official_gt = pan.official_gt_segments(gt.instance_ids)
        totals[pan.OFFICIAL] += pan.match(official_gt, predictions[pan.OFFICIAL].resized(official_gt.ids.shape), pan.OFFICIAL)
    result: dict = {"n_images": len(keys), "eval_size": list(size), "thing_mode": args.thing_mode}
    if not args.skip_semantic:
        result["semantic"] = semantic_scores(matrix)
        print(f"mIoU {result['semantic']['mIoU']:.2f}  pixel accuracy {result['semantic']['pixel_accuracy']:.2f}")
    if not args.skip_panoptic:
        result.update({f"panoptic_{p}": pan.summary(totals[p], p) for p in pan.PROTOCOLS})
    if score_instances:  # the instance folder's masks, as masks
        result["instance"] = instance_totals.summary()
    for protocol in pan.PROTOCOLS if not args.skip_panoptic else ():
        r = result[f"panoptic_{protocol}"]
        print(f"{protocol:9s} PQ {r['PQ']:.2f}  PQ_stuff {r['PQ_stuff']:.2f}  PQ_things {r['PQ_things']:.2f}  "
              f"SQ {r['SQ']:.2f}  RQ {r['RQ']:.2f}")
    if "instance" in result:
        r = result["instance"]
        print(f"instances (class-agnostic, {r['num_images']} images with GT things): recall@0.5 {r['ar_100']:.2f}  "
              f"AP50 {r['ap_50']:.2f}  AP75 {r['ap_75']:.2f}  masks/image {r['avg_pred_instances']:.1f} "
              f"(GT {r['avg_gt_instances']:.1f})")
    output = args.output or root / f"eval_cascade_{args.split}.json"
    write_json(prepare_output_file(output), result)
    log.info("saved %s", output)
    return 0
