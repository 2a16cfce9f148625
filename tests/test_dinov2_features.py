"""Raw DINOv2 feature extraction, plain and register variants."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pseudo_labels import extract_dinov2_features as extract
from pseudo_labels.synthetic import write_dataset
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


def test_wrong_checkpoint_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.save({"cls_token": torch.zeros(1, 1, 768)}, tmp_path / "bad.pth")
    write_dataset(tmp_path / "data", "val", num_images=1, seed=3, size=(64, 128), show_progress=False)
    with pytest.raises(SystemExit) as info:
        extract.main(["--cityscapes_root", str(tmp_path / "data"), "--checkpoint", str(tmp_path / "bad.pth"),
                      "--device", "cpu"])
    assert info.value.code == 2 and "bad.pth: does not fit the network: missing keys" in capsys.readouterr().err
