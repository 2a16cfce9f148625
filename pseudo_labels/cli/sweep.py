"""Parameter sweep: depth-guided instances on overclustered semantics, scored by panoptic quality.

    python pseudo_labels/sweep_k50_spidepth.py --cityscapes_root R --split val \\
        --semantic_subdir pseudo_semantic_raw_k80

Reads ``{R}/{semantic_subdir}/{split}/{city}/{stem}.png`` (raw cluster ids),
``kmeans_centroids.npz`` (its ``cluster_to_class``), ``{R}/{depth_subdir}/...npy``,
and the gtFine labelIds/instanceIds (ground truth: evaluation only). Writes
``{R}/sweep_k{k}_spidepth_{split}.json`` (or ``--output``) and a manifest beside it,
and prints the reference's summary table plus the best configuration per protocol.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.cli.options import add_shard_arguments, add_workers_argument
from pseudo_labels.cli.options import FINITE, FIRST_N_OR_ALL, NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE_INT, merge_parser
from pseudo_labels.core.errors import InputError, exit_on_input_error
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation.sweep_record import merge_shards, print_sweep, shard_note
from pseudo_labels.evaluation.sweep_run import PROTOCOL_CHOICES, run_sweep_split
from pseudo_labels.instances.settings import DEFAULT_DILATION_ITERS, DEFAULT_SIGMA


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--cityscapes_root", required=True, type=Path, help="Cityscapes root (leftImg8bit/, gtFine/)")
    parser.add_argument("--split", default="val", choices=("train", "val"), help="split to evaluate")
    parser.add_argument("--eval_size", type=POSITIVE_INT, nargs=2, default=cs.WORKING_SIZE, metavar=("H", "W"),
                        help="resolution of the reference protocol and of instance splitting")
    parser.add_argument("--semantic_subdir", default="pseudo_semantic_raw_k50", help="raw cluster PNGs under the root")
    parser.add_argument("--depth_subdir", default=cs.DEPTH_SUBDIR, help="depth .npy maps under the root")
    parser.add_argument("--centroids_path", type=Path, default=None,
                        help="kmeans_centroids.npz (default: {root}/{semantic_subdir}/kmeans_centroids.npz)")
    parser.add_argument("--max_images", type=FIRST_N_OR_ALL, default=None,
                        help="evaluate only the first N images (0: all)")
    parser.add_argument("--grad_thresholds", type=NON_NEGATIVE, nargs="+", default=None, help="tau values")
    parser.add_argument("--min_areas", type=NON_NEGATIVE_INT, nargs="+", default=None, help="A_min values")
    parser.add_argument("--no_cc_baseline", action="store_true", help="skip the connected-component baseline")
    parser.add_argument("--depth_blur_sigma", type=NON_NEGATIVE, default=DEFAULT_SIGMA,
                        help="Gaussian blur before Sobel")
    parser.add_argument("--dilation_iters", type=NON_NEGATIVE_INT, default=DEFAULT_DILATION_ITERS,
                        help="reclaim dilation steps")
    parser.add_argument("--protocol", choices=tuple(PROTOCOL_CHOICES), default="both",
                        help="evaluation protocol: both = reference + official (the original's), all = those and cups")
    parser.add_argument("--thing_stuff_threshold", type=FINITE, default=None,
                        help="cups protocol: CUPS' DATA.THING_STUFF_THRESHOLD (default: per configuration, the midpoint "
                             "of the interval that gives the centroid file's thing clusters, as the CUPS export suggests)")
    parser.add_argument("--output", type=Path, default=None,
                        help="result JSON (default: {root}/sweep_k{k}_spidepth_{split}.json)")
    add_workers_argument(parser)
    add_shard_arguments(parser)
    parser.add_argument("--skip_missing", action="store_true",
                        help="skip images whose semantic or depth file is missing instead of stopping")
    return parser


@exit_on_input_error
def merge(argv: Sequence[str]) -> int:
    """``merge SHARD.npz ... [--output JSON]``: the JSON a single run over all shards' images writes."""
    args = merge_parser("sweep shards", ".shard-i-of-n.npz").parse_args(argv)
    record, output = merge_shards(args.shards, args.output)
    print_sweep(record, output)
    return 0


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["merge"]:
        return merge(argv[1:])
    args = build_parser().parse_args(argv)
    root: Path = args.cityscapes_root
    if not root.is_dir():
        raise InputError(f"--cityscapes_root {root} is not a folder.")
    run = run_sweep_split(
        root, args.split, semantic_subdir=args.semantic_subdir, depth_subdir=args.depth_subdir,
        centroids_path=args.centroids_path, eval_size=args.eval_size, grad_thresholds=args.grad_thresholds,
        min_areas=args.min_areas, cc_baseline=not args.no_cc_baseline, depth_blur_sigma=args.depth_blur_sigma,
        dilation_iters=args.dilation_iters, protocols=PROTOCOL_CHOICES[args.protocol],
        thing_stuff_threshold=args.thing_stuff_threshold,
        max_images=args.max_images, skip_missing=args.skip_missing, output=args.output, workers=args.workers,
        num_shards=args.num_shards, shard_index=args.shard_index, arguments=vars(args))
    if run.shard is not None:
        print(shard_note(run.output, run.shard, args.num_shards))
    else:
        print_sweep(run.record, run.output)
    return 0
