"""Restore the published k=80 centroids (PQ 26.74) as ``{R}/pseudo_semantic_raw_k80/kmeans_centroids.npz``.

    python pseudo_labels/restore_centroids_k80.py --cityscapes_root R

Writes the packaged file (:mod:`pseudo_labels.data.published`, sha256 checked) byte
for byte: the members ``centroids`` (80, 90) float64 and ``cluster_to_class``
(80,) uint8 in an uncompressed ``np.savez`` archive, the keys and arrays the
original script writes. A file already there with the same arrays is left
alone; one with other arrays (centroids you fitted yourself, say) is kept and
the command stops, unless ``--overwrite`` (the original overwrote silently).
The root must exist (the original created any missing folder, a mistyped root too).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.core.errors import exit_on_input_error
from pseudo_labels.data.published import RESTORE_NAME, RESTORE_SUBDIR, describe, restore


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    parser.add_argument("--cityscapes_root", required=True, type=Path,
                        help=f"Cityscapes root; writes {RESTORE_SUBDIR}/{RESTORE_NAME} under it")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing centroid file that holds other arrays (new; the original always did)")
    return parser


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    target, written, arrays = restore(args.cityscapes_root, args.overwrite)
    print(f"{'Saved to' if written else 'Already restored:'} {target}")
    print("\n".join(describe(arrays)))
    return 0
