"""Sweep result JSON (``sweep_k{k}_spidepth_{split}.json``): the one reader and its schema.

The report renders it and ``--from_sweep`` takes its best settings; both read it
here, so a file missing a field, or with a field of the wrong type, stops with
the field named and the fix (re-run the sweep), never a traceback halfway.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import is_json_int, is_json_number, read_json


def _is_score(value: object) -> bool:
    """A PQ/SQ/RQ value: a number, or null where a protocol has none."""
    return value is None or is_json_number(value)


def _class_row_problem(row: object) -> str | None:
    """What is wrong with one per-class row of a scored entry, or None."""
    if not isinstance(row, dict):
        return "is not an object"
    for name in ("evaluated", "thing"):
        if not isinstance(row.get(name), bool):
            return f"needs {name!r} true or false, got {row.get(name)!r}"
    for name in ("TP", "FP", "FN"):
        if not is_json_int(row.get(name)) or row[name] < 0:
            return f"needs {name!r} a count, got {row.get(name)!r}"
    if row["evaluated"]:
        for name in ("PQ", "SQ", "RQ"):
            if not is_json_number(row.get(name)):
                return f"is evaluated but its {name!r} is {row.get(name)!r}, not a number"
    return None


def _entry_problem(entry: object, protocols: Sequence[str]) -> str | None:
    """What is wrong with one ``results`` entry (the fields the report reads, with their types), or None."""
    if not isinstance(entry, dict):
        return "is not an object"
    if entry.get("protocol") not in protocols:
        return f"has protocol {entry.get('protocol')!r}, not one of the record's protocols {list(protocols)}"
    if entry.get("mode") not in ("depth", "cc_only"):
        return f"has mode {entry.get('mode')!r}, not 'depth' or 'cc_only'"
    for name in ("PQ", "PQ_stuff", "PQ_things", "SQ", "RQ"):
        if name not in entry:
            return f"has no {name!r}"
        if not _is_score(entry[name]):
            return f"has {name!r} {entry[name]!r}, not a number or null"
    if entry["mode"] == "depth" and not is_json_number(entry.get("grad_threshold")):
        return f"is a depth configuration with grad_threshold {entry.get('grad_threshold')!r}, not a number"
    if not is_json_int(entry.get("min_area")):
        return f"has min_area {entry.get('min_area')!r}, not an integer"
    if not is_json_number(entry.get("avg_instances")):
        return f"has avg_instances {entry.get('avg_instances')!r}, not a number"
    if not isinstance(entry.get("per_class"), dict):
        return "has no 'per_class' object"
    if entry["PQ"] is not None:
        for name, row in entry["per_class"].items():
            problem = _class_row_problem(row)
            if problem:
                return f"has a per_class row {name!r} that {problem}"
        if entry["protocol"] == "cups":
            if not is_json_number(entry.get("thing_stuff_threshold")):
                return f"has thing_stuff_threshold {entry.get('thing_stuff_threshold')!r}, not a number"
            if not (isinstance(entry.get("things"), list) and isinstance(entry.get("stuffs"), list)):
                return "has no 'things' and 'stuffs' lists"
            if not (_is_score(entry.get("mIoU")) and _is_score(entry.get("accuracy"))):
                return "has an mIoU or accuracy that is not a number"
            forced = entry.get("forced_onto_absent", {})
            if not isinstance(forced, dict) or not isinstance(forced.get("pq", {}), dict):
                return "has a 'forced_onto_absent' that is not an object with a 'pq' object"
    return None


def sweep_problem(record: object, known: Sequence[str] | None = None) -> str | None:
    """What keeps ``record`` from being a sweep result the report can render, or None.

    Checks the fields the report reads, with their types: ``k``, ``split``,
    ``n_images``, ``eval_resolution``, ``depth_subdir``, ``semantic_subdir``,
    ``depth_blur_sigma``, ``dilation_iters``, ``protocols``, every ``results``
    entry (:func:`_entry_problem`), a ``best`` entry per protocol that is one of
    its results, and the optional ``inputs`` and ``sources``.
    """
    if not isinstance(record, dict):
        return f"JSON {type(record).__name__}, not an object with 'results' and 'best'"
    fields = (("k", lambda v: is_json_int(v) and v >= 1, "an integer >= 1"),
              ("split", lambda v: isinstance(v, str), "a string"),
              ("n_images", lambda v: is_json_int(v) and v >= 0, "an integer >= 0"),
              ("eval_resolution", lambda v: isinstance(v, list) and len(v) == 2
               and all(is_json_int(n) and n >= 1 for n in v), "[height, width] in pixels"),
              ("depth_subdir", lambda v: isinstance(v, str), "a string"),
              ("depth_blur_sigma", is_json_number, "a number"),
              ("dilation_iters", is_json_int, "an integer"),
              ("protocols", lambda v: isinstance(v, list) and bool(v) and len(set(map(str, v))) == len(v)
               and all(isinstance(p, str) and (known is None or p in known) for p in v),
               f"a non-empty list of distinct protocols{'' if known is None else f' from {list(known)}'}"),
              ("results", lambda v: isinstance(v, list) and bool(v), "a non-empty list"),
              ("best", lambda v: isinstance(v, dict), "an object"))
    for name, ok, expected in fields:
        if name not in record:
            return f"no {name!r}"
        if not ok(record[name]):
            return f"{name!r} is {record[name]!r:.80}, not {expected}"
    if not isinstance(record.get("semantic_subdir", ""), str) or ("sources" not in record and
                                                                   "semantic_subdir" not in record):
        return f"'semantic_subdir' is {record.get('semantic_subdir')!r}, not a string"
    protocols = record["protocols"]
    for index, entry in enumerate(record["results"]):
        problem = _entry_problem(entry, protocols)
        if problem:
            return f"results[{index}] {problem}"
    for protocol in protocols:
        if record["best"].get(protocol) not in [e for e in record["results"] if e["protocol"] == protocol]:
            return f"best[{protocol!r}] is not one of the {protocol} results"
    inputs = record.get("inputs", {})
    if not isinstance(inputs, dict) or not all(isinstance(v, dict) and "sha256" in v for v in inputs.values()):
        return "'inputs' is not an object of {'sha256': ...} objects"
    if not isinstance(inputs.get("centroids", {}).get("path", ""), (str, type(None))):
        return "inputs.centroids.path is not a string"
    sources = record.get("sources", {"semantics": {"text": ""}})
    if not (isinstance(sources, dict) and all(isinstance(sources.get(part, {"text": ""}), dict)
                                              and isinstance(sources.get(part, {"text": ""}).get("text"), str)
                                              for part in ("semantics", "depth")) and "semantics" in sources):
        return "'sources' is not an object with 'semantics' (and 'depth') objects holding a 'text' string"
    return None


def read_sweep(sweep_json: Path, known: Sequence[str] | None = None) -> dict:
    """The sweep JSON, checked by :func:`sweep_problem`; a missing, unreadable or malformed file is an InputError
    naming it, the field and the fix (re-run the sweep)."""
    record = read_json(sweep_json, "a sweep JSON", "Re-run the sweep to write it again.")
    problem = sweep_problem(record, known)
    if problem:
        raise InputError(f"{sweep_json}: not a sweep result of this toolkit ({problem}); re-run the sweep "
                         f"(`pseudo-labels sweep`, or merge its shards) to write it again.")
    return record
