"""Official Cityscapes panoptic quality of predictions in Cityscapes panoptic format (as ``evaluatePanoptic``).

Predictions are RGB id PNGs plus a COCO-style JSON whose ``category_id`` are
Cityscapes labelIds (``image_id`` = ``{city}_{seq}_{frame}``). Ground truth is
read directly from ``gtFine/{split}/*/*_gtFine_instanceIds.png`` exactly as
``createPanopticImgs`` would convert it, so no conversion step is needed, and
the numbers equal ``cityscapesscripts``' ``evaluatePanoptic`` on the same files.
KITTI-STEP and BDD100K panoptic GT (``gt_layout``) is read in the same encoding
through :mod:`pseudo_labels.data.ground_truth`, the one home of GT listing and
reading; scoring is at each GT image's own size.

Reading a prediction file belongs to the format's writer
(:func:`pseudo_labels.export.cityscapes_panoptic.read_prediction`), which
sits above this layer: :func:`evaluate` takes the reader as an argument.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path

from tqdm import tqdm

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.parallel import ordered_map
from pseudo_labels.data.ground_truth import CITYSCAPES, GtSource, ground_truth, gt_folder
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.formats.panoptic_json import read_prediction_json

log = logging.getLogger("evaluate_panoptic")  # the command's name, as its log lines have always said

PredictionReader = Callable[[Path, dict], pan.Segments]
"""Reads one prediction PNG with its JSON entry into :class:`~pseudo_labels.evaluation.panoptic.Segments`."""


def evaluate_one(job: tuple[GtSource, Path, dict], read_prediction: PredictionReader
                 ) -> tuple[pan.PanopticStats, tuple[int, ...] | None]:
    """Official statistics of one image: (its GT, prediction PNG, its JSON entry).

    Also returns the prediction's size when it differed from the GT's (it is
    resized, nearest, to the GT size; cityscapesscripts would refuse it).
    """
    source, png_path, annotation = job
    gt = pan.official_gt_segments(source.read())
    pred = read_prediction(png_path, annotation)
    resized = pred.ids.shape if pred.ids.shape != gt.ids.shape else None
    return pan.match(gt, pred.resized(gt.ids.shape), pan.OFFICIAL), resized


def evaluate(root: Path, split: str, pred_json: Path, pred_dir: Path, workers: int = 1, show_progress: bool = True,
             *, read_prediction: PredictionReader, gt_layout: str = CITYSCAPES) -> dict:
    """Official summary (percent) over every GT image of the split; every GT image needs a prediction.

    ``gt_layout`` names the dataset whose GT ``root`` holds
    (:data:`~pseudo_labels.data.ground_truth.GT_LAYOUTS`); a prediction's
    ``image_id`` is the GT frame's :func:`~pseudo_labels.data.frames.cityscapes_names`
    name. ``read_prediction`` reads one prediction (a module-level function: the
    ``workers`` processes receive it by name). The result is
    :func:`~pseudo_labels.evaluation.panoptic.official_summary` plus
    ``n_images`` and the summed ``stats``.
    """
    gt_files = ground_truth(gt_layout, root, split)
    annotations = read_prediction_json(pred_json)
    jobs, missing = [], []
    for name, source in gt_files.items():
        annotation = annotations.get(name)
        if annotation is None:
            missing.append(name if gt_layout == CITYSCAPES else f"{name} ({source.path})")
            continue
        jobs.append((source, Path(pred_dir) / annotation["file_name"], annotation))
    if missing:
        strays = sorted(set(annotations) - set(gt_files))
        hint = f" It lists {len(strays)} image_id(s) with no GT image, e.g. {strays[:5]}." if strays else ""
        where = gt_folder(gt_layout, root, split)
        naming = ("" if gt_layout == CITYSCAPES else " A prediction's image_id is the name cityscapes_names gives "
                  "its frame among the split's images (the export's naming): export every image of the split.")
        raise InputError(f"{pred_json}: no prediction for {len(missing)} GT image(s) of {where}, "
                         f"e.g. {missing[:10]}.{hint}{naming}")
    total = pan.PanopticStats()
    resized = []
    score = partial(evaluate_one, read_prediction=read_prediction)
    for stats, size in tqdm(ordered_map(score, jobs, workers), total=len(jobs), desc="evaluate",
                            disable=not show_progress):
        total += stats
        resized += [size] if size is not None else []
    if resized:
        log.warning("%d of %d predictions are not at the GT's size (e.g. %dx%d) and were resized (nearest) to it: "
                    "the score is of the resized prediction, and cityscapesscripts refuses such files. Write the "
                    "predictions at the GT size.", len(resized), len(jobs), *resized[0])
    result = pan.official_summary(total)
    result["n_images"] = len(jobs)
    result["stats"] = total.to_dict()
    if gt_layout != CITYSCAPES:  # a Cityscapes result keeps its keys
        result["gt_layout"] = gt_layout
    return result


def format_results(result: dict) -> str:
    """The per-class and All/Things/Stuff table, as cityscapesscripts prints it."""
    lines = [f"{'Category':14s}| {'PQ':>5s}  {'SQ':>5s}  {'RQ':>5s}"]
    for name, v in result["per_class"].items():
        lines.append(f"{name:14s}| {v['PQ']:5.1f}  {v['SQ']:5.1f}  {v['RQ']:5.1f}")
    lines += ["-" * 41, f"{'':14s}| {'PQ':>5s}  {'SQ':>5s}  {'RQ':>5s} {'N':>5s}"]
    for title, suffix in (("All", ""), ("Things", "_things"), ("Stuff", "_stuff")):
        lines.append(f"{title:14s}| {result['PQ' + suffix]:5.1f}  {result['SQ' + suffix]:5.1f}  "
                     f"{result['RQ' + suffix]:5.1f} {result['n_classes' + suffix]:5d}")
    return "\n".join(lines)
