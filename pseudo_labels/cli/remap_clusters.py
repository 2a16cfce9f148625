"""Raw cluster PNGs -> trainId PNGs through a centroid file's ``cluster_to_class``.

The original's interface (a split under the Cityscapes root)::

    python pseudo_labels/remap_raw_clusters_to_trainid.py --cityscapes_root R \\
        --semantic_subdir pseudo_semantic_raw_k80 --centroids_path R/pseudo_semantic_raw_k80/kmeans_centroids.npz \\
        --split train

reads ``{R}/{semantic_subdir}/{split}/{city}/{stem}.png`` and writes
``{R}/{output_subdir}/{split}/{city}/{stem}.png`` (uint8, trainIds 0..18, 255
void); ``--output_subdir`` defaults to ``pseudo_semantic_mapped_k{K}``, K the
length of ``cluster_to_class``. Any folder instead::

    python pseudo_labels/remap_raw_clusters_to_trainid.py --input_dir R/pseudo_semantic_raw_k80/val \\
        --output_dir R/pseudo_semantic_k80_trainid/val --centroids_path R/pseudo_semantic_raw_k80/kmeans_centroids.npz

Unlike the original, a missing input folder, a cluster id >= K and a
label-free centroid file (unmapped 255 clusters) stop with exit status 2
instead of passing silently (as void).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.core.errors import exit_on_input_error
from pseudo_labels.export.relabel import remap_cluster_folder, remap_cluster_split


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--cityscapes_root", type=Path, default=None,
                       help="Cityscapes root (the original's interface, with --semantic_subdir and --split)")
    where.add_argument("--input_dir", type=Path, default=None,
                       help="instead of the root: any folder of raw cluster PNGs (with --output_dir)")
    parser.add_argument("--semantic_subdir", default=None,
                        help="raw cluster PNGs under the root, e.g. pseudo_semantic_raw_k80 (required with the root)")
    parser.add_argument("--centroids_path", required=True, type=Path, help="kmeans_centroids.npz with cluster_to_class")
    parser.add_argument("--output_subdir", default=None, help="under the root; default: pseudo_semantic_mapped_k{K}")
    parser.add_argument("--split", default="train", help="split folder under --semantic_subdir and --output_subdir")
    parser.add_argument("--output_dir", type=Path, default=None, help="with --input_dir: trainId PNGs, same relative paths")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The parsed flags; a flag of the other interface, or one that its interface needs left out, is a usage
    error (exit 2, as argparse's own ``required``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.cityscapes_root is not None:
        if args.semantic_subdir is None:
            parser.error("--semantic_subdir is required with --cityscapes_root")
        if args.output_dir is not None:
            parser.error("--output_dir goes with --input_dir; under --cityscapes_root use --output_subdir")
    else:
        if args.output_dir is None:
            parser.error("--output_dir is required with --input_dir")
        if args.semantic_subdir is not None or args.output_subdir is not None:
            parser.error("--semantic_subdir and --output_subdir go with --cityscapes_root, not --input_dir")
    return args


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.cityscapes_root is None:
        output_dir = args.output_dir
        count = remap_cluster_folder(args.centroids_path, args.input_dir, output_dir)
    else:
        output_dir, count = remap_cluster_split(args.centroids_path, args.cityscapes_root, args.semantic_subdir,
                                                args.split, args.output_subdir)
    print(f"remapped {count} PNGs to {output_dir}")
    return 0
