"""Pictures of the pseudo-labels of chosen images, with their errors against GT, for people to look at.

    pseudo-labels visualize --cityscapes_root R --split val --semantic_subdir pseudo_semantic_raw_k80 \\
        --select worst --limit 8 --protocol reference --out pictures/

Per image, one PNG of eight panels at 384x768 (two columns), a class legend and
an error legend below them:

    input                                | depth, its edges at tau (red)
    semantic pseudo-labels (palette)     | ground truth (palette)
    predicted instances over the image   | GT instances over the image (class names written on both)
    errors, things (protocol named)      | errors, stuff

Error panels: every prediction is filled by its status (colour-blind-safe
colours: TP green, FP sky blue, split piece yellow, merge white, ignored blue)
and every GT segment outlined by its own (missed objects vermillion; missed,
split and merged objects also hatched), so false positives
and splits stay visible (:mod:`pseudo_labels.evaluation.segment_errors` decides them).

Images: ``--stems``, or ``--select first|worst|random`` with ``--limit``
(worst = lowest per-image PQ_things under ``--protocol``, computed here for
every image of the split). ``--protocol cups`` draws the labels the CUPS
export writes, named by the assignment of ``--cups_result``, against CUPS'
27-class GT (crowd regions are segments; what torchmetrics excuses is drawn as ignored). Labels: trainId maps; raw clusters through a
``kmeans_centroids.npz`` (its GT-voted ``cluster_to_class``); or label-free
raw clusters with ``--stuff_things`` (as ``convert_to_cups_format.py
--stuff_things --depth_instances`` exports them: thing clusters merged, split
by depth alone, each instance named by its majority cluster; things are then
matched class-agnostically and no stuff class is known). ``{out}/index.json``
lists every image scored (PQ, PQ_stuff, PQ_things, error counts, picture),
which ``report --pictures`` turns into a gallery and a per-image table.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.cli.options import (NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE_INT, RANDOM_SEED,
                                       add_from_sweep_arguments, split_settings)
from pseudo_labels.instances.settings import DEFAULT_DILATION_ITERS, DEFAULT_SIGMA, PUBLISHED_MIN_AREA, PUBLISHED_TAU
from pseudo_labels.core.errors import InputError, exit_on_input_error
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.evaluation.cups_protocol import CUPS
from pseudo_labels.evaluation.evaluate_cups_protocol import read_assignment
from pseudo_labels.instances.units import MERGED_THINGS
from pseudo_labels.formats.semantic import read_label_png
from pseudo_labels.report.picture_set import Selection, draw_pictures, picture_units, semantic_files
from pseudo_labels.report.pictures import SELECTIONS, Settings

log = logging.getLogger("visualize")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    parser.add_argument("--cityscapes_root", required=True, type=Path)
    parser.add_argument("--split", default="val")
    parser.add_argument("--semantic_subdir", default="pseudo_semantic_raw_k80")
    parser.add_argument("--centroids_path", type=Path, default=None,
                        help="for raw cluster PNGs (default: {root}/{semantic_subdir}/kmeans_centroids.npz if present)")
    parser.add_argument("--stuff_things", type=Path, default=None,
                        help="label-free raw clusters: a stuff_things.json whose thing_ids are cluster ids (as "
                             "convert_to_cups_format.py --stuff_things --depth_instances); no cluster_to_class is used")
    parser.add_argument("--depth_subdir", default=cs.DEPTH_SUBDIR)
    parser.add_argument("--grad_threshold", type=NON_NEGATIVE, default=PUBLISHED_TAU, help="tau (the published best)")
    parser.add_argument("--min_area", type=NON_NEGATIVE_INT, default=PUBLISHED_MIN_AREA,
                        help="A_min at the working size")
    parser.add_argument("--depth_blur_sigma", type=NON_NEGATIVE, default=DEFAULT_SIGMA,
                        help="Gaussian blur before Sobel")
    parser.add_argument("--dilation_iters", type=NON_NEGATIVE_INT, default=DEFAULT_DILATION_ITERS,
                        help="reclaim dilation steps")
    add_from_sweep_arguments(parser)
    parser.add_argument("--protocol", choices=(*pan.PROTOCOLS, CUPS), default=pan.REFERENCE,
                        help="protocol of the error panels and of the per-image PQ")
    parser.add_argument("--cups_result", type=Path, default=None,
                        help="--protocol cups: the evaluate-cups --output JSON (or a sweep JSON with cups rows) whose "
                             "assignment names the pseudo-classes")
    parser.add_argument("--stems", nargs="*", default=None, help="image stems (default: chosen by --select)")
    parser.add_argument("--select", choices=SELECTIONS, default="first",
                        help="which --limit images: first, worst (lowest PQ_things; scores every image), random")
    parser.add_argument("--limit", type=POSITIVE_INT, default=4)
    parser.add_argument("--seed", type=RANDOM_SEED, default=0, help="seed of --select random")
    parser.add_argument("--out", type=Path, required=True)
    return parser


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    split = split_settings(parser, argv, args)
    root: Path = args.cityscapes_root
    files = semantic_files(root, args.semantic_subdir, args.split, args.stems or ())
    first = read_label_png(next(iter(files.values())))
    if args.stuff_things is not None and first.dtype != np.uint8:
        raise InputError(f"{next(iter(files.values()))}: a 16-bit cluster map (k > 255). Label-free drawing merges "
                         f"the thing clusters into id {MERGED_THINGS}, so it needs 8-bit maps (k <= 255); "
                         f"draw through --centroids_path instead.")
    units = picture_units(root, args.semantic_subdir, first, args.centroids_path, args.stuff_things)
    cups_classes = None
    if args.protocol == CUPS:
        if args.cups_result is None:
            raise InputError("--protocol cups names pseudo-classes by CUPS' matching over the whole split: pass "
                             "--cups_result (pseudo-labels evaluate-cups --output, or a sweep JSON with cups rows).")
        cups_classes = read_assignment(args.cups_result, split.tau, split.min_area)
        if len(cups_classes) <= int(first.max()):
            raise InputError(f"{args.cups_result}: an assignment for {len(cups_classes)} pseudo-classes, but "
                             f"{next(iter(files.values()))} holds id {int(first.max())}; pass the evaluation of "
                             f"these labels.")
    settings = Settings(units, split, args.protocol, cups_classes)
    selection = Selection(tuple(args.stems or ()), args.select, args.limit, args.seed)
    draw_pictures(root, args.split, args.semantic_subdir, args.depth_subdir, files, settings, selection, args.out)
    return 0
