"""Relabelling PNG folders through a lookup table: CAUSE-27 -> trainIds, raw clusters -> trainIds.

Both commands walk a folder (any depth, ``*.png``, sorted; 8-bit maps, or
16-bit cluster maps for k > 255), map every pixel through one lookup table
(256 entries, or k) and write the result under the output folder at
the same relative path, atomically. Values the table does not cover stop the
run with the file named (a raw cluster id fed as a CAUSE id, say).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import write_png


CAUSE27_MERGED: dict[str, str] = {"polegroup": "pole", "caravan": "car", "trailer": "truck"}
"""CAUSE classes outside the 19 that the reference's 27 -> 19 table (in its remap script and its
cascade evaluation) counts as the trainId of a neighbouring class instead of void."""


def cause27_table() -> np.ndarray:
    """(256,) uint8: CAUSE class id 0..26 -> trainId, as the reference maps them; 255 stays 255.

    Cityscapes' own trainIds (:data:`cityscapes.CAUSE27_TO_TRAIN_ID`) with the
    :data:`CAUSE27_MERGED` classes folded in, so 5 of the 27 are void
    (parking, rail track, guard rail, bridge, tunnel).
    """
    table = np.full(256, cs.IGNORE_ID, np.uint8)
    table[: len(cs.CAUSE27_TO_TRAIN_ID)] = cs.CAUSE27_TO_TRAIN_ID
    for name, into in CAUSE27_MERGED.items():
        table[cs.CAUSE27_NAMES.index(name)] = cs.CLASS_NAMES.index(into)
    return table


def cluster_table(cluster_to_class: np.ndarray) -> np.ndarray:
    """(max(256, k),) uint8: cluster id -> trainId from a centroid file's ``cluster_to_class``."""
    table = np.full(max(256, len(cluster_to_class)), cs.IGNORE_ID, np.uint8)
    table[: len(cluster_to_class)] = cluster_to_class
    return table


def remap_folder(input_dir: Path, output_dir: Path, table: np.ndarray, valid_ids: int, what: str) -> int:
    """Map every PNG under ``input_dir``; ids >= ``valid_ids`` (other than 255) are an error naming the file."""
    if not Path(input_dir).is_dir():
        raise InputError(f"{input_dir}: input folder not found. Check the input path (and --split).")
    files = sorted(Path(input_dir).rglob("*.png"))
    if not files:
        raise InputError(f"no PNG files under {input_dir}.")
    for path in tqdm(files, desc="remap", unit="img"):
        ids = cs.read_png(path)
        if ids.ndim != 2 or ids.dtype not in (np.uint8, np.uint16):
            raise InputError(f"{path}: expected a single-channel 8- or 16-bit PNG of {what}, got shape {ids.shape} "
                             f"{ids.dtype}.")
        bad = (ids >= valid_ids) & (ids != cs.IGNORE_ID)
        if bad.any():
            raise InputError(f"{path}: id {int(ids[bad].max())} is not a {what} id (0..{valid_ids - 1}).")
        write_png(Path(output_dir) / path.relative_to(input_dir), table[ids])
    return len(files)
