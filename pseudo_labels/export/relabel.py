"""Relabelling PNG folders through a lookup table: CAUSE-27 -> trainIds, raw clusters -> trainIds.

:func:`remap_cause27` is the run behind ``pseudo-labels remap-cause27``
(``remap_cause27_to_trainid.py``); :func:`remap_cluster_folder` and
:func:`remap_cluster_split` are the two interfaces of ``pseudo-labels
remap-clusters`` (``remap_raw_clusters_to_trainid.py``). Both commands walk a folder (any depth, ``*.png``, sorted; 8-bit maps, or
16-bit cluster maps for k > 255), map every pixel through one lookup table
(256 entries, or k) and write the result under the output folder at
the same relative path, atomically. Values the table does not cover stop the
run with the file named (a raw cluster id fed as a CAUSE id, say).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import check_not_an_input, write_png
from pseudo_labels.formats.centroids import load_cluster_to_class
from pseudo_labels.formats.semantic import read_label_png

log = logging.getLogger("remap_cause27")  # the command's name: log lines read as they did when this lived in it

SPLITS = ("train", "val")
SPLIT_CHOICES = (*SPLITS, "both")

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
    check_not_an_input(output_dir, [input_dir], "the output folder")
    files = sorted(Path(input_dir).rglob("*.png"))
    if not files:
        raise InputError(f"no PNG files under {input_dir}.")
    for path in tqdm(files, desc="remap", unit="img"):
        ids = read_label_png(path)
        bad = (ids >= valid_ids) & (ids != cs.IGNORE_ID)
        if bad.any():
            raise InputError(f"{path}: id {int(ids[bad].max())} is not a {what} id (0..{valid_ids - 1}).")
        write_png(Path(output_dir) / path.relative_to(input_dir), table[ids])
    return len(files)


def split_folders(input_dir: Path, output_dir: Path, split: str) -> list[tuple[Path, Path]]:
    """The (input, output) folder pairs to remap for ``split`` (one of :data:`SPLIT_CHOICES`).

    A named split is ``{input_dir}/{split}`` -> ``{output_dir}/{split}`` (a
    missing one is named by :func:`remap_folder`). ``both`` takes each of the
    two split folders that exists, and the whole folder when neither does (a
    split folder itself, or any other layout).
    """
    if split != "both":
        return [(input_dir / split, output_dir / split)]  # remap_folder names a missing one
    present = [name for name in SPLITS if (input_dir / name).is_dir()]
    if not present:
        return [(input_dir, output_dir)]
    for name in SPLITS:
        if name not in present:
            log.info("skipping %s: %s not found", name, input_dir / name)
    return [(input_dir / name, output_dir / name) for name in present]


def remap_cause27(input_dir: Path, output_dir: Path, split: str = "both") -> Iterator[tuple[Path, int]]:
    """CAUSE 27-class PNGs -> trainIds with the reference's table, folder pair by folder pair (:func:`split_folders`).

    Yields (output folder, PNGs written) as each folder is done, so a caller
    can report a finished folder before a later one fails.
    """
    for source, target in split_folders(Path(input_dir), Path(output_dir), split):
        yield target, remap_folder(source, target, cause27_table(), len(cs.CAUSE27_NAMES), "CAUSE-27 class")


def mapped_cluster_to_class(centroids_path: Path) -> np.ndarray:
    """The centroid file's ``cluster_to_class``; a label-free one (unmapped 255 clusters) is an InputError."""
    table = load_cluster_to_class(centroids_path)
    if np.any(table == cs.IGNORE_ID):
        raise InputError(f"{centroids_path}: cluster_to_class has unmapped (255) clusters (a label-free file).")
    return table


def mapped_subdir(k: int) -> str:
    """The default output folder under the root for trainIds mapped from k clusters."""
    return f"pseudo_semantic_mapped_k{k}"


def remap_cluster_folder(centroids_path: Path, input_dir: Path, output_dir: Path) -> int:
    """Raw cluster PNGs under ``input_dir`` -> trainId PNGs under ``output_dir``; returns how many were written.

    A cluster id >= k stops with the file named.
    """
    table = mapped_cluster_to_class(centroids_path)
    return remap_folder(input_dir, output_dir, cluster_table(table), len(table), "cluster")


def remap_cluster_split(centroids_path: Path, root: Path, semantic_subdir: str, split: str = "train",
                        output_subdir: str | None = None) -> tuple[Path, int]:
    """The original interface: ``{root}/{semantic_subdir}/{split}`` -> ``{root}/{output_subdir}/{split}``.

    ``output_subdir`` defaults to :func:`mapped_subdir` of the file's k.
    Returns the output folder and how many PNGs were written.
    """
    table = mapped_cluster_to_class(centroids_path)
    output_dir = Path(root) / (output_subdir or mapped_subdir(len(table))) / split
    count = remap_folder(Path(root) / semantic_subdir / split, output_dir, cluster_table(table), len(table), "cluster")
    return output_dir, count
