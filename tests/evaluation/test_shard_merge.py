"""Sweep shard merges: only shards of one run merge; an empty shard merges into the single run's bytes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pseudo_labels.cli import sweep as cli
from pseudo_labels.core.errors import InputError
from pseudo_labels.core.parallel import check_partition

SEMANTIC = "pseudo_semantic_raw_k24"
SETTINGS = ["--grad_thresholds", "0.1", "--min_areas", "30", "--eval_size", "64", "128", "--workers", "1"]


def _shard(root: Path, output: Path, count: int, index: int, semantic: str = SEMANTIC) -> Path:
    assert cli.main(["--cityscapes_root", str(root), "--semantic_subdir", semantic, *SETTINGS, "--output", str(output),
                     "--num_shards", str(count), "--shard_index", str(index)]) == 0
    return output.with_name(f"{output.stem}.shard-{index}-of-{count}.npz")


def _merge_fails(shards: list[Path], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as info:
        cli.main(["merge", *map(str, shards)])
    assert info.value.code == 2
    return capsys.readouterr().err


def test_empty_shard_merges_into_the_single_run(synthetic_val: Path, tmp_path: Path) -> None:
    assert cli.main(["--cityscapes_root", str(synthetic_val), "--semantic_subdir", SEMANTIC, *SETTINGS,
                     "--output", str(tmp_path / "single.json")]) == 0
    shards = [_shard(synthetic_val, tmp_path / "four.json", 4, i) for i in range(4)]  # 3 images: shard 3 is empty
    assert len(np.load(shards[3])["keys"]) == 0
    assert cli.main(["merge", *map(str, shards)]) == 0
    for suffix in (".json", ".images.npz"):
        assert (tmp_path / f"single{suffix}").read_bytes() == (tmp_path / f"four{suffix}").read_bytes(), suffix


def test_image_in_two_shards_exit_2(synthetic_val: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shards = [_shard(synthetic_val, tmp_path / "s.json", 2, i) for i in range(2)]
    arrays = dict(np.load(shards[1]))
    first = str(np.load(shards[0])["keys"][0])
    arrays["keys"] = np.array([first], dtype=np.str_)  # shard 1 now claims shard 0's first image
    np.savez(shards[1], **arrays)
    err = _merge_fails(shards, capsys)
    assert f"image {first} is in two shards" in err and str(shards[0]) in err and str(shards[1]) in err


def test_shards_of_other_semantic_folders_exit_2(synthetic_val: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "data"
    shutil.copytree(synthetic_val, root)
    shutil.copytree(root / SEMANTIC, root / "other_k24")
    shards = [_shard(root, tmp_path / "s.json", 2, 0), _shard(root, tmp_path / "s.json", 2, 1, "other_k24")]
    err = _merge_fails(shards, capsys)
    assert "semantic_subdir: 'pseudo_semantic_raw_k24' vs 'other_k24'" in err and str(shards[1]) in err
    assert not (tmp_path / "s.json").exists()


def test_partition_of_one_list() -> None:
    paths = ["a.npz", "b.npz", "c.npz"]
    assert check_partition([["k0", "k3"], ["k1"], ["k2"]], [0, 1, 2], 3, paths) == ["k0", "k1", "k2", "k3"]
    assert check_partition([["k0"], [], ["k1"]][:2], [0, 1], 2, paths) == ["k0"]  # an empty shard
    with pytest.raises(InputError, match="a.npz: its images are not shard 0 of 3"):
        check_partition([["k0", "k2"], ["k1"], []], [0, 1, 2], 3, paths)  # k2 where shard 2 should hold it
    with pytest.raises(InputError, match="image k1 is in two shards: b.npz and c.npz"):
        check_partition([["k0"], ["k1"], ["k1"]], [0, 1, 2], 3, paths)
