"""Raw DINOv2 feature extraction, plain and register variants."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pseudo_labels.cli import dinov2_features as extract
from pseudo_labels.data.synthetic import write_dataset
from pseudo_labels.semantics import dinov2_tokens
from refs.cause.dinov2 import DinoVisionTransformer


def test_register_tokens_follow_cls_and_are_dropped() -> None:
    torch.manual_seed(0)
    plain, registered = DinoVisionTransformer(), DinoVisionTransformer(num_register_tokens=4, interpolate_offset=0.0,
                                                                       interpolate_antialias=True)
    assert set(registered.state_dict()) - set(plain.state_dict()) == {"register_tokens"}
    x = torch.rand(1, 3, 28, 42)
    with torch.inference_mode():
        assert registered(x).shape == (1, 1 + 4 + 6, 768) and registered.patch_tokens(x).shape == (1, 6, 768)
        grid = registered.interpolated_pos_embed(2, 3)
    assert grid.shape == (1, 7, 768)


def test_extraction_writes_float16_tokens_and_metadata(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = DinoVisionTransformer(num_register_tokens=4, interpolate_offset=0.0, interpolate_antialias=True)
    torch.save(model.state_dict(), tmp_path / "reg.pth")
    write_dataset(tmp_path / "data", "val", num_images=1, seed=3, size=(64, 128), show_progress=False)
    assert extract.main(["--cityscapes_root", str(tmp_path / "data"), "--checkpoint", str(tmp_path / "reg.pth"),
                         "--device", "cpu"]) == 0
    out = tmp_path / "data" / "dinov2_features" / "val"
    tokens = np.load(next(out.rglob("*.npy")))
    assert tokens.shape == (2048, 768) and tokens.dtype == np.float16
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["register_tokens"] == 4 and (meta["h_patches"], meta["w_patches"]) == (32, 64)


def test_without_split_both_train_and_val_are_written(tmp_path: Path) -> None:
    """The original's default: no --split means train and val, each with its own metadata.json."""
    torch.manual_seed(0)
    torch.save(DinoVisionTransformer().state_dict(), tmp_path / "plain.pth")
    for split, seed in (("train", 1), ("val", 2)):
        write_dataset(tmp_path / "data", split, num_images=1, seed=seed, size=(64, 128), show_progress=False)
    assert extract.main(["--cityscapes_root", str(tmp_path / "data"), "--checkpoint", str(tmp_path / "plain.pth"),
                         "--device", "cpu"]) == 0
    out = tmp_path / "data" / "dinov2_features"
    for split in ("train", "val"):
        assert len(list((out / split).rglob("*.npy"))) == 1
        assert json.loads((out / split / "metadata.json").read_text())["split"] == split
    train, val = (np.load(next((out / s).rglob("*.npy"))) for s in ("train", "val"))
    assert not np.array_equal(train, val)  # two different images, not one written twice


def test_splits_default_to_the_present_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "leftImg8bit" / "val").mkdir(parents=True)
    assert dinov2_tokens.splits_to_run(tmp_path, None) == ["val"]
    assert dinov2_tokens.splits_to_run(tmp_path, "test") == ["test"]
    with pytest.raises(SystemExit) as info:
        extract.main(["--cityscapes_root", str(tmp_path / "nowhere"), "--device", "cpu"])
    assert info.value.code == 2 and "neither train/ nor val/" in capsys.readouterr().err


def test_parser_has_the_original_defaults() -> None:
    args = extract.build_parser().parse_args(["--cityscapes_root", "R"])
    assert (args.split, args.batch_size, args.device, args.output_subdir) == (None, 4, "auto", "dinov2_features")


def test_wrong_checkpoint_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.save({"cls_token": torch.zeros(1, 1, 768)}, tmp_path / "bad.pth")
    write_dataset(tmp_path / "data", "val", num_images=1, seed=3, size=(64, 128), show_progress=False)
    with pytest.raises(SystemExit) as info:
        extract.main(["--cityscapes_root", str(tmp_path / "data"), "--checkpoint", str(tmp_path / "bad.pth"),
                      "--device", "cpu"])
    assert info.value.code == 2 and "bad.pth: does not fit the network: missing keys" in capsys.readouterr().err


def test_torchrun_two_processes_write_the_same_files(tmp_path: Path) -> None:
    """Two gloo ranks on the CPU split the images and write exactly what one process writes."""
    import os
    import subprocess
    import sys

    torch.manual_seed(1)
    torch.save(DinoVisionTransformer().state_dict(), tmp_path / "plain.pth")
    write_dataset(tmp_path / "data", "val", num_images=2, seed=4, size=(64, 128), show_progress=False)
    script = Path(extract.__file__).parents[1] / "extract_dinov2_features.py"  # the original path
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # torchrun's default per process; the same for both runs

    def run(prefix: list[str], subdir: str) -> dict[Path, bytes]:
        subprocess.run([*prefix, str(script), "--cityscapes_root", str(tmp_path / "data"), "--checkpoint",
                        str(tmp_path / "plain.pth"), "--device", "cpu", "--batch_size", "1",
                        "--output_subdir", subdir], check=True, env=env, capture_output=True)
        out = tmp_path / "data" / subdir
        return {p.relative_to(out): p.read_bytes() for p in out.rglob("*.npy")}

    one = run([sys.executable], "one")
    two = run([str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc_per_node", "2"], "two")
    assert len(one) == 2 and one == two
    out = tmp_path / "data" / "two" / "val"
    assert json.loads((out / "manifest.json").read_text())["ranks"] == 2
    assert json.loads((out / "metadata.json").read_text())["register_tokens"] == 0


def test_rerun_with_another_checkpoint_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_dataset(tmp_path / "data", "val", num_images=1, seed=3, size=(64, 128), show_progress=False)
    for seed in (0, 1):
        torch.manual_seed(seed)
        torch.save(DinoVisionTransformer().state_dict(), tmp_path / f"w{seed}.pth")
    args = ["--cityscapes_root", str(tmp_path / "data"), "--device", "cpu"]
    assert extract.main([*args, "--checkpoint", str(tmp_path / "w0.pth")]) == 0
    with pytest.raises(SystemExit) as info:
        extract.main([*args, "--checkpoint", str(tmp_path / "w1.pth")])
    assert info.value.code == 2 and "other settings (checkpoint:" in capsys.readouterr().err
    assert extract.main([*args, "--checkpoint", str(tmp_path / "w1.pth"), "--overwrite"]) == 0
