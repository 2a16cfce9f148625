"""Official Cityscapes panoptic quality of predictions in Cityscapes panoptic format.

    python pseudo_labels/evaluation/evaluate_panoptic.py --cityscapes_root R --split val \\
        --pred_json predictions.json --pred_dir predictions/ [--output results.json]

Predictions: RGB id PNGs plus a COCO-style JSON whose ``category_id`` are
Cityscapes labelIds (``image_id`` = ``{city}_{seq}_{frame}``). Ground truth is
read directly from ``gtFine/{split}/*/*_gtFine_instanceIds.png`` exactly as
``createPanopticImgs`` would convert it, so no conversion step is needed. The
numbers equal ``cityscapesscripts``' ``evaluatePanoptic`` on the same files.

``--gt_layout kitti_step`` or ``bdd100k`` with ``--gt_root`` scores against
KITTI-STEP panoptic maps or BDD100K pan_seg bitmasks instead, read in the same
encoding; the predictions are named as the exports name the split's frames
(docs/evaluation.md, "Other datasets' ground truth").
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.cli.options import add_workers_argument
from pseudo_labels.core.errors import InputError, exit_on_input_error
from pseudo_labels.core.fileio import prepare_output_file, write_json
from pseudo_labels.core.parallel import default_workers
from pseudo_labels.data.ground_truth import GT_LAYOUTS, gt_folder
from pseudo_labels.evaluation import official
from pseudo_labels.evaluation.official import format_results
from pseudo_labels.export.cityscapes_panoptic import read_prediction

evaluate = partial(official.evaluate, read_prediction=read_prediction)
"""The official evaluation of files in the Cityscapes panoptic format, read by the format's own reader."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    parser.add_argument("--cityscapes_root", required=True, type=Path, help="Cityscapes root holding gtFine/")
    parser.add_argument("--split", default="val", help="split whose gtFine instanceIds are the ground truth")
    parser.add_argument("--pred_json", required=True, type=Path, help="COCO panoptic JSON of the predictions")
    parser.add_argument("--pred_dir", required=True, type=Path, help="folder of the prediction PNGs")
    parser.add_argument("--output", type=Path, default=None, help="write the results JSON here")
    parser.add_argument("--gt_layout", choices=GT_LAYOUTS, default="cityscapes",
                        help="dataset whose panoptic GT is read: gtFine instanceIds, KITTI-STEP panoptic_maps or "
                             "BDD100K pan_seg bitmasks")
    parser.add_argument("--gt_root", type=Path, default=None,
                        help="root of that dataset (default: --cityscapes_root)")
    add_workers_argument(parser)
    return parser


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.pred_dir.is_dir():
        raise InputError(f"--pred_dir {args.pred_dir} is not a folder.")
    gt_root = args.gt_root or args.cityscapes_root
    if args.output:  # before the work: an output that is an input would be overwritten
        prepare_output_file(args.output, inputs=(gt_folder(args.gt_layout, gt_root, args.split), args.pred_json,
                                                 args.pred_dir))
    result = evaluate(gt_root, args.split, args.pred_json, args.pred_dir, workers=args.workers or default_workers(),
                      gt_layout=args.gt_layout)
    print(format_results(result))
    if args.output:
        write_json(args.output, result)
        print(f"Saved to: {args.output}")
    return 0
