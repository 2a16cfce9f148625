"""``pseudo-labels synthetic``: write a synthetic Cityscapes-format dataset (the data of the tests and the demo).

    pseudo-labels synthetic --root S --split val --num_images 8 --with_prediction --k 80

See :mod:`pseudo_labels.data.synthetic` for what the scenes hold.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.cli.options import Number, POSITIVE_INT, RANDOM_SEED
from pseudo_labels.core.errors import exit_on_input_error
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data.synthetic import write_dataset

log = logging.getLogger(__name__)

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--root", required=True, type=Path, help="dataset root to write (Cityscapes layout)")
    parser.add_argument("--split", default="val", help="split name (train, val, test)")
    parser.add_argument("--num_images", type=POSITIVE_INT, default=4, help="number of images")
    parser.add_argument("--seed", type=RANDOM_SEED, default=0, help="random seed (same seed -> same bytes)")
    parser.add_argument("--size", type=POSITIVE_INT, nargs=2, default=(1024, 2048), metavar=("H", "W"),
                        help="image size")
    parser.add_argument("--depth_size", type=POSITIVE_INT, nargs=2, default=None, metavar=("H", "W"),
                        help="depth (and prediction) size; default half the image size")
    parser.add_argument("--with_prediction", action="store_true",
                        help="also write a degraded raw-cluster prediction and kmeans_centroids.npz")
    parser.add_argument("--k", type=Number(int, low=cs.NUM_CLASSES, high=cs.MAX_CLUSTERS), default=80,
                        help="number of clusters of the prediction")
    return parser


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    keys = write_dataset(args.root, args.split, args.num_images, args.seed, tuple(args.size),
                         tuple(args.depth_size) if args.depth_size else None,
                         args.k if args.with_prediction else None)
    log.info("wrote %d synthetic %s images under %s", len(keys), args.split, args.root)
    return 0
