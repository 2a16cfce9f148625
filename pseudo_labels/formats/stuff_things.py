"""``stuff_things.json``: which cluster ids (or trainIds) are things, as the label-free rules write it."""

from __future__ import annotations

import json
from pathlib import Path

from pseudo_labels.core.errors import InputError


def read_stuff_things(path: Path, num_ids: int | None = None) -> tuple[int, ...]:
    """``thing_ids`` of a ``stuff_things.json``; ids outside 0..num_ids-1 are an error naming the file."""
    try:
        data = json.loads(Path(path).read_text())
        things = tuple(sorted(int(i) for i in data["thing_ids"]))
    except FileNotFoundError:
        raise InputError(f"{path}: stuff_things file not found.") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a stuff_things.json with a 'thing_ids' list ({exc}).") from None
    limit = 256 if num_ids is None else num_ids
    bad = [i for i in things if not 0 <= i < limit]
    if bad:
        raise InputError(f"{path}: thing_ids {bad[:10]} are outside 0..{limit - 1} (the ids of the semantic maps).")
    return things
