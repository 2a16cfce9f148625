"""``stuff_things.json``: which cluster ids (or trainIds) are things, as the label-free rules write it.

The file holds ``thing_ids`` (and ``stuff_ids``) lists of ids of the semantic
maps. One loader reads it for every stage; the two readers differ only in what
the caller needs: the thing ids checked against the map's id range, or both
lists as the original panoptic assembly takes them.
"""

from __future__ import annotations

from pathlib import Path

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import is_json_int, read_json


def _id_lists(path: Path, keys: tuple[str, ...]) -> list[list[int]]:
    """The id lists under ``keys``, validated; a missing or malformed file is an InputError naming it.

    Each list holds JSON integers (not strings, floats or booleans), without
    repeats, and no id is in both ``thing_ids`` and ``stuff_ids`` (when the file
    has both): coercing ``"3"`` or ``3.5`` would label with ids nobody chose.
    """
    lists = " and ".join(f"'{key}'" for key in keys)
    data = read_json(path, "a stuff_things.json", "Re-create it with classify_stuff_things.py.")
    if not isinstance(data, dict) or any(not isinstance(data.get(key), list) for key in keys):
        raise InputError(f"{path}: not a stuff_things.json with {lists} list{'s' if len(keys) > 1 else ''} "
                         f"(found {type(data).__name__} with keys {sorted(data) if isinstance(data, dict) else []}).")
    found = {}
    for key in ("thing_ids", "stuff_ids"):
        if key not in data and key not in keys:
            continue
        values = data[key]
        if not isinstance(values, list):
            raise InputError(f"{path}: '{key}' must be a list of integer ids, got {type(values).__name__}.")
        bad = [v for v in values if not is_json_int(v)]
        if bad:
            raise InputError(f"{path}: '{key}' must hold integer ids only; found {bad[:5]}.")
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise InputError(f"{path}: '{key}' lists ids {repeated[:10]} more than once.")
        found[key] = values
    both = sorted(set(found.get("thing_ids", ())) & set(found.get("stuff_ids", ())))
    if both:
        raise InputError(f"{path}: ids {both[:10]} are in both 'thing_ids' and 'stuff_ids'; each id is one or the other.")
    return [found[key] for key in keys]


def read_stuff_things(path: Path, num_ids: int | None = None) -> tuple[int, ...]:
    """``thing_ids`` of a ``stuff_things.json``, ascending; ids outside 0..num_ids-1 are an error naming the file."""
    things = tuple(sorted(_id_lists(path, ("thing_ids",))[0]))
    limit = 256 if num_ids is None else num_ids
    bad = [i for i in things if not 0 <= i < limit]
    if bad:
        raise InputError(f"{path}: thing_ids {bad[:10]} are outside 0..{limit - 1} (the ids of the semantic maps).")
    return things


def read_stuff_and_things(path: Path) -> tuple[list[int], list[int]]:
    """``stuff_ids`` and ``thing_ids`` (each sorted) of a stuff_things.json; errors name the file."""
    stuff, things = (sorted(ids) for ids in _id_lists(path, ("stuff_ids", "thing_ids")))
    if min(stuff + things, default=0) < 0 or max(stuff + things, default=0) > 255:
        raise InputError(f"{path}: ids must lie in 0..255 (the _panoptic.png encodes id*256 + n).")
    return stuff, things
