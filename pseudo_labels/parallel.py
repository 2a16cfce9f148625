"""Spreading per-image work over processes, with results in input order (so sums are reproducible)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_DEFAULT_WORKERS = 8


def default_workers() -> int:
    """Worker processes when the user gives none: the usable CPUs, at most 8."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 1
    return max(1, min(MAX_DEFAULT_WORKERS, usable))


def ordered_map(function: Callable[[T], R], items: Iterable[T], workers: int = 1) -> Iterator[R]:
    """``map`` in this process (``workers <= 1``) or over a process pool; results keep the input order."""
    if workers <= 1:
        yield from map(function, items)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(function, items, chunksize=1)


def add_shard_arguments(parser: argparse.ArgumentParser) -> None:
    """``--num_shards`` / ``--shard_index``: run one deterministic slice of the images (for job arrays)."""
    parser.add_argument("--num_shards", type=int, default=1, help="split the images into this many shards")
    parser.add_argument("--shard_index", type=int, default=0, help="which shard this run processes (0-based)")


def shard(items: Sequence[T], num_shards: int, shard_index: int) -> list[T]:
    """Every ``num_shards``-th item starting at ``shard_index`` (sorted inputs give disjoint, covering shards)."""
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(f"shard index {shard_index} is not in 0..{num_shards - 1}")
    return list(items[shard_index::num_shards])


def shard_suffix(num_shards: int, shard_index: int) -> str:
    """'' for a whole run, else '.shard-i-of-n' (for files every shard would otherwise overwrite)."""
    return "" if num_shards == 1 else f".shard-{shard_index}-of-{num_shards}"
