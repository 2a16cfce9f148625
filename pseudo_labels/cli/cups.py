"""Export semantics + instances as CUPS training pseudo-labels (one flat folder CUPS' loader reads).

    # the evaluated algorithm on raw k=80 clusters (depth-guided, tau 0.20, A_min 1000), for upstream CUPS
    python pseudo_labels/convert_to_cups_format.py --cityscapes_root R --split train \\
        --semantic_subdir pseudo_semantic_raw_k80 --output_subdir cups_pseudo_labels_k80 --num_classes 80 \\
        --centroids_path R/pseudo_semantic_raw_k80/kmeans_centroids.npz --depth_instances \\
        --depth_subdir depth_spidepth --grad_threshold 0.20 --min_instance_area 1000
    # the original's default mode: 27-class CAUSE maps + instance .npz files of generate_depth_guided_instances.py
    python pseudo_labels/convert_to_cups_format.py --cityscapes_root R --semantic_subdir pseudo_semantic_cause_crf \\
        --instance_subdir sweep_instances/gt0.10_ma500 --output_subdir cups_pseudo_labels --split train

Per image ``{stem}_leftImg8bit_semantic.png`` (uint8 pseudo-class ids),
``{stem}_leftImg8bit_instance.png`` (8-bit, 0 = no instance) and
``{stem}_leftImg8bit.pt`` (per-class pixel counts, all pixels and inside
instances, from the written PNGs). Every instance's pixels hold one semantic
id, its majority class, so CUPS (which names an instance by the largest id
under it) keeps it with that class. The default size is the image size x 0.625,
what upstream CUPS reads with its default ``DATA.SCALE``. ``stats.json``
records the ``DATA.THING_STUFF_THRESHOLD`` interval that gives CUPS the
intended thing classes. Every semantic map is checked at full resolution before
anything is written: each id must be one the inputs allow and, as written,
below ``--num_classes``. Reads no ground truth. The run is
:func:`pseudo_labels.export.cups_export.export_split`.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.cli.options import add_shard_arguments, add_workers_argument
from pseudo_labels.cli.options import (FIRST_N_OR_ALL, NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE_INT, SplitFlags,
                                       add_from_sweep_arguments, add_layout_arguments, frame_source,
                                       split_settings)
from pseudo_labels.core.errors import InputError, exit_on_input_error
from pseudo_labels.core.manifest import RunManifest
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.export.cups_export import (DEFAULT_INSTANCE_SUBDIR, DEFAULT_OUTPUT_SUBDIR, DEFAULT_SEMANTIC_SUBDIR,
                                              export_split, threshold_report, train_command)
from pseudo_labels.instances.settings import DEFAULT_DILATION_ITERS, DEFAULT_SIGMA, PUBLISHED_TAU

log = logging.getLogger("cups")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--cityscapes_root", required=True, type=Path, help="Cityscapes root")
    parser.add_argument("--semantic_subdir", default=DEFAULT_SEMANTIC_SUBDIR, help="semantic PNGs under the root")
    parser.add_argument("--instance_subdir", default=DEFAULT_INSTANCE_SUBDIR,
                        help="instance .npz files under the root (generate_depth_guided_instances.py), read in the "
                             "default mode, i.e. without --depth_instances / --cc_instances")
    parser.add_argument("--output_subdir", default=DEFAULT_OUTPUT_SUBDIR, help="flat output folder under the root")
    parser.add_argument("--split", default="train", choices=["train", "val"], help="split to export")
    parser.add_argument("--stuff_things", type=Path, default=None,
                        help="stuff_things JSON: in the default mode its trainId thing_ids (mapped to CAUSE ids); with "
                             "--depth_instances / --cc_instances the label-free thing clusters")
    parser.add_argument("--trainid_input", action="store_true",
                        help="the semantic maps hold 19-class trainIds; they are written as the 27 CAUSE ids")
    parser.add_argument("--target_h", type=POSITIVE_INT, default=None,
                        help="output height (default: image height x 0.625, upstream CUPS' DATA.SCALE; "
                             "1024 for the original repo's CUPS copy)")
    parser.add_argument("--target_w", type=POSITIVE_INT, default=None,
                        help="output width (default: image width x 0.625)")
    parser.add_argument("--num_classes", type=POSITIVE_INT, default=None,
                        help="pseudo-classes of the .pt distributions (default: k of --centroids_path for raw "
                             "clusters, 19 for trainIds written as such, else 27 as in the original)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--cc_instances", action="store_true", help="connected components of the thing classes")
    mode.add_argument("--depth_instances", action="store_true",
                      help="depth-guided instances (the sweep's algorithm at 512x1024)")
    parser.add_argument("--centroids_path", type=Path, default=None, help="kmeans_centroids.npz (cluster_to_class)")
    parser.add_argument("--min_instance_area", type=NON_NEGATIVE_INT, default=100,
                        help="A_min in pixels at 512x1024 (the published best is 1000)")
    parser.add_argument("--depth_subdir", default=cs.DEPTH_SUBDIR, help="depth .npy maps under the root")
    parser.add_argument("--grad_threshold", type=NON_NEGATIVE, default=PUBLISHED_TAU, help="tau (the evaluated best)")
    parser.add_argument("--depth_blur_sigma", type=NON_NEGATIVE, default=DEFAULT_SIGMA,
                        help="Gaussian blur before Sobel")
    parser.add_argument("--dilation_iters", type=NON_NEGATIVE_INT, default=DEFAULT_DILATION_ITERS,
                        help="reclaim dilation steps")
    add_from_sweep_arguments(parser)
    parser.add_argument("--use_trainid_things", action="store_true",
                        help="the semantic maps are trainIds and their things are trainIds 11..18 (no centroids)")
    parser.add_argument("--legacy_cluster_split", action="store_true",
                        help="the original exporter: split per raw thing cluster at the target size (min area in "
                             "target pixels, depth upsampled and min-max normalised); not what the sweep evaluates")
    parser.add_argument("--instance_png_bits", type=int, choices=[8, 16], default=8,
                        help="16: write images with more than 255 instances as 16-bit PNGs (CUPS' pinned "
                             "torchvision cannot read them) instead of stopping")
    parser.add_argument("--limit", type=FIRST_N_OR_ALL, default=None, help="only the first N images")
    add_shard_arguments(parser)
    add_workers_argument(parser)
    parser.add_argument("--overwrite", action="store_true", help="recompute into a folder made with other settings")
    parser.add_argument("--skip_missing", action="store_true",
                        help="skip images without a depth map / instance file instead of stopping")
    add_layout_arguments(parser, "other than Cityscapes, each image's labels are its size x 0.625 (without "
                                 "--target_h/--target_w) and CUPS' image folder is made under --cityscapes_root as "
                                 "links to the images")
    return parser


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    mode = "legacy" if args.legacy_cluster_split else "depth" if args.depth_instances else \
        "cc" if args.cc_instances else "npz"
    use_depth = mode in ("depth", "legacy") and not args.cc_instances
    settings = split_settings(parser, argv, args, SplitFlags(min_area="min_instance_area"), use_depth)
    if args.from_sweep is not None and mode == "npz":
        raise InputError("--from_sweep sets how instances are split: add --depth_instances.")
    if mode == "depth" and not settings.uses_depth:
        mode = "cc"  # the sweep's best was the connected-component baseline
    if (args.target_h is None) != (args.target_w is None):
        raise InputError("pass both --target_h and --target_w, or neither (image size x 0.625).")
    result = export_split(
        args.cityscapes_root, args.split, args.semantic_subdir, args.output_subdir, mode=mode, split_settings=settings,
        centroids_path=args.centroids_path, stuff_things=args.stuff_things, num_classes=args.num_classes,
        depth_subdir=args.depth_subdir, instance_subdir=args.instance_subdir, trainid_input=args.trainid_input,
        use_trainid_things=args.use_trainid_things,
        target=(args.target_h, args.target_w) if args.target_h else None, instance_png_bits=args.instance_png_bits,
        limit=args.limit, num_shards=args.num_shards, shard_index=args.shard_index, workers=args.workers,
        skip_missing=args.skip_missing, overwrite=args.overwrite, manifest=RunManifest("cups", args),
        requested_tau=args.grad_threshold, source=frame_source(args))
    for level, line in threshold_report(result.interval):
        log.log(level, line)
    print(train_command(args.cityscapes_root, result))
    return 0
