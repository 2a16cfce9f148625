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

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.cli.options import FIRST_N_OR_ALL, NON_NEGATIVE_INT, POSITIVE_INT
from pseudo_labels.core.errors import exit_on_input_error
from pseudo_labels.core.fileio import prepare_output_file, write_json
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation.cascade import THING_MODES, evaluate_folders, format_cascade
from pseudo_labels.export.relabel import cause27_table
from pseudo_labels.instances import splitting as inst

log = logging.getLogger("cascade")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--cityscapes_root", required=True, type=Path)
    parser.add_argument("--split", default="train", choices=("train", "val"), help="split to evaluate")
    parser.add_argument("--eval_size", type=POSITIVE_INT, nargs=2, default=list(cs.WORKING_SIZE), metavar=("H", "W"))
    parser.add_argument("--semantic_subdir", default="pseudo_semantic_dinov3",
                        help="trainId (or --cause27) PNGs under the root")
    parser.add_argument("--instance_subdir", default="pseudo_instance",
                        help="instance .npz folder under the root: the masks of maskcut/hybrid mode, and scored as "
                             "class-agnostic instances in any mode when its files are there")
    parser.add_argument("--thing_mode", choices=THING_MODES, default="connected_components")
    parser.add_argument("--cc_min_area", type=NON_NEGATIVE_INT, default=inst.CC_MIN_AREA,
                        help="connected-component minimum")
    parser.add_argument("--stuff_things", type=Path, default=None,
                        help="stuff_things.json naming the thing trainIds (default: Cityscapes' 11..18)")
    parser.add_argument("--cause27", action="store_true", help="semantic PNGs hold CAUSE 27-class ids")
    parser.add_argument("--max_images", type=FIRST_N_OR_ALL, default=None)
    parser.add_argument("--output", type=Path, default=None, help="result JSON (default: {root}/eval_cascade_{split}.json)")
    parser.add_argument("--skip_semantic", action="store_true", help="no mIoU")
    parser.add_argument("--skip_instance", action="store_true", help="no class-agnostic instance scores")
    parser.add_argument("--skip_panoptic", action="store_true", help="no PQ")
    return parser


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root: Path = args.cityscapes_root
    output = prepare_output_file(args.output or root / f"eval_cascade_{args.split}.json",
                                 inputs=(root / "gtFine" / args.split, root / args.semantic_subdir,
                                         root / args.instance_subdir if args.instance_subdir else None))
    result = evaluate_folders(root, args.split, args.semantic_subdir, args.instance_subdir,
                              thing_mode=args.thing_mode, cc_min_area=args.cc_min_area,
                              stuff_things=args.stuff_things, id_table=cause27_table() if args.cause27 else None,
                              max_images=args.max_images, eval_size=tuple(args.eval_size),
                              skip_semantic=args.skip_semantic, skip_instance=args.skip_instance,
                              skip_panoptic=args.skip_panoptic)
    summary = format_cascade(result)
    if summary:
        print(summary)
    write_json(output, result)
    log.info("saved %s", output)
    return 0
