"""How semantic quality grows with k: k-means on CAUSE 90-d features and on raw DINOv2 768-d features.

    python pseudo_labels/overclustering_cause.py --cityscapes_root R --split val
    python pseudo_labels/overclustering_cause.py --cityscapes_root R --split val \\
        --cause_cache FEATURE_CACHE --dinov2_subdir dinov2_features --k_values 27,50,80,100,300

Without ``--cause_cache`` the network runs, as in the original: the CAUSE
release files in ``--checkpoint_dir`` (the semantics stage's flat folder) give
per image the flip-averaged window features exactly as the semantics stage
computes and caches them, and, from the same pass, the backbone's patch tokens
of the unmirrored windows (the original's "DINOv2-768dim" features); both are
stitched like the features (bilinear to the window, overlaps averaged) and
pooled to the 23 x 46 patch grid, and kept in memory (about 3.6 MB per image).
``--cause_cache`` reads the cached CAUSE features instead (``--feature_cache`` of
``generate_overclustered_semantics.py``), ``--dinov2_subdir`` the tokens of
``extract_dinov2_features.py`` (32 x 64 patch tokens).

For each feature source, patch-level vectors are sampled as the semantics stage
fits (up to 2000 non-void patches per image, ``RandomState(42)``,
L2-normalised), MiniBatchKMeans runs for every k, each cluster takes the
majority GT class of its samples, and every non-void patch of every image is
then assigned (cosine argmax) and scored: mIoU and per-class IoU at the patch
grid (GT resized with Pillow NEAREST). Writes one JSON and a Markdown table.
Reads gtFine: an analysis tool.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.cli.options import FIRST_N_OR_ALL
from pseudo_labels.core.errors import InputError, exit_on_input_error
from pseudo_labels.evaluation.overclustering import run_overclustering
from refs.cause.model import CHECKPOINT_FILES
from refs.checkpoints import CHECKPOINT_DIR


def build_parser() -> argparse.ArgumentParser:
    """The original script's flags and defaults, plus the file sources and ``--output``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    parser.add_argument("--cityscapes_root", required=True, type=Path)
    parser.add_argument("--split", default="val")
    parser.add_argument("--checkpoint_dir", type=Path, default=None,
                        help=f"flat folder with {', '.join(CHECKPOINT_FILES)} (default: {CHECKPOINT_DIR}); "
                             f"used unless --cause_cache is given")
    parser.add_argument("--device", default="auto", help="auto, cuda, cuda:N, mps or cpu")
    parser.add_argument("--k_values", default="27,50,100", help="comma-separated k values")
    parser.add_argument("--limit", type=FIRST_N_OR_ALL, default=0, help="only the first N images (0: all)")
    parser.add_argument("--cause_cache", type=Path, default=None,
                        help="read CAUSE features from this --feature_cache folder of the semantics stage "
                             "instead of running the network")
    parser.add_argument("--dinov2_subdir", default=None,
                        help="read DINOv2 tokens from this output folder of extract_dinov2_features.py")
    parser.add_argument("--output", type=Path, default=None, help="JSON (default: {root}/overclustering_{split}.json)")
    return parser


def parse_k_values(text: str) -> list[int]:
    """``"27,50,100"`` -> [27, 50, 100]; anything but integers >= 2 is an InputError."""
    try:
        k_values = [int(k) for k in text.split(",")]
    except ValueError:
        raise InputError(f"--k_values must be comma-separated integers, got {text!r}.") from None
    if any(k < 2 for k in k_values):
        raise InputError(f"--k_values must be integers >= 2 (one cluster is no clustering), got {text!r}.")
    return k_values


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    k_values = parse_k_values(args.k_values)
    table = run_overclustering(args.cityscapes_root, args.split, k_values, limit=args.limit, cause_cache=args.cause_cache,
                               dinov2_subdir=args.dinov2_subdir, checkpoint_dir=args.checkpoint_dir,
                               device=args.device, output=args.output)
    print(table)
    return 0
