"""Spreading per-image work over processes, with results in input order (so sums are reproducible)."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TypeVar

from pseudo_labels.core.errors import InputError

T = TypeVar("T")
R = TypeVar("R")

MAX_DEFAULT_WORKERS = 8
PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h)


def default_workers() -> int:
    """Worker processes when the user gives none: the usable CPUs, at most 8."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 1
    return max(1, min(MAX_DEFAULT_WORKERS, usable))


def _start_worker(threads: int | None) -> None:
    """Pool initializer: die with the parent (Linux), and cap torch's threads when asked.

    Without the parent-death signal a killed run leaves workers behind that
    finish the items already queued for them and then wait forever. Ctrl-C
    reaches the whole process group: workers ignore it and the parent reports
    it once (no traceback per worker); SIGTERM takes its default action here.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:  # the parent died before the call above took effect
            os._exit(1)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def ordered_map(function: Callable[[T], R], items: Iterable[T], workers: int = 1, *,
                start_method: str | None = None, torch_threads: int | None = None) -> Iterator[R]:
    """``map`` in this process (``workers <= 1``) or over a process pool; results keep the input order.

    ``items`` are drawn lazily, at most two per worker ahead of the results,
    so a generator that produces them (e.g. a network pass) is not drained at
    once. ``start_method`` "spawn" gives workers a fresh interpreter (for
    work that runs torch after the parent has); ``torch_threads`` caps each
    worker's torch threads. After an error, or when the caller stops
    iterating, queued items are dropped, not run.
    """
    if workers <= 1:
        yield from map(function, items)
        return
    context = multiprocessing.get_context(start_method) if start_method else None
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker,
                               initargs=(torch_threads,))
    pending: deque[tuple[Future[R], T]] = deque()

    def first_result() -> R:
        future, _ = pending[0]
        try:
            result = future.result()
        except BrokenProcessPool:
            in_flight = ", ".join(describe_item(item) for _, item in pending)
            raise InputError(f"a worker process stopped abruptly (killed by a signal, often the out-of-memory "
                             f"killer) while working on: {in_flight}. Re-run with fewer --workers or more memory; "
                             f"finished files are kept.") from None
        pending.popleft()
        return result

    try:
        for item in items:
            pending.append((pool.submit(function, item), item))
            if len(pending) >= 2 * workers:
                yield first_result()
        while pending:
            yield first_result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def describe_item(item: object) -> str:
    """A short name of a work item for messages: its ``key``, else the first path in it, else a cut repr."""
    key = getattr(item, "key", None)
    if isinstance(key, str):
        return key
    for part in item if isinstance(item, tuple) else (item,):
        if isinstance(part, Path) or (isinstance(part, str) and "/" in part):
            return str(part)
        inner = getattr(part, "key", None)
        if isinstance(inner, str):
            return inner
    text = repr(item)
    return text if len(text) <= 80 else text[:77] + "..."


def first_n(items: Iterable[T], limit: int | None) -> list[T]:
    """The items a run takes (``--limit``): all of them, or the first ``limit`` (None or 0: all)."""
    items = list(items)
    return items[:limit] if limit else items


def shard(items: Sequence[T], num_shards: int, shard_index: int) -> list[T]:
    """Every ``num_shards``-th item starting at ``shard_index`` (sorted inputs give disjoint, covering shards)."""
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(f"shard index {shard_index} is not in 0..{num_shards - 1}")
    return list(items[shard_index::num_shards])


def run_shard(items: Sequence[T], num_shards: int, shard_index: int) -> list[T]:
    """This run's :func:`shard` of ``items`` (``--num_shards``/``--shard_index``); a bad pair is an InputError."""
    try:
        return shard(items, num_shards, shard_index)
    except ValueError as exc:
        raise InputError(f"--num_shards/--shard_index: {exc}.") from None


SHARD_MARK = ".shard-"


def shard_suffix(num_shards: int, shard_index: int) -> str:
    """'' for a whole run, else '.shard-i-of-n' (for files every shard would otherwise overwrite)."""
    return "" if num_shards == 1 else f"{SHARD_MARK}{shard_index}-of-{num_shards}"


def unsharded_path(shard_path: Path, extension: str) -> Path:
    """The single-run file a shard's file stands for: ``x.shard-0-of-4.npz`` -> ``x`` + ``extension``."""
    return Path(str(shard_path).split(SHARD_MARK)[0] + extension)


def _files(paths: Sequence[object]) -> str:
    return ", ".join(str(path) for path in paths)


def check_all_shards(indices: Sequence[int], count: int, paths: Sequence[object] = ()) -> None:
    """A merge needs every shard 0..count-1 once; anything else is an InputError naming ``paths``."""
    if sorted(indices) != list(range(count)):
        named = f" in {_files(paths)}" if paths else ""
        raise InputError(f"expected shards 0..{count - 1}, got {sorted(indices)}{named}. Pass every shard file of "
                         f"one run, each once.")


def check_same_settings(settings: Sequence[dict], paths: Sequence[object], what: str) -> None:
    """Shards of one run record equal settings (inputs included); a difference is an InputError naming it."""
    for other, path in zip(settings[1:], paths[1:]):
        differ = sorted(key for key in {*settings[0], *other} if settings[0].get(key) != other.get(key))
        if differ:
            shown = "; ".join(f"{key}: {settings[0].get(key)!r} vs {other.get(key)!r}" for key in differ[:3])
            raise InputError(f"the shards {paths[0]} and {path} come from different {what} ({shown}). Merge the "
                             f"shards of one run, or re-run the odd shard with the same flags and inputs.")


def check_partition(keys: Sequence[Sequence[str]], indices: Sequence[int], count: int,
                    paths: Sequence[object]) -> list[str]:
    """All shards' images, sorted, when shard ``indices[i]`` holds exactly :func:`shard` ``(all, count, indices[i])``.

    An image in two shards, or image lists that are not that partition of one
    list (shards of runs over other images), is an InputError naming the files.
    Empty shards (more shards than images) are fine.
    """
    owner: dict[str, object] = {}
    for shard_keys, path in zip(keys, paths):
        for key in shard_keys:
            if key in owner:
                raise InputError(f"image {key} is in two shards: {owner[key]} and {path}. They come from different "
                                 f"runs; merge the shards of one run (re-run the odd shard with its run's flags).")
            owner[key] = path
    everything = sorted(owner)
    for shard_keys, index, path in zip(keys, indices, paths):
        if list(shard_keys) != shard(everything, count, index):
            raise InputError(f"{path}: its images are not shard {index} of {count} of the {len(everything)} images "
                             f"the shards {_files(paths)} hold together, so they come from runs over different image "
                             f"lists (other data, --max_images/--limit or --skip_missing). Re-run every shard with "
                             f"the same flags and inputs.")
    return everything
