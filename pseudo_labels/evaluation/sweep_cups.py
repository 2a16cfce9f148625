"""The sweep's CUPS-protocol rows: each configuration scored as CUPS would score the labels the CUPS export writes for it.

Per configuration the sweep keeps one :class:`~pseudo_labels.evaluation.cups_protocol.ImageTable`
per image (the export's painted labels against CUPS' GT, at the eval size).
Here they become what ``pseudo-labels cups`` + ``pseudo-labels evaluate-cups``
would give: the ``.pt`` sums (float32, in the export folder's sorted file
order), the thing/stuff split by CUPS' rule at the threshold (by default the
midpoint of the interval that gives the centroid file's thing clusters, as
the export suggests it), then the matching and the numbers in CUPS' image order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


from pseudo_labels.evaluation import cups_protocol as cp
from pseudo_labels.evaluation.cups_scores import score_tables
from pseudo_labels.formats.cups_labels import pseudo_class_split, threshold_interval
from pseudo_labels.instances.settings import SplitSettings

SUGGESTED = "suggested"
"""Threshold source: the midpoint of the interval that gives the intended thing clusters (per configuration)."""


def cups_settings(root: Path, split: str, thing_clusters: Sequence[int], num_pseudo: int,
                  threshold: float | None) -> dict:
    """What the CUPS rows need beyond the tables, kept in the sweep's settings (and shards)."""
    return {"thing_clusters": [int(k) for k in thing_clusters], "num_pseudo": int(num_pseudo),
            "thing_stuff_threshold": threshold, "city_order": os.listdir(Path(root) / "gtFine" / split)}


def cups_row(tables: Sequence[cp.ImageTable], keys: Sequence[str], settings: dict) -> dict:
    """The CUPS-protocol record of one configuration (``tables`` and ``keys`` in the same image order)."""
    num_pseudo = settings["num_pseudo"]
    by_file = sorted(range(len(keys)), key=lambda i: keys[i].split("/")[1])  # the export folder's sorted file order
    sums = [t.distributions(num_pseudo) for t in (tables[i] for i in by_file)]
    # summed one file after the other in float32, as the export's .pt vectors are (batches of one)
    inside = cp.batched_float32_sum((s[0] for s in sums), batch_size=1)
    everywhere = cp.batched_float32_sum((s[1] for s in sums), batch_size=1)
    threshold, source = settings["thing_stuff_threshold"], "given"
    if threshold is None:
        interval = threshold_interval(inside, everywhere, tuple(settings["thing_clusters"]))
        threshold, source = interval.suggested, SUGGESTED
        if threshold is None:
            return {"thing_stuff_threshold": None, "threshold_source": SUGGESTED,
                    "error": "no DATA.THING_STUFF_THRESHOLD gives the centroid file's thing clusters"}
    things, stuffs = pseudo_class_split(inside, everywhere, threshold)
    if not things:
        return {"thing_stuff_threshold": threshold, "threshold_source": source,
                "error": f"threshold {threshold:g} leaves no thing pseudo-class"}
    order = cp.cups_image_order(keys, settings["city_order"])
    record = score_tables([tables[i] for i in order], things, stuffs)
    return {**record, "thing_stuff_threshold": threshold, "threshold_source": source}


def sweep_entry(record: dict) -> dict:
    """A CUPS record in the sweep's entry schema (PQ, PQ_stuff, ..., per_class rows with PQ/SQ/RQ/TP/FP/FN)."""
    if "error" in record:
        return {"PQ": None, "PQ_stuff": None, "PQ_things": None, "SQ": None, "RQ": None, **record}
    names = {"pq": "PQ", "sq": "SQ", "rq": "RQ", "pq_stuff": "PQ_stuff", "pq_things": "PQ_things",
             "sq_stuff": "SQ_stuff", "sq_things": "SQ_things", "rq_stuff": "RQ_stuff", "rq_things": "RQ_things",
             "miou": "mIoU", "acc": "accuracy"}
    entry = {new: record[old] for old, new in names.items()}
    entry["n_classes"] = sum(row["counted"] for row in record["per_class"].values())
    entry["per_class"] = {
        name: {"PQ": row["pq"], "SQ": row["sq"], "RQ": row["rq"], "TP": row["tp"], "FP": row["fp"], "FN": row["fn"],
               "iou_sum": row["iou_sum"], "evaluated": row["counted"], "thing": row["thing"]}
        for name, row in record["per_class"].items()}
    for key in ("thing_stuff_threshold", "threshold_source", "things", "stuffs", "assignment_pq", "assignment_miou",
                "absent_classes", "forced_onto_absent"):
        entry[key] = record[key]
    return entry


def cups_entries(grid: Sequence[SplitSettings], tables: Sequence[Sequence[cp.ImageTable]], keys: Sequence[str],
                 instances: Sequence[int], settings: dict) -> list[dict]:
    """One sweep entry per configuration under the CUPS protocol."""
    entries = []
    for config, config_tables, count in zip(grid, tables, instances):
        entry = sweep_entry(cups_row(config_tables, keys, settings))
        entries.append({"grad_threshold": config.tau, "min_area": config.min_area,
                        **{k: v for k, v in entry.items() if k != "per_class"},
                        "avg_instances": count / max(len(keys), 1), "n_images": len(keys),
                        "mode": "depth" if config.uses_depth else "cc_only", "protocol": cp.CUPS,
                        "per_class": entry.get("per_class", {})})
    return entries

