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
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data import published
from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.core.errors import InputError, exit_on_input_error
from pseudo_labels.core.fileio import prepare_output_file, read_npz, write_bytes_atomic

OUTPUT_SUBDIR = "pseudo_semantic_raw_k80"
OUTPUT_NAME = "kmeans_centroids.npz"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    parser.add_argument("--cityscapes_root", required=True, type=Path,
                        help=f"Cityscapes root; writes {OUTPUT_SUBDIR}/{OUTPUT_NAME} under it")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing centroid file that holds other arrays (new; the original always did)")
    return parser


def same_arrays(path: Path, arrays: Mapping[str, np.ndarray]) -> bool:
    """True when the ``.npz`` at ``path`` holds exactly these members, equal in dtype, shape and values."""
    try:
        found = read_npz(path)
    except InputError:
        return False  # unreadable or not an archive: certainly not the published arrays
    return sorted(found) == sorted(arrays) and all(
        found[k].dtype == v.dtype and np.array_equal(found[k], v) for k, v in arrays.items())


def restore(root: Path, overwrite: bool = False) -> tuple[Path, bool, dict[str, np.ndarray]]:
    """Write the published file under ``root``.

    Returns (path, whether it was written -- False when an equal file was
    there, the published arrays).
    """
    data = published.centroids_k80_bytes()
    arrays = published.arrays_of(data)
    target = root / OUTPUT_SUBDIR / OUTPUT_NAME
    if target.is_file():
        if target.read_bytes() == data or same_arrays(target, arrays):
            return target, False, arrays  # also an equal copy in other bytes (compressed, say)
        if not overwrite:
            raise InputError(f"{target}: holds other centroids than the published k=80 ones and was left as is. "
                             f"Move it away, or pass --overwrite to replace it.")
    write_bytes_atomic(prepare_output_file(target), data)
    return target, True, arrays


def describe(arrays: Mapping[str, np.ndarray]) -> list[str]:
    """Summary lines: the centroid shape and how many clusters each thing class gets."""
    table = arrays["cluster_to_class"]
    lines = [f"  centroids: {arrays['centroids'].shape} {arrays['centroids'].dtype}",
             f"  cluster_to_class: {table.tolist()}", "  thing class clusters:"]
    for train_id in cs.THING_TRAIN_IDS:
        members = np.flatnonzero(table == train_id).tolist()
        lines.append(f"    {cs.CLASS_NAMES[train_id]:15s}: "
                     + (f"{len(members)} clusters -> {members}" if members else "0 clusters (MISSING)"))
    return lines


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.cityscapes_root.is_dir():
        raise InputError(f"{args.cityscapes_root}: --cityscapes_root is not a folder. Pass the Cityscapes root.")
    target, written, arrays = restore(args.cityscapes_root, args.overwrite)
    print(f"{'Saved to' if written else 'Already restored:'} {target}")
    print("\n".join(describe(arrays)))
    return 0
