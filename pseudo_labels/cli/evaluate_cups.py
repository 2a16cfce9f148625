"""Panoptic quality of a CUPS-format label folder as CUPS scores its PQ 27.8 (27 classes, matched pseudo-classes).

    pseudo-labels evaluate-cups --cityscapes_root R --export_dir R/cups_pseudo_labels \\
        [--split val] [--resolution 1024x2048] [--thing_stuff_threshold 0.08] [--output cups.json]

Reads the export's ``*_semantic.png``, ``*_instance.png`` and ``.pt`` files and
``gtFine/{split}/*/*_gtFine_instanceIds.png`` (ground truth: evaluation only).
Prints PQ, SQ, RQ (all, things, stuff), mIoU and accuracy, and the classes
absent from the GT that the matching still gives pseudo-classes (CUPS' quirk).
``--gt_layout kitti_step`` or ``bdd100k`` with ``--gt_root`` scores against
KITTI-STEP panoptic maps or BDD100K pan_seg bitmasks, by default at each
image's own size (docs/evaluation.md, "Other datasets' ground truth").
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.cli.options import add_workers_argument
from pseudo_labels.cli.options import FINITE
from pseudo_labels.core.errors import InputError, exit_on_input_error
from pseudo_labels.core.fileio import prepare_output_file, write_json
from pseudo_labels.evaluation.cups_protocol import RESOLUTIONS
from pseudo_labels.data.ground_truth import GT_LAYOUTS, gt_folder
from pseudo_labels.evaluation.evaluate_cups_protocol import NATIVE, THINGS_FROM, evaluate_export
from pseudo_labels.formats.cups_labels import CUPS_DEFAULT_THRESHOLD


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    parser.add_argument("--cityscapes_root", required=True, type=Path, help="Cityscapes root holding gtFine/")
    parser.add_argument("--split", default="val", help="split whose gtFine instanceIds are the ground truth")
    parser.add_argument("--export_dir", required=True, type=Path,
                        help="CUPS label folder (pseudo-labels cups / convert_to_cups_format.py output)")
    parser.add_argument("--resolution", choices=(*RESOLUTIONS, NATIVE), default=None,
                        help="evaluation size: 1024x2048 is CUPS' val.py (the published numbers), 512x1024 its "
                             "train.py validation, 640x1280 cups/config.py's default, native each image's GT size "
                             "(default: 1024x2048 for Cityscapes GT, native for --gt_layout kitti_step or bdd100k)")
    parser.add_argument("--thing_stuff_threshold", type=FINITE, default=CUPS_DEFAULT_THRESHOLD,
                        help="CUPS' DATA.THING_STUFF_THRESHOLD for the .pt thing/stuff split")
    parser.add_argument("--things_from", choices=THINGS_FROM, default="pt",
                        help="thing pseudo-classes from CUPS' .pt rule, or the clusters --centroids_path maps to "
                             "thing trainIds")
    parser.add_argument("--centroids_path", type=Path, default=None, help="kmeans_centroids.npz (--things_from centroids)")
    parser.add_argument("--output", type=Path, default=None, help="write the result JSON here")
    parser.add_argument("--gt_layout", choices=GT_LAYOUTS, default="cityscapes",
                        help="dataset whose panoptic GT is read: gtFine instanceIds, KITTI-STEP panoptic_maps or "
                             "BDD100K pan_seg bitmasks")
    parser.add_argument("--gt_root", type=Path, default=None,
                        help="root of that dataset (default: --cityscapes_root)")
    add_workers_argument(parser)
    return parser


def format_result(record: dict) -> str:
    """The printed summary: the headline numbers, per-class PQ, and the absent classes CUPS still scores."""
    def number(value: float | None) -> str:
        return "  n/a" if value is None else f"{value:5.2f}"

    size = ("their GT size" if record["resolution"] == NATIVE else
            f"{record['resolution'][0]}x{record['resolution'][1]}")
    lines = [f"CUPS protocol, {record['images']} images at {size}, "
             f"{len(record['things'])} thing and {len(record['stuffs'])} stuff pseudo-classes",
             f"PQ {number(record['pq'])}  SQ {number(record['sq'])}  RQ {number(record['rq'])}  |  "
             f"PQ_th {number(record['pq_things'])}  PQ_st {number(record['pq_stuff'])}  |  "
             f"mIoU {number(record['miou'])}  acc {number(record['acc'])}"]
    for name, row in record["per_class"].items():
        if row["counted"]:
            lines.append(f"  [{'T' if row['thing'] else 'S'}] {name:14s} PQ={row['pq']:5.1f} SQ={row['sq']:5.1f} "
                         f"RQ={row['rq']:5.1f} (TP={row['tp']} FP={row['fp']} FN={row['fn']})")
    forced = record["forced_onto_absent"]["pq"]
    if forced:
        lines.append("Classes absent from the GT that the matching still gives pseudo-classes (they count with PQ 0, "
                     "as in CUPS): " + ", ".join(f"{name} <- {ids}" for name, ids in forced.items()))
    return "\n".join(lines)


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    gt_root = args.gt_root or args.cityscapes_root
    if not gt_root.is_dir():
        flag = "--gt_root" if args.gt_root else "--cityscapes_root"
        raise InputError(f"{flag} {gt_root} is not a folder.")
    if args.output:  # before the work: an output that is an input would be overwritten
        prepare_output_file(args.output, inputs=(gt_folder(args.gt_layout, gt_root, args.split), args.export_dir,
                                                 args.centroids_path))
    resolution = RESOLUTIONS.get(args.resolution, args.resolution)  # None: the layout's default
    record = evaluate_export(gt_root, args.export_dir, args.split, resolution, args.thing_stuff_threshold,
                             args.things_from, args.centroids_path, args.workers, gt_layout=args.gt_layout)
    print(format_result(record))
    if args.output:
        write_json(args.output, record)
        print(f"Saved to: {args.output}")
    return 0
