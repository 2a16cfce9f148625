"""Atomic writers: round trips, deterministic bytes, and no partial file after a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pseudo_labels.core import fileio


def test_png_round_trips_uint8_rgb_and_uint16(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    wide = rng.integers(0, 65536, (5, 7), dtype=np.uint16)
    for name, array in (("g.png", grey), ("c.png", rgb), ("w.png", wide)):
        fileio.write_png(tmp_path / name, array)
        back = np.array(Image.open(tmp_path / name))
        assert np.array_equal(back, array) and back.dtype == array.dtype, name


def test_png_refuses_unsupported_arrays(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="float32"):
        fileio.write_png(tmp_path / "x.png", np.zeros((3, 3), np.float32))
    assert not (tmp_path / "x.png").exists()


def test_npy_npz_json_pt_round_trip(tmp_path: Path) -> None:
    depth = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    fileio.write_npy(tmp_path / "d.npy", depth)
    assert np.array_equal(np.load(tmp_path / "d.npy"), depth)
    fileio.write_npz(tmp_path / "c.npz", {"centroids": depth.astype(np.float64), "cluster_to_class": np.arange(3, dtype=np.uint8)})
    with np.load(tmp_path / "c.npz") as npz:
        assert list(npz.keys()) == ["centroids", "cluster_to_class"]
        assert npz["cluster_to_class"].dtype == np.uint8
    fileio.write_json(tmp_path / "r.json", {"pq": np.float64(0.25), "ids": np.arange(2), "path": tmp_path})
    assert json.loads((tmp_path / "r.json").read_text()) == {"pq": 0.25, "ids": [0, 1], "path": str(tmp_path)}
    fileio.write_pt(tmp_path / "s.pt", {"dist": torch.arange(3)})
    assert torch.equal(torch.load(tmp_path / "s.pt")["dist"], torch.arange(3))


def test_json_refuses_nan(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        fileio.write_json(tmp_path / "r.json", {"pq": float("nan")})
    assert list(tmp_path.iterdir()) == []


def test_npz_bytes_are_deterministic() -> None:
    arrays = {"a": np.arange(10.0), "b": np.ones((2, 2), np.uint8)}
    first = fileio.encode_npz(arrays)
    time.sleep(1.1)  # np.savez would stamp a new time here
    assert fileio.encode_npz(arrays) == first


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.npy"
    fileio.write_npy(target, np.zeros(3))
    old = target.read_bytes()

    def crash(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        fileio.write_npy(target, np.ones(1000))
    assert target.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["out.npy"]


def test_killed_process_leaves_no_partial_file(tmp_path: Path) -> None:
    """SIGKILL in the middle of a write: the destination never exists half-written."""
    target = tmp_path / "sub" / "big.npy"
    script = textwrap.dedent(f"""
        import os, sys, time, numpy as np
        from pseudo_labels.core import fileio
        real_fsync = os.fsync
        def slow_fsync(fd):
            print("writing", flush=True)
            time.sleep(60)   # the parent kills us here: data written to the temp file, not yet renamed
        os.fsync = slow_fsync
        fileio.write_npy({str(target)!r}, np.ones((1000, 1000)))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not target.exists()
    leftovers = list((tmp_path / "sub").iterdir())
    assert len(leftovers) == 1 and leftovers[0].name.startswith(fileio.TEMP_PREFIX)
    assert ".npy" not in leftovers[0].name  # loaders that glob by extension never see it
    assert fileio.remove_stale_temp_files(tmp_path) == leftovers
    assert list((tmp_path / "sub").iterdir()) == []


def test_sha256_of_files(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"abc")
    assert fileio.sha256_file(tmp_path / "a") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    one = fileio.sha256_files([tmp_path / "a"], root=tmp_path)
    (tmp_path / "b").write_bytes(b"abc")
    assert fileio.sha256_files([tmp_path / "b"], root=tmp_path) != one  # names count, not just contents


def test_stale_temp_files_spare_live_writers(tmp_path: Path) -> None:
    """A running writer's temporary file (another shard or rank) is kept; dead or abandoned ones go."""
    (tmp_path / "sub").mkdir()
    host = fileio._HOST_TAG
    live = tmp_path / f"{fileio.TEMP_PREFIX}{host}-{os.getpid()}-aaaa"
    dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout.strip()
    dead = tmp_path / "sub" / f"{fileio.TEMP_PREFIX}{host}-{dead_pid}-bbbb"
    foreign_fresh = tmp_path / f"{fileio.TEMP_PREFIX}0123abcd-{os.getpid()}-cccc"  # another machine, just written
    foreign_old = tmp_path / f"{fileio.TEMP_PREFIX}0123abcd-1-dddd"
    for path in (live, dead, foreign_fresh, foreign_old):
        path.write_bytes(b"x")
    old = time.time() - fileio.ABANDONED_AFTER_S - 5
    os.utime(foreign_old, (old, old))
    assert fileio.remove_stale_temp_files(tmp_path, recursive=False) == [foreign_old]
    assert fileio.remove_stale_temp_files(tmp_path) == [dead]
    assert sorted(tmp_path.glob(f"{fileio.TEMP_PREFIX}*")) == sorted([live, foreign_fresh])


def test_prepare_output_file_clears_only_its_folder(tmp_path: Path) -> None:
    dead = tmp_path / f"{fileio.TEMP_PREFIX}{fileio._HOST_TAG}-999999999-eeee"  # beyond any pid_max
    nested = tmp_path / "split" / dead.name
    nested.parent.mkdir()
    dead.write_bytes(b"x")
    nested.write_bytes(b"x")
    assert fileio.prepare_output_file(tmp_path / "sweep.json") == tmp_path / "sweep.json"
    assert not dead.exists() and nested.exists()


def test_full_disk_names_the_file_and_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import errno

    from pseudo_labels.core.errors import exit_on_input_error

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")  # as the kernel reports it: no file name

    monkeypatch.setattr(os, "fsync", full)

    @exit_on_input_error
    def main(argv: object = None) -> int:
        fileio.write_json(tmp_path / "out" / "result.json", {"a": 1})
        return 0

    with pytest.raises(SystemExit) as info:
        main()
    err = capsys.readouterr().err
    assert info.value.code == 2 and str(tmp_path / "out" / "result.json") in err and "Free space" in err
    assert list((tmp_path / "out").iterdir()) == []


def test_row_stream_writes_the_bytes_of_the_materialised_array() -> None:
    rng = np.random.default_rng(0)
    masks = rng.random((7, 3000)) < 0.3
    buffer = np.zeros(3000, bool)

    def rows():  # one reused buffer, as Instances.flat_masks yields
        for row in masks:
            buffer[:] = row
            yield buffer

    streamed = fileio.encode_npz({"masks": fileio.RowStream(masks.shape, np.dtype(bool), rows), "n": np.int64(7)})
    assert streamed == fileio.encode_npz({"masks": masks, "n": np.int64(7)})
    empty = fileio.encode_npz({"masks": fileio.RowStream((0, 3000), np.dtype(bool), lambda: iter(()))})
    assert empty == fileio.encode_npz({"masks": np.zeros((0, 3000), bool)})
    with pytest.raises(ValueError, match="rows written"):
        fileio.encode_npz({"masks": fileio.RowStream((8, 3000), np.dtype(bool), rows)})


def test_an_unwritable_folder_names_the_output_not_the_temporary_file(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(OSError) as info:
        fileio.write_json(tmp_path / "result.json", {"a": 1})
    assert info.value.filename == str(tmp_path / "result.json") and fileio.TEMP_PREFIX not in str(info.value)
