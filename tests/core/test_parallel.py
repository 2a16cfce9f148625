"""The process pool behind --workers: input order, stopping at the first error, workers dying with their parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pseudo_labels.core.parallel import ordered_map, shard


def _square_after_a_nap(x: int) -> int:
    time.sleep(0.01 * (x % 3))  # later items may finish first
    return x * x


def _touch_or_fail(job: tuple[Path, int]) -> int:
    folder, index = job
    if index == 1:
        raise ValueError("bad item")
    time.sleep(0.05)
    (folder / str(index)).touch()
    return index


def test_results_keep_the_input_order() -> None:
    assert list(ordered_map(_square_after_a_nap, range(20), workers=2)) == [x * x for x in range(20)]
    assert list(ordered_map(_square_after_a_nap, range(5), workers=1)) == [0, 1, 4, 9, 16]


def test_an_error_stops_the_queued_items(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bad item"):
        list(ordered_map(_touch_or_fail, [(tmp_path, i) for i in range(60)], workers=2))
    assert len(list(tmp_path.iterdir())) < 10  # not the 59 a pool that runs its whole queue would write


def _killed_on_the_third(job: tuple[Path, int]) -> int:
    folder, index = job
    if index == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would
    return index


def test_a_killed_worker_is_one_message_naming_the_items_in_flight(tmp_path: Path) -> None:
    from pseudo_labels.core.errors import InputError

    with pytest.raises(InputError, match=r"worker process stopped abruptly.*while working on: .*") as info:
        list(ordered_map(_killed_on_the_third, [(tmp_path / f"img{i}.png", i) for i in range(8)], workers=2))
    assert "img3.png" in str(info.value) and "fewer --workers" in str(info.value)


def _torch_threads(_: int) -> int:
    import torch

    return torch.get_num_threads()


def test_items_are_drawn_lazily() -> None:
    drawn = []

    def items():  # type: ignore[no-untyped-def]
        for x in range(100):
            drawn.append(x)
            yield x

    results = ordered_map(_square_after_a_nap, items(), workers=2)
    assert next(results) == 0 and len(drawn) <= 5  # two per worker ahead, not the whole generator
    assert list(results) == [x * x for x in range(1, 100)] and len(drawn) == 100


def test_spawned_workers_with_one_torch_thread() -> None:
    assert list(ordered_map(_torch_threads, range(3), workers=2, start_method="spawn", torch_threads=1)) == [1, 1, 1]


def test_shards_are_disjoint_and_cover_the_items() -> None:
    parts = [shard(list(range(10)), 3, i) for i in range(3)]
    assert sorted(sum(parts, [])) == list(range(10)) and parts[1] == [1, 4, 7]
    with pytest.raises(ValueError):
        shard([1, 2], 2, 2)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
def test_workers_die_with_a_killed_parent(tmp_path: Path) -> None:
    """SIGKILL the parent: its workers must not live on (orphans would keep writing, then idle forever)."""
    script = textwrap.dedent(f"""
        import os, time
        from pseudo_labels.core.parallel import ordered_map

        def work(i):
            open(os.path.join({str(tmp_path)!r}, f"worker-{{os.getpid()}}"), "w").close()
            time.sleep(60)
            return i

        if __name__ == "__main__":
            list(ordered_map(work, range(4), workers=2))
    """)
    parent = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("worker-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = [int(p.name.split("-")[1]) for p in tmp_path.glob("worker-*")]
    assert len(pids) == 2
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [pid for pid in pids if _running(pid)]
    assert not alive


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False
