"""CAUSE-27 baseline: probe, centre crop, Hungarian matching and the command (random full-size weights)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from pseudo_labels.semantics import cause27, cause27_labels, features
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.cli import cause27 as cli
from pseudo_labels.data.synthetic import write_dataset
from refs.cause import dinov3
from refs.cause.model import ClusterProbe, load_cause, load_cluster_probe
from refs.random_release import write_cluster_probe, write_dinov3_cause_release

DINOV3_GEOMETRY = features.Geometry(320, 16)


class PatchConv(torch.nn.Module):
    """A small stand-in for the CAUSE network: (B, 3, crop, crop) -> (B, 90, grid, grid), one conv per patch."""

    def __init__(self, patch: int = 14, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv = torch.nn.Conv2d(3, 90, kernel_size=patch, stride=patch)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        return self.conv(crops)


def random_probe(seed: int = 0, dim: int = 768) -> ClusterProbe:
    probe = ClusterProbe(dim)
    with torch.no_grad():
        probe.cluster_probe.copy_(torch.randn(27, 90, generator=torch.Generator().manual_seed(seed)))
    return probe.eval()


def reference_multiscale(model: torch.nn.Module, probe: ClusterProbe, rgb: np.ndarray, scales: list[float],
                         crop: int, patch: int) -> torch.Tensor:
    """A plain transcription of the original's loop: per scale, per window, the mirror as a second forward."""
    height, width = rgb.shape[:2]
    base = crop / min(height, width)
    common = (int(round(height * base)) // patch * patch, int(round(width * base)) // patch * patch)
    maps = []
    for scale in scales:
        new_h = max(crop, int(round(height * base * scale)) // patch * patch)
        new_w = max(crop, int(round(width * base * scale)) // patch * patch)
        resized = np.asarray(Image.fromarray(rgb).resize((new_w, new_h), Image.BILINEAR), np.float32) / 255
        image = torch.from_numpy(((resized - features.IMAGENET_MEAN) / features.IMAGENET_STD).transpose(2, 0, 1))[None]

        def starts(length: int) -> list[int]:
            if length <= crop:
                return [0]
            found = list(range(0, length - crop, crop // 2))
            return sorted(set(found + ([length - crop] if found[-1] + crop < length else [])))

        total, count = torch.zeros(27, new_h, new_w), torch.zeros(1, new_h, new_w)
        for y in starts(new_h):
            for x in starts(new_w):
                window = image[:, :, y:y + crop, x:x + crop]
                with torch.no_grad():
                    averaged = (model(window) + model(window.flip(3)).flip(3)) / 2
                    log_probs = probe(averaged)
                total[:, y:y + crop, x:x + crop] += F.interpolate(log_probs, size=(crop, crop), mode="bilinear",
                                                                  align_corners=False)[0]
                count[:, y:y + crop, x:x + crop] += 1
        merged = total / count.clamp(min=1)
        maps.append(F.interpolate(merged[None], size=common, mode="bilinear", align_corners=False)[0])
    return torch.stack(maps).mean(dim=0)


def test_hungarian_recovers_a_permutation() -> None:
    rng = np.random.default_rng(0)
    permutation = rng.permutation(27)
    counts = np.zeros((27, 27), np.int64)
    counts[np.arange(27), permutation] = 100  # cluster i is class permutation[i]
    counts += rng.integers(0, 2, (27, 27))  # about 0.5 px of confusion per cell
    mapping = cause27.hungarian(counts)
    assert mapping["cluster_to_class"] == permutation.tolist()
    assert 70 < mapping["miou_27class"] < 100


def test_centre_crop_matches_torchvision_geometry() -> None:
    labels = np.arange(100 * 200, dtype=np.int32).reshape(100, 200)
    crop = cause27.centre_crop(labels.astype(np.uint16), 50)
    assert crop.shape == (50, 50)
    full = cs.resize_nearest(labels, (50, 100))
    assert np.array_equal(crop, full[:, 25:75])


def test_probe_is_log_softmax_of_scaled_cosine() -> None:
    probe = ClusterProbe()
    with torch.no_grad():
        probe.cluster_probe.copy_(torch.eye(27, 90))
    maps = torch.zeros(1, 90, 1, 1)
    maps[0, 4] = 2.0
    out = probe(maps)
    assert out.shape == (1, 27, 1, 1) and out[0, :, 0, 0].argmax() == 4
    assert torch.allclose(out.exp().sum(dim=1), torch.ones(1, 1, 1))


# --------------------------------------------------------------------------- scales, logits, backbones


def test_scaled_size_is_the_original_arithmetic() -> None:
    # 1024 x 2048 at 0.75: 241.5 rounds to 242 -> 238, raised to one window (322); 483 -> 476
    assert cause27.scaled_size(1024, 2048, 0.75) == (322, 476)
    assert cause27.scaled_size(1024, 2048, 1.5) == (476, 966)
    assert cause27.scaled_size(1024, 2048, 1.0) == features.working_size(1024, 2048) == (322, 644)
    assert cause27.scaled_size(1024, 2048, 1.0, DINOV3_GEOMETRY) == (320, 640)
    assert cause27.scaled_size(256, 512, 2.0, DINOV3_GEOMETRY) == (640, 1280)


def test_window_passes_group_whole_inputs() -> None:
    assert cause27.window_passes([3, 2, 10], None) == [range(0, 3)]
    assert cause27.window_passes([3, 2, 10], 5) == [range(0, 2), range(2, 3)]
    assert cause27.window_passes([3, 2, 10], 1) == [range(0, 1), range(1, 2), range(2, 3)]
    assert cause27.window_passes([], 4) == []


def test_parse_scales() -> None:
    assert cause27.parse_scales("0.75,1.0,1.5") == (0.75, 1.0, 1.5)
    for bad in ("", "1.0,", "0", "-1", "nan", "x"):
        with pytest.raises(ValueError):
            cause27.parse_scales(bad)


def test_scale_one_is_the_single_scale_path_bit_for_bit() -> None:
    model, probe = PatchConv().eval(), random_probe()
    rgb = np.random.default_rng(0).integers(0, 256, (100, 200, 3), dtype=np.uint8)
    today = features.full_resolution(
        cause27.window_log_probs(features.crop_features(model, [features.preprocess(rgb)])[0], probe))
    per_scale = cause27.scale_log_probs(model, probe, [cause27.scaled_inputs(rgb, (1.0,))])[0]
    assert torch.equal(cause27.merged_log_probs(per_scale, features.working_size(100, 200)), today)


@pytest.mark.parametrize("geometry", [features.DINOV2_GEOMETRY, DINOV3_GEOMETRY], ids=["dinov2", "dinov3"])
def test_multiscale_matches_the_per_scale_loop(geometry: features.Geometry) -> None:
    """All windows of all scales in one pass equal the original's loop (one window and one mirror per forward)."""
    model, probe = PatchConv(geometry.patch).eval(), random_probe(1)
    rgb = np.random.default_rng(1).integers(0, 256, (120, 250, 3), dtype=np.uint8)
    scales = [0.75, 1.0, 1.5]
    per_scale = cause27.scale_log_probs(model, probe, [cause27.scaled_inputs(rgb, scales, geometry)],
                                        geometry=geometry)[0]
    assert [w.size for w in per_scale] == [cause27.scaled_size(120, 250, s, geometry) for s in scales]
    ours = cause27.merged_log_probs(per_scale, features.working_size(120, 250, geometry))
    expected = reference_multiscale(model, probe, rgb, scales, geometry.crop, geometry.patch)
    assert ours.shape == expected.shape
    assert torch.allclose(ours, expected, atol=1e-5)
    assert not torch.allclose(ours, cause27.merged_log_probs(per_scale[1:2], ours.shape[1:]), atol=1e-3)
    chunked = cause27.scale_log_probs(model, probe, [cause27.scaled_inputs(rgb, scales, geometry)],
                                      geometry=geometry, max_windows=3)[0]
    assert torch.allclose(cause27.merged_log_probs(chunked, ours.shape[1:]), ours, atol=1e-6)


def test_saved_probabilities_are_in_class_order() -> None:
    """Channel c is class c, also for a mapping that is not its own inverse (the original indexes with it)."""
    cluster_to_class = np.roll(np.arange(27), -1)  # cluster k is class k + 1 (the original would put it at k - 1)
    log_probs = torch.full((27, 4, 8), -20.0)
    log_probs[5] = 0.0  # cluster 5 everywhere -> class 6
    probabilities = cause27.class_probabilities(log_probs, cluster_to_class, (2, 4))
    assert probabilities.shape == (27, 2, 4) and probabilities.dtype == torch.float16
    assert (probabilities.argmax(dim=0) == 6).all()
    assert torch.allclose(probabilities.float().sum(dim=0), torch.ones(2, 4), atol=1e-2)


def _with_probe(cause_release: Path, folder: Path) -> Path:
    shutil.copytree(cause_release, folder)
    return write_cluster_probe(folder, 768, seed=0)


def test_command_matches_and_scale_one_equals_todays_output(cause_release: Path, tmp_path: Path) -> None:
    """--mode all with --scales 1.0 --save_logits --output_subdir on random full-size weights: the matching is
    written; the PNG is what the single-scale path gives; the logits file is (27, logits_h, logits_w) float16
    class probabilities."""
    folder = _with_probe(cause_release, tmp_path / "ckpt")
    root = tmp_path / "data"
    write_dataset(root, "val", num_images=1, seed=1, size=(64, 128), show_progress=False)
    assert cli.main(["--mode", "all", "--cityscapes_root", str(root), "--checkpoint_dir", str(folder),
                     "--split", "val", "--skip_crf", "--device", "cpu", "--scales", "1.0", "--save_logits",
                     "--logits_h", "8", "--logits_w", "16", "--output_subdir", "ms", "--num_workers", "0"]) == 0
    mapping = json.loads((root / "pseudo_semantic_cause" / "hungarian_mapping.json").read_text())
    assert sorted(mapping["cluster_to_class"]) == list(range(27)) and mapping["images"] == 1
    cluster_to_class = np.array(mapping["cluster_to_class"], np.uint8)
    key, path = next(iter(cs.image_paths(root, "val").items()))
    model, probe = load_cause(folder), load_cluster_probe(folder)
    windows = cause27.window_log_probs(features.crop_features(model, [features.preprocess(cs.read_rgb(path))])[0], probe)
    full = features.full_resolution(windows)
    expected = cs.resize_nearest(cluster_to_class[full.argmax(dim=0).numpy()], (64, 128))
    labels = cs.read_png(cs.output_path(root / "ms", "val", key, ".png"))
    assert labels.shape == (64, 128) and labels.max() < 27 and np.array_equal(labels, expected)
    saved = torch.load(cs.output_path(root / "ms", "val", key, "_logits.pt"), weights_only=True)
    assert saved.shape == (27, 8, 16) and saved.dtype == torch.float16
    assert torch.equal(saved, cause27.class_probabilities(full, cluster_to_class, (8, 16)))
    assert not (root / "pseudo_semantic_cause" / "val").exists()  # --output_subdir took the PNGs


def test_sinder_checkpoint_in_the_official_layout_loads_strictly(cause_release: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = _with_probe(cause_release, tmp_path / "ckpt")
    state = torch.load(folder / "dinov2_vitb14_pretrain.pth", weights_only=True)
    repaired = {k: v + 0.01 for k, v in state.items()}  # same keys and shapes, other values
    torch.save(repaired, tmp_path / "sinder.pth")
    args = cli.build_parser().parse_args(["--cityscapes_root", "R", "--checkpoint_dir", str(folder),
                                          "--sinder_checkpoint", str(tmp_path / "sinder.pth")])
    model, _, geometry, files = cause27_labels.load_networks(args.backbone, args.checkpoint_dir,
                                                             args.sinder_checkpoint, args.dinov3_checkpoint_dir)
    assert torch.equal(model.vit.cls_token, repaired["cls_token"]) and geometry == features.DINOV2_GEOMETRY
    assert files["dinov2_vitb14_pretrain.pth"] == tmp_path / "sinder.pth"
    del repaired["norm.bias"]
    torch.save(repaired, tmp_path / "bad.pth")
    with pytest.raises(SystemExit) as info:
        cli.main(["--cityscapes_root", str(tmp_path), "--checkpoint_dir", str(folder), "--skip_crf",
                  "--sinder_checkpoint", str(tmp_path / "bad.pth")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("error:") == 1
    assert "bad.pth: does not fit the network: missing keys ['norm.bias']" in err


def test_dinov3_official_key_layout_of_vit_l16() -> None:
    """The layout random DINOv3 files are written in: the official ViT-L/16 keys and shapes, nothing else."""
    with torch.device("meta"):
        backbone = dinov3.build_backbone()
        official = dinov3.official_state_from_timm(backbone.state_dict(), torch.empty(16))
    per_block = {"norm1.weight": (1024,), "norm1.bias": (1024,), "attn.qkv.weight": (3072, 1024),
                 "attn.qkv.bias": (3072,), "attn.qkv.bias_mask": (3072,), "attn.proj.weight": (1024, 1024),
                 "attn.proj.bias": (1024,), "ls1.gamma": (1024,), "norm2.weight": (1024,), "norm2.bias": (1024,),
                 "mlp.fc1.weight": (4096, 1024), "mlp.fc1.bias": (4096,), "mlp.fc2.weight": (1024, 4096),
                 "mlp.fc2.bias": (1024,), "ls2.gamma": (1024,)}
    expected = {"cls_token": (1, 1, 1024), "storage_tokens": (1, 4, 1024), "mask_token": (1, 1024),
                "patch_embed.proj.weight": (1024, 3, 16, 16), "patch_embed.proj.bias": (1024,),
                "rope_embed.periods": (16,), "norm.weight": (1024,), "norm.bias": (1024,)}
    expected.update({f"blocks.{i}.{k}": v for i in range(24) for k, v in per_block.items()})
    assert {k: tuple(v.shape) for k, v in official.items()} == expected


def test_dinov3_conversion_checks_what_it_drops() -> None:
    backbone = dinov3.build_backbone(64, 1)
    periods = dinov3.rope_periods(backbone)
    official = dinov3.official_state_from_timm(backbone.state_dict(), periods)
    converted = dinov3.timm_state_from_official(official, periods)
    assert converted.keys() == {k for k in backbone.state_dict() if not k.endswith("k_bias")}
    official["blocks.0.attn.qkv.bias_mask"][64:128] = 1  # a key bias that would count
    with pytest.raises(dinov3.CheckpointError, match="bias_mask is not DINOv3's key-bias mask"):
        dinov3.timm_state_from_official(official, periods)
    official["blocks.0.attn.qkv.bias_mask"][64:128] = 0
    with pytest.raises(dinov3.CheckpointError, match="rope_embed.periods"):
        dinov3.timm_state_from_official(official, periods * 2)


def test_dinov3_backbone_end_to_end(tmp_path: Path) -> None:
    """--backbone dinov3_vitl16 on random weights in the documented folder layout (small width and depth)."""
    write_dinov3_cause_release(tmp_path / "ckpt" / "dinov3_vitl16", width=64, depth=2)
    root = tmp_path / "data"
    write_dataset(root, "val", num_images=1, seed=2, size=(64, 128), show_progress=False)
    out = tmp_path / "out"
    assert cli.main(["--mode", "all", "--cityscapes_root", str(root), "--checkpoint_dir", str(tmp_path / "ckpt"),
                     "--backbone", "dinov3_vitl16", "--split", "val", "--skip_crf", "--device", "cpu",
                     "--output_dir", str(out), "--scales", "0.75,1.0", "--save_logits", "--num_workers", "0"]) == 0
    assert json.loads((out / "hungarian_mapping.json").read_text())["images"] == 1
    labels = cs.read_png(next((out / "val").rglob("*.png")))
    assert labels.shape == (64, 128) and labels.max() < 27
    assert torch.load(next((out / "val").rglob("*_logits.pt")), weights_only=True).shape == (27, 32, 64)
    manifest = json.loads((out / "val" / "manifest.json").read_text())
    assert manifest["scales"] == [0.75, 1.0] and "dinov3" in manifest["checkpoints"]
    again = ["--mode", "generate", "--cityscapes_root", str(root), "--checkpoint_dir", str(tmp_path / "ckpt"),
             "--backbone", "dinov3_vitl16", "--split", "val", "--skip_crf", "--device", "cpu", "--output_dir", str(out),
             "--num_workers", "0"]
    with pytest.raises(SystemExit) as info:  # other scales, no logits: not mixed into the folder
        cli.main(again)
    assert info.value.code == 2
    assert cli.main([*again, "--overwrite"]) == 0  # recomputed; the logits it no longer writes are removed
    assert len(list((out / "val").rglob("*.png"))) == 1 and not list((out / "val").rglob("*_logits.pt"))


def test_dinov3_heads_of_another_width_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_dinov3_cause_release(tmp_path / "v3", width=64, depth=1, head_width=128)
    with pytest.raises(SystemExit) as info:
        cli.main(["--cityscapes_root", str(tmp_path), "--backbone", "dinov3_vitl16", "--dinov3_checkpoint_dir",
                  str(folder), "--skip_crf"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("error:") == 1
    assert f"{folder / 'segment_tr.pth'}: head_ema.query_pos is (400, 128)" in err and "(400, 64)" in err


def test_dinov3_refuses_a_sinder_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--cityscapes_root", str(tmp_path), "--backbone", "dinov3_vitl16", "--sinder_checkpoint",
                  str(tmp_path / "s.pth"), "--skip_crf"])
    assert info.value.code == 2 and "does not apply to --backbone dinov3_vitl16" in capsys.readouterr().err


def test_device_choice_follows_the_original(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert cause27_labels.pick_cause27_device("auto", 1) == torch.device("cuda:1")
    assert cause27_labels.pick_cause27_device("cuda", 2) == torch.device("cuda:2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert cause27_labels.pick_cause27_device("auto", 0) == torch.device("cpu")
    assert cause27_labels.pick_cause27_device("mps", 0) == torch.device("mps")
