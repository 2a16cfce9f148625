"""Overclustered semantics from CAUSE features: fit k-means on val, write cluster (or class) PNGs.

    python pseudo_labels/generate_overclustered_semantics.py --cityscapes_root R --split val --k 80 \\
        --skip_crf --raw_clusters --output_subdir pseudo_semantic_raw_k80
    python pseudo_labels/generate_overclustered_semantics.py --cityscapes_root R --split train --k 80 \\
        --skip_crf --raw_clusters --output_subdir pseudo_semantic_raw_k80 \\
        --load_centroids R/pseudo_semantic_raw_k80/kmeans_centroids.npz

``--load_centroids published`` takes the packaged k=80 centroids of the
published run (:mod:`pseudo_labels.data.published`, sha256 checked).
Without ``--load_centroids`` the centroids are fitted on the *val* split (as the
reference) and saved as ``{R}/{output_subdir}/kmeans_centroids.npz``; the
majority-vote ``cluster_to_class`` reads val ground truth unless ``--label_free``.
Outputs: ``{R}/{output_subdir}/{split}/{city}/{stem}.png`` (cluster ids with
``--raw_clusters``: 8-bit PNGs up to k = 255, 16-bit above; else trainIds) and ``stats.json`` per split. Without
``--skip_crf`` each map is refined by the dense CRF (:mod:`pseudo_labels.semantics.crf`),
as the reference does by default.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.cli.options import CLUSTERS, FIRST_N_OR_ALL, NON_NEGATIVE_INT, POSITIVE_INT, RANDOM_SEED, add_layout_arguments
from pseudo_labels.core.errors import InputError, exit_on_input_error
from pseudo_labels.data import published
from pseudo_labels.semantics import clustering, crf
from pseudo_labels.semantics.overclustered import DEFAULT_K, SemanticsOptions, write_semantic_labels
from refs.cause.model import CHECKPOINT_FILES
from refs.checkpoints import CHECKPOINT_DIR


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--cityscapes_root", required=True, type=Path, help="Cityscapes root (leftImg8bit/, gtFine/)")
    parser.add_argument("--split", default="val", choices=("train", "val", "test"), help="split to label")
    parser.add_argument("--k", type=CLUSTERS, default=DEFAULT_K,
                        help="number of k-means clusters (the published configuration: 80)")
    parser.add_argument("--skip_crf", action="store_true",
                        help="no dense CRF (the published setting); without it the CRF needs requirements-crf.txt")
    parser.add_argument("--crf_workers", type=POSITIVE_INT, default=None,
                        help="processes running the CRF (default: CPUs, at most 8)")
    parser.add_argument("--raw_clusters", action="store_true", help="write cluster ids 0..k-1 instead of trainIds")
    parser.add_argument("--output_subdir", default=None,
                        help="default: pseudo_semantic_raw_k{k} (raw) or pseudo_semantic_overclustered_k{k}")
    parser.add_argument("--load_centroids", type=published.centroid_file_argument, default=None,
                        help="reuse a kmeans_centroids.npz; 'published': the packaged k=80 centroids (PQ 26.74)")
    parser.add_argument("--checkpoint_dir", type=Path, default=CHECKPOINT_DIR,
                        help="flat folder with " + ", ".join(CHECKPOINT_FILES))
    parser.add_argument("--device", default="auto", help="cuda, cuda:1, cpu, or auto (cuda when available)")
    parser.add_argument("--limit", type=FIRST_N_OR_ALL, default=0,
                        help="only the first N images (fitting and output); 0: all")
    parser.add_argument("--batch_size", type=POSITIVE_INT, default=1,
                        help="images per network batch (all their windows)")
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast for the network (CUDA)")
    parser.add_argument("--feature_cache", type=Path, default=None, help="cache crop features here (float32 .npy)")
    parser.add_argument("--label_free", action="store_true",
                        help="fit without ground truth (cluster_to_class left 255); needs --raw_clusters")
    parser.add_argument("--kmeans", choices=("minibatch", "torch"), default="minibatch", help="k-means implementation")
    parser.add_argument("--n_init", type=POSITIVE_INT, default=clustering.DEFAULT_N_INIT, help="k-means restarts")
    parser.add_argument("--seed", type=RANDOM_SEED, default=clustering.DEFAULT_SEED, help="sampling and k-means seed")
    parser.add_argument("--num_workers", type=NON_NEGATIVE_INT, default=2, help="processes decoding images")
    parser.add_argument("--overwrite", action="store_true",
                        help="recompute everything, also in a folder made with other settings")
    add_layout_arguments(parser, "other than Cityscapes needs --load_centroids or --raw_clusters --label_free, "
                                 "and each map is written at its frame's size")
    return parser


def _check(args: argparse.Namespace) -> None:
    if not args.skip_crf:
        crf.require()
    if args.label_free and not args.raw_clusters:
        raise InputError("--label_free gives no cluster-to-class map: add --raw_clusters.")


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _check(args)
    write_semantic_labels(SemanticsOptions(**vars(args)))
    return 0
