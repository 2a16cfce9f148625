"""``stuff_things.json``: which cluster ids (or trainIds) are things, as the label-free rules write it.

The file holds ``thing_ids`` (and ``stuff_ids``) lists of ids of the semantic
maps. One loader reads it for every stage; the two readers differ only in what
the caller needs: the thing ids checked against the map's id range, or both
lists as the original panoptic assembly takes them.
"""

from __future__ import annotations

import json
from pathlib import Path

from pseudo_labels.core.errors import InputError


def _id_lists(path: Path, keys: tuple[str, ...]) -> list[list[int]]:
    """The integer lists under ``keys``; a missing or malformed file is an InputError naming it."""
    try:
        data = json.loads(Path(path).read_text())
        return [[int(i) for i in data[key]] for key in keys]
    except FileNotFoundError:
        raise InputError(f"{path}: stuff_things file not found.") from None
    except (ValueError, KeyError, TypeError) as exc:
        lists = " and ".join(f"'{key}'" for key in keys)
        raise InputError(f"{path}: not a stuff_things.json with {lists} list{'s' if len(keys) > 1 else ''} "
                         f"({exc}).") from None


def read_stuff_things(path: Path, num_ids: int | None = None) -> tuple[int, ...]:
    """``thing_ids`` of a ``stuff_things.json``, ascending; ids outside 0..num_ids-1 are an error naming the file."""
    things = tuple(sorted(_id_lists(path, ("thing_ids",))[0]))
    limit = 256 if num_ids is None else num_ids
    bad = [i for i in things if not 0 <= i < limit]
    if bad:
        raise InputError(f"{path}: thing_ids {bad[:10]} are outside 0..{limit - 1} (the ids of the semantic maps).")
    return things


def read_stuff_and_things(path: Path) -> tuple[list[int], list[int]]:
    """``stuff_ids`` and ``thing_ids`` (each sorted, without repeats) of a stuff_things.json; errors name the file."""
    stuff, things = (sorted(set(ids)) for ids in _id_lists(path, ("stuff_ids", "thing_ids")))
    if min(stuff + things, default=0) < 0 or max(stuff + things, default=0) > 255:
        raise InputError(f"{path}: ids must lie in 0..255 (the _panoptic.png encodes id*256 + n).")
    return stuff, things
