"""Relabelling PNG folders through a lookup table: CAUSE-27 -> trainIds, raw clusters -> trainIds.

Both commands walk ``--input_dir`` (any depth, ``*.png``, sorted), map every
pixel through one 256-entry table and write the result under ``--output_dir``
at the same relative path, atomically. Values the table does not cover stop
the run with the file named (a raw cluster id fed as a CAUSE id, say).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from pseudo_labels import cityscapes as cs
from pseudo_labels.errors import InputError
from pseudo_labels.fileio import write_png


def cause27_table() -> np.ndarray:
    """(256,) uint8: CAUSE class id 0..26 -> trainId (255 for the 8 classes outside the 19); 255 stays 255."""
    table = np.full(256, cs.IGNORE_ID, np.uint8)
    table[: len(cs.CAUSE27_TO_TRAIN_ID)] = cs.CAUSE27_TO_TRAIN_ID
    return table


def cluster_table(cluster_to_class: np.ndarray) -> np.ndarray:
    """(256,) uint8: cluster id -> trainId from a centroid file's ``cluster_to_class``."""
    table = np.full(256, cs.IGNORE_ID, np.uint8)
    table[: len(cluster_to_class)] = cluster_to_class
    return table


def remap_folder(input_dir: Path, output_dir: Path, table: np.ndarray, valid_ids: int, what: str) -> int:
    """Map every PNG under ``input_dir``; ids >= ``valid_ids`` (other than 255) are an error naming the file."""
    files = sorted(Path(input_dir).rglob("*.png"))
    if not files:
        raise InputError(f"no PNG files under {input_dir}.")
    for path in tqdm(files, desc="remap", unit="img"):
        ids = cs.read_png(path)
        if ids.ndim != 2 or ids.dtype != np.uint8:
            raise InputError(f"{path}: expected a single-channel uint8 PNG of {what}, got shape {ids.shape} {ids.dtype}.")
        bad = (ids >= valid_ids) & (ids != cs.IGNORE_ID)
        if bad.any():
            raise InputError(f"{path}: id {int(ids[bad].max())} is not a {what} id (0..{valid_ids - 1}).")
        write_png(Path(output_dir) / path.relative_to(input_dir), table[ids])
    return len(files)
