"""A sweep's per-image statistics: the ``{stem}.images.npz`` beside its JSON, which the report's bootstrap resamples.

The JSON holds totals; intervals need each image's share. Per protocol the
file holds a (images, configs, 4, C) float64 array ``stats_{protocol}``: TP,
FP, FN and the summed TP IoU per class (C = 19 trainIds, or CUPS' 27), in the
JSON's image and configuration order. They add up to the JSON's per-class
counts, which :func:`read_image_stats` checks, so a file left by another run
is refused instead of silently used. For the CUPS protocol an image's
statistics are taken under the configuration's dataset-level PQ assignment
(the matching over the whole split, held fixed); configurations CUPS could not
score are all zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import read_npz, write_npz
from pseudo_labels.evaluation import cups_protocol as cp
from pseudo_labels.evaluation import sweep
from pseudo_labels.evaluation.bootstrap import num_classes

SUFFIX = ".images.npz"


def image_stats_path(sweep_json: Path) -> Path:
    """Where the per-image statistics of ``sweep_json`` live: ``{stem}.images.npz`` beside it."""
    sweep_json = Path(sweep_json)
    return sweep_json.with_name(f"{sweep_json.stem}{SUFFIX}")


def cups_image_stats(tables: Sequence[Sequence[cp.ImageTable]], entries: Sequence[dict]) -> np.ndarray:
    """(images, configs, 4, 27) per-image CUPS statistics, each configuration under its own PQ assignment.

    ``tables[config][image]`` as the sweep keeps them; ``entries`` the CUPS
    rows in the same configuration order (unscored rows give zeros).
    """
    n_images = len(tables[0]) if tables else 0
    out = np.zeros((n_images, len(entries), 4, cp.NUM_CLASSES))
    for config, (config_tables, entry) in enumerate(zip(tables, entries)):
        if entry.get("assignment_pq") is None:
            continue
        lookup = cp.class_lookup(np.asarray(entry["assignment_pq"], np.int64))
        done: dict[int, np.ndarray] = {}  # configurations with the same kept instances share table objects
        for image, table in enumerate(config_tables):
            if id(table) not in done:
                s = cp.image_stats(table, lookup)
                done[id(table)] = np.stack([s.tp, s.fp, s.fn, s.iou]).astype(np.float64)
            out[image, config] = done[id(table)]
    return out


def image_stats_arrays(totals: sweep.SweepTotals, results: Sequence[dict]) -> dict[str, np.ndarray]:
    """``{protocol: (images, configs, 4, C)}`` from a sweep kept image by image and its JSON entries."""
    arrays = {}
    for protocol in [p for p in totals.stats] + ([cp.CUPS] if totals.tables is not None else []):
        if protocol == cp.CUPS:
            arrays[protocol] = cups_image_stats(totals.tables, [e for e in results if e["protocol"] == cp.CUPS])
        else:
            arrays[protocol] = sweep.image_stats_array(totals.images, [protocol])[:, 0]
    return arrays


def write_image_stats(path: Path, keys: Sequence[str], arrays: dict[str, np.ndarray]) -> Path:
    """Write the per-image statistics (atomic, byte-identical for identical statistics)."""
    return write_npz(path, {"keys": np.array(list(keys), dtype=np.str_),
                            "protocols": np.array(list(arrays), dtype=np.str_),
                            **{f"stats_{p}": np.ascontiguousarray(a, np.float64) for p, a in arrays.items()}})


def read_image_stats(sweep_json: Path, record: dict) -> dict[str, np.ndarray] | None:
    """``{protocol: (images, configs, 4, C)}`` beside ``sweep_json``, checked against ``record``; None when absent.

    The file must hold every protocol of the record, one row per image and
    configuration, and its sums must equal the record's per-class TP/FP/FN.
    """
    path = image_stats_path(sweep_json)
    if not path.is_file():
        return None
    fix = "Re-run the sweep that wrote the JSON beside it (it writes both), or delete the file."
    data = read_npz(path, fix)
    arrays = {}
    for protocol in record["protocols"]:
        entries = [e for e in record["results"] if e["protocol"] == protocol]
        stats = data.get(f"stats_{protocol}")
        shape = (record["n_images"], len(entries), 4, num_classes(protocol))
        if stats is None or stats.shape != shape:
            raise InputError(f"{path}: no {protocol} statistics of shape {shape} "
                             f"({None if stats is None else stats.shape}), so it does not belong to {sweep_json}. {fix}")
        sums = stats[:, :, :3].sum(axis=0)
        for index, entry in enumerate(entries):
            if entry["PQ"] is None:
                continue
            expected = np.array([[row[k] for row in entry["per_class"].values()] for k in ("TP", "FP", "FN")])
            if not np.array_equal(sums[index], expected):
                raise InputError(f"{path}: its per-image counts do not add up to the {protocol} counts of {sweep_json} "
                                 f"(configuration {index}). {fix}")
        arrays[protocol] = stats
    return arrays
