"""Label-free thing/stuff decision per cluster: writes ``stuff_things.json`` from cluster maps and depth.

Two rules, each with its own interface. The original's (flags and JSON as in
the original script):

    python pseudo_labels/classify_stuff_things.py --semantic_dir R/pseudo_semantic_raw_k80/train \\
        --depth_dir R/depth_spidepth/train --output_path R/pseudo_semantic_raw_k80/stuff_things.json \\
        --num_classes 80 --n_things 12

ranks the clusters by how much depth edges split them, after forcing big
stuff (:mod:`pseudo_labels.instances.split_ratio`); the JSON holds ``classification``,
``statistics``, ``stuff_ids`` and ``thing_ids`` exactly as the original writes
them. Today's rule (three thresholds, :mod:`pseudo_labels.instances.stuff_things`):

    python pseudo_labels/classify_stuff_things.py --cityscapes_root R --split train \\
        --semantic_subdir pseudo_semantic_raw_k80 --num_clusters 80

Both read raw cluster PNGs and depth maps only. ``--evaluate`` (with
``--cityscapes_root``) additionally scores, on a split with ground truth, the
sweep's algorithm with the GT-derived thing set against the label-free one
(same clusters, same depth) under both protocols -- an evaluation step that
reads gtFine and the centroid file's majority-vote map.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.cli.options import FIRST_N_OR_ALL, NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE_INT
from pseudo_labels.core.errors import InputError, exit_on_input_error
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation.thing_sets import format_thing_sets, run_label_free_evaluated
from pseudo_labels.instances import stuff_things
from pseudo_labels.instances.label_free import (ORIGINAL_TAU, TODAY_TAU, format_original, run_label_free,
                                                run_original_rule)
from pseudo_labels.instances.settings import DEFAULT_DILATION_ITERS, DEFAULT_SIGMA, PUBLISHED_MIN_AREA

log = logging.getLogger("stuff_things")


def build_parser() -> argparse.ArgumentParser:
    rule = stuff_things.Rule()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    original = parser.add_argument_group("the original interface and rule (depth-split ratio)")
    original.add_argument("--semantic_dir", type=Path, default=None,
                          help="cluster PNGs of one split (any depth of subfolders); selects the original rule")
    original.add_argument("--depth_dir", type=Path, default=None, help="depth .npy maps, same subfolders and stems")
    original.add_argument("--output_path", type=Path, default=None, help="the stuff_things.json to write")
    original.add_argument("--num_classes", type=POSITIVE_INT, default=19,
                          help="number of clusters (ids 0..num_classes-1)")
    original.add_argument("--n_things", type=NON_NEGATIVE_INT, default=8,
                          help="how many clusters outside the forced big stuff become things")
    original.add_argument("--max_images", type=POSITIVE_INT, default=None, help="only the first N images")
    original.add_argument("--depth_blur", type=NON_NEGATIVE, default=DEFAULT_SIGMA,
                          help="Gaussian blur sigma before Sobel (both rules, and --evaluate)")
    original.add_argument("--skip_missing", action="store_true",
                          help="leave out images without a depth map (the original did so silently)")
    parser.add_argument("--grad_threshold", type=NON_NEGATIVE, default=None,
                        help=f"tau of the depth edges (default: {ORIGINAL_TAU} with --semantic_dir, the original's; "
                             f"{TODAY_TAU} with --cityscapes_root)")
    today = parser.add_argument_group("today's interface and rule (three thresholds)")
    today.add_argument("--cityscapes_root", type=Path, default=None, help="Cityscapes root; selects today's rule")
    today.add_argument("--split", default="train", help="split whose cluster maps are measured")
    today.add_argument("--semantic_subdir", default="pseudo_semantic_raw_k80", help="raw cluster PNGs under the root")
    today.add_argument("--depth_subdir", default=cs.DEPTH_SUBDIR, help="depth .npy maps under the root")
    today.add_argument("--num_clusters", type=POSITIVE_INT, default=None, help="k (default: 1 + the largest id seen)")
    today.add_argument("--max_area_fraction", type=NON_NEGATIVE, default=rule.max_area_fraction)
    today.add_argument("--max_median_piece_fraction", type=NON_NEGATIVE, default=rule.max_median_piece_fraction)
    today.add_argument("--min_edge_boundary_ratio", type=NON_NEGATIVE, default=rule.min_edge_boundary_ratio)
    today.add_argument("--limit", type=FIRST_N_OR_ALL, default=None, help="only the first N images")
    today.add_argument("--output", type=Path, default=None,
                       help="default: {root}/{semantic_subdir}/stuff_things.json")
    today.add_argument("--evaluate", action="store_true",
                       help="also compare PQ with the GT-derived thing set (reads gtFine and --centroids_path)")
    today.add_argument("--centroids_path", type=Path, default=None, help="for --evaluate: the majority-vote map")
    today.add_argument("--min_area", type=NON_NEGATIVE_INT, default=PUBLISHED_MIN_AREA,
                       help="for --evaluate: A_min at 512x1024")
    today.add_argument("--dilation_iters", type=NON_NEGATIVE_INT, default=DEFAULT_DILATION_ITERS,
                       help="for --evaluate: reclaim dilation steps (--depth_blur and --grad_threshold apply too)")
    return parser


def run_original(args: argparse.Namespace) -> int:
    """``--semantic_dir`` mode: the original rule and JSON (written byte for byte as the original writes it)."""
    if args.depth_dir is None or args.output_path is None:
        raise InputError("--semantic_dir needs --depth_dir and --output_path (the original's required flags).")
    tau = ORIGINAL_TAU if args.grad_threshold is None else args.grad_threshold
    decision = run_original_rule(args.semantic_dir, args.depth_dir, args.output_path, args.num_classes, args.n_things,
                                 tau, args.depth_blur, args.max_images, args.skip_missing, arguments=vars(args))
    print(format_original(decision))
    log.info("%d thing clusters of %d -> %s", len(decision.record["thing_ids"]), args.num_classes, decision.output)
    return 0


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.semantic_dir is None) == (args.cityscapes_root is None):
        parser.error("pass --semantic_dir (with --depth_dir, --output_path: the original rule) or "
                     "--cityscapes_root (today's rule), not both")
    if args.semantic_dir is not None:
        return run_original(args)
    args.grad_threshold = TODAY_TAU if args.grad_threshold is None else args.grad_threshold
    rule = stuff_things.Rule(args.max_area_fraction, args.max_median_piece_fraction, args.min_edge_boundary_ratio)
    common = dict(root=args.cityscapes_root, split=args.split, semantic_subdir=args.semantic_subdir,
                  depth_subdir=args.depth_subdir, rule=rule, tau=args.grad_threshold, sigma=args.depth_blur,
                  num_clusters=args.num_clusters, limit=args.limit, output=args.output, arguments=vars(args))
    if not args.evaluate:
        run_label_free(**common)
        return 0
    record, _ = run_label_free_evaluated(**common, centroids_path=args.centroids_path, min_area=args.min_area,
                                         dilation_iters=args.dilation_iters)
    print(format_thing_sets(record))
    return 0
