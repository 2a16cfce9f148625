"""The published k=80 centroids (the clusters behind PQ 26.74), shipped as package data.

``data/kmeans_centroids_k80.npz`` holds the arrays the original research
repository ships base64-encoded (``kmeans_centroids_k80.b64``): ``centroids``
(80, 90) float64 with L2-normalised rows and ``cluster_to_class`` (80,) uint8
trainIds, stored as ``np.savez`` stores them (an uncompressed zip). It is the
one tracked ``.npz`` outside ``tests/``. Every use checks its sha256 first, so
a damaged or edited installation stops with a message instead of silently
giving other clusters. :func:`restore` writes it under a Cityscapes root
(``pseudo-labels restore-centroids``, ``restore_centroids_k80.py``).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import prepare_output_file, read_npz, write_bytes_atomic
from pseudo_labels.data import cityscapes as cs

PUBLISHED = "published"
"""The ``--load_centroids`` value that names the packaged file."""

CENTROIDS_K80_PATH = Path(__file__).resolve().parent / "kmeans_centroids_k80.npz"
"""The packaged centroid file (read through :func:`verified_centroids_k80_path`, never directly)."""

CENTROIDS_K80_SHA256 = "6690f7456b5c6835729cb08e48a190fd736930d84c92525ec3eda4f3e2b3057f"
"""sha256 of the packaged file's bytes, recorded when it was added."""

CENTROIDS_K80_KEYS = ("centroids", "cluster_to_class")
"""The members of the file, in order (those the original's restore script writes)."""

RESTORE_SUBDIR = "pseudo_semantic_raw_k80"
RESTORE_NAME = "kmeans_centroids.npz"
"""Where :func:`restore` writes the file under a Cityscapes root (where the original restore script writes it)."""

_REINSTALL = "Reinstall the package (pip install -e . in a checkout, or git checkout -- pseudo_labels/data/)."


def _checked() -> tuple[Path, bytes]:
    """(path, bytes) of the packaged file, once its bytes are read and their sha256 is the recorded one."""
    path = CENTROIDS_K80_PATH  # read at call time, so tests can point it at a tampered copy
    if not path.is_file():
        raise InputError(f"{path}: the packaged k=80 centroid file is missing. {_REINSTALL}")
    data = path.read_bytes()
    found = hashlib.sha256(data).hexdigest()
    if found != CENTROIDS_K80_SHA256:
        raise InputError(f"{path}: sha256 {found} is not the recorded {CENTROIDS_K80_SHA256}; the packaged k=80 "
                         f"centroid file is damaged or was edited. {_REINSTALL}")
    return path, data


def verified_centroids_k80_path() -> Path:
    """The packaged file's path, after checking its sha256 (for readers that take a path)."""
    return _checked()[0]


def centroids_k80_bytes() -> bytes:
    """The packaged file's bytes, checked (hashed as read, so what is checked is what is used)."""
    return _checked()[1]


def centroids_k80() -> dict[str, np.ndarray]:
    """``{"centroids": (80, 90) float64, "cluster_to_class": (80,) uint8}`` from the checked packaged file."""
    return arrays_of(centroids_k80_bytes())


def arrays_of(data: bytes) -> dict[str, np.ndarray]:
    """The members of checked ``.npz`` bytes (see :func:`centroids_k80_bytes`), read at once."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def centroid_file_argument(text: str) -> Path:
    """argparse ``type`` of ``--load_centroids``: ``published`` is the verified packaged file, anything else a path.

    A file that is really called ``published`` is reached as ``./published``
    (the comparison is on the text as typed).
    """
    return verified_centroids_k80_path() if text == PUBLISHED else Path(text)


def same_arrays(path: Path, arrays: Mapping[str, np.ndarray]) -> bool:
    """True when the ``.npz`` at ``path`` holds exactly these members, equal in dtype, shape and values."""
    try:
        found = read_npz(path)
    except InputError:
        return False  # unreadable or not an archive: certainly not the published arrays
    return sorted(found) == sorted(arrays) and all(
        found[k].dtype == v.dtype and np.array_equal(found[k], v) for k, v in arrays.items())


def restore(root: Path, overwrite: bool = False) -> tuple[Path, bool, dict[str, np.ndarray]]:
    """Write the packaged file, byte for byte, as ``{root}/pseudo_semantic_raw_k80/kmeans_centroids.npz``.

    A file already there with the same arrays is left alone (in whatever
    bytes: compressed, say); one with other arrays (centroids fitted by the
    user) stops the run unless ``overwrite``. ``root`` must be a folder (the
    original created any missing folder, a mistyped root too). Returns (path,
    whether it was written, the published arrays).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: --cityscapes_root is not a folder. Pass the Cityscapes root.")
    data = centroids_k80_bytes()
    arrays = arrays_of(data)
    target = root / RESTORE_SUBDIR / RESTORE_NAME
    if target.is_file():
        if target.read_bytes() == data or same_arrays(target, arrays):
            return target, False, arrays
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
