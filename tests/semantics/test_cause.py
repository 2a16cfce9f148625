"""CAUSE features: golden parity of DINOv2, the Segment_TR head and the sliding-window pipeline; loading errors."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.semantics import features
from refs.cause.dinov2 import DinoVisionTransformer
from refs.cause.model import CauseFeatures, CheckpointError, load_cause


def _recipe(shared: Path):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("recipe", shared / "golden" / "recipe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def save_release(folder: Path, vit: dict, segment_tr: dict, codebook: np.ndarray) -> Path:
    """The three files in the official flat layout."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(vit, folder / "dinov2_vitb14_pretrain.pth")
    torch.save(segment_tr, folder / "segment_tr.pth")
    np.save(folder / "modular.npy", codebook)
    return folder


@pytest.fixture(scope="module")
def golden_cause(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> CauseFeatures:
    """Recipe weights written as the release files (all 56 Segment_TR keys) and loaded as users load theirs."""
    recipe = _recipe(shared_dir)
    golden = shared_dir / "golden"
    vit = recipe.make_state_dict(recipe.spec_from_json(json.loads((golden / "dinov2" / "dinov2_keys.json").read_text())))
    entries = json.loads((golden / "cause_head" / "segment_tr_keys.json").read_text())
    segment_tr = recipe.make_state_dict(recipe.spec_from_json(entries))
    for entry in entries[:5]:
        assert recipe.tensor_sha256(segment_tr[entry["key"]]) == entry["sha256"], "torch's generator changed"
    folder = save_release(tmp_path_factory.mktemp("cause"), vit, segment_tr, recipe.modular_codebook().numpy())
    return load_cause(folder)


def test_dinov2_golden(golden_cause: CauseFeatures, shared_dir: Path) -> None:
    golden = shared_dir / "golden" / "dinov2"
    x = torch.from_numpy(np.load(golden / "dinov2_input.npy"))
    seen: dict[str, torch.Tensor] = {}
    hooks = [golden_cause.vit.patch_embed.register_forward_hook(lambda m, i, o: seen.__setitem__("patch", o)),
             golden_cause.vit.blocks[0].register_forward_hook(lambda m, i, o: seen.__setitem__("block0", o)),
             golden_cause.vit.blocks[11].register_forward_hook(lambda m, i, o: seen.__setitem__("block11", o))]
    try:
        with torch.inference_mode():
            out = golden_cause.vit(x)
            pos = golden_cause.vit.interpolated_pos_embed(23, 23)
    finally:
        for hook in hooks:
            hook.remove()
    np.testing.assert_allclose(pos.numpy(), np.load(golden / "dinov2_pos_embed_interp.npy"), atol=1e-5, rtol=0)
    for name, file in (("patch", "dinov2_patch_embed"), ("block0", "dinov2_block0_out"),
                       ("block11", "dinov2_block11_out_prenorm")):
        np.testing.assert_allclose(seen[name].numpy(), np.load(golden / f"{file}.npy"), atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(out.numpy(), np.load(golden / "dinov2_output.npy"), atol=1e-4, rtol=1e-4)


def test_position_resampling_uses_the_offset_scale_factor(golden_cause: CauseFeatures) -> None:
    """An output-size resize would be visibly different: the quirk is what the golden numbers pin."""
    with torch.no_grad():
        grid = golden_cause.vit.pos_embed[:, 1:].reshape(1, 37, 37, 768).permute(0, 3, 1, 2)
        by_size = torch.nn.functional.interpolate(grid, size=(23, 23), mode="bicubic", align_corners=False)
        ours = golden_cause.vit.interpolated_pos_embed(23, 23)[:, 1:].reshape(1, 23, 23, 768).permute(0, 3, 1, 2)
    assert float((by_size - ours).abs().max()) > 1e-3


def test_segment_head_golden(golden_cause: CauseFeatures, shared_dir: Path) -> None:
    golden = shared_dir / "golden"
    tokens = torch.from_numpy(np.load(golden / "dinov2" / "dinov2_output.npy"))[:, 1:]
    seen: dict[str, torch.Tensor] = {}
    hook = golden_cause.head.tr.norm3.register_forward_hook(lambda m, i, o: seen.__setitem__("norm3", o))
    try:
        with torch.inference_mode():
            index, _ = golden_cause.head.quantise(tokens)
            out = golden_cause.head(tokens)
    finally:
        hook.remove()
    assert np.array_equal(index[0].numpy(), np.load(golden / "cause_head" / "cause_head_vq_index.npy"))
    np.testing.assert_allclose(seen["norm3"].numpy(), np.load(golden / "cause_head" / "cause_head_tr_norm3_out.npy"), atol=1e-4, rtol=0)
    np.testing.assert_allclose(out.numpy(), np.load(golden / "cause_head" / "cause_head_output.npy"), atol=1e-4, rtol=0)


def test_sliding_window_pipeline_golden(golden_cause: CauseFeatures, shared_dir: Path) -> None:
    golden = shared_dir / "golden"
    pipeline = golden / "cause_pipeline"
    rgb = np.array(Image.open(golden / "test_image_256x512.png").convert("RGB"))
    assert features.working_size(*rgb.shape[:2]) == (322, 644)
    resized = np.asarray(Image.fromarray(rgb).resize((644, 322), Image.BILINEAR))
    assert np.array_equal(resized, np.array(Image.open(pipeline / "cause_resized_644x322.png")))
    image = features.preprocess(rgb)
    # codebook look-ups of the 6 passes, in the golden order (window, then plain/mirrored)
    crops = [image[:, :, x:x + 322] for x in (0, 161, 322)]
    batch = torch.from_numpy(np.stack([c for crop in crops for c in (crop, crop[:, :, ::-1].copy())]))
    with torch.inference_mode():
        index, _ = golden_cause.head.quantise(golden_cause.vit(batch)[:, 1:])
    assert np.array_equal(index.numpy(), np.load(pipeline / "cause_pipeline_vq_index.npy"))

    windows = features.crop_features(golden_cause, [image])[0]
    assert windows.xs == (0, 161, 322) and windows.ys == (0, 0, 0)
    np.testing.assert_allclose(windows.maps, np.load(pipeline / "cause_crop_features.npy"), atol=1e-4, rtol=0)
    full = features.full_resolution(windows)
    np.testing.assert_allclose(features.patch_features(full), np.load(pipeline / "cause_patch_pooled.npy"), atol=1e-4, rtol=0)
    positions = np.load(pipeline / "cause_feat_sample_pos.npy")
    sample = full[:, positions[:, 0], positions[:, 1]].T.numpy()
    np.testing.assert_allclose(sample, np.load(pipeline / "cause_feat_sample.npy"), atol=1e-4, rtol=0)

    with np.load(golden / "kmeans_centroids_k80.npz") as npz:
        centroids = npz["centroids"]
    clusters, _ = features.assign_clusters(full, centroids)
    expected = np.array(Image.open(pipeline / "cause_clusters_644x322.png"))
    near_tie = np.load(pipeline / "cause_cluster_margin_644x322.npy") < 1e-5
    assert np.array_equal(clusters[~near_tie], expected[~near_tie])
    raw = cs.resize_nearest(clusters, rgb.shape[:2])
    expected_raw = np.array(Image.open(pipeline / "cause_raw_clusters_256x512.png"))
    allowed = cs.resize_nearest(near_tie, rgb.shape[:2])
    assert np.array_equal(raw[~allowed], expected_raw[~allowed]) and (raw == expected_raw).mean() > 0.999


@pytest.mark.real_size
def test_release_key_lists_match_the_network(shared_dir: Path) -> None:
    golden = shared_dir / "golden"
    with torch.device("meta"):
        model = CauseFeatures()
    vit_keys = [(e["key"], tuple(e["shape"])) for e in json.loads((golden / "dinov2" / "dinov2_keys.json").read_text())]
    assert [(k, tuple(v.shape)) for k, v in model.vit.state_dict().items()] == vit_keys
    head = [(e["key"][len("head_ema."):], tuple(e["shape"]))
            for e in json.loads((golden / "cause_head" / "segment_tr_keys.json").read_text()) if e["used_in_inference"]]
    assert sorted((k, tuple(v.shape)) for k, v in model.head.state_dict().items()) == sorted(head)


# --------------------------------------------------------------------------- own fixtures (no ../shared needed)


def test_release_files_load_and_run_on_a_small_image(cause_release: Path) -> None:
    model = load_cause(cause_release)
    rgb = np.random.default_rng(0).integers(0, 256, (100, 150, 3), dtype=np.uint8)
    image = features.preprocess(rgb)
    assert image.shape == (3, 322, 476)  # short side 322; 150 * 3.22 = 483 -> floored to 476 = 34 * 14
    windows = features.crop_features(model, [image, image])
    assert len(windows) == 2 and np.array_equal(windows[0].maps, windows[1].maps)
    assert windows[0].maps.shape == (2, 90, 23, 23) and windows[0].xs == (0, 154)
    full = features.full_resolution(windows[0])
    assert full.shape == (90, 322, 476) and features.patch_features(full).shape == (90, 23, 34)


def test_bad_release_files_are_named(cause_release: Path, tmp_path: Path) -> None:
    segment_tr = torch.load(cause_release / "segment_tr.pth", weights_only=True)
    save_release(tmp_path, torch.load(cause_release / "dinov2_vitb14_pretrain.pth", weights_only=True),
                 {**segment_tr, "head_ema.tr.f1.weight": torch.zeros(27, 768, 1, 1)}, np.zeros((2048, 768), np.float32))
    with pytest.raises(CheckpointError, match=r"segment_tr.pth: does not fit.*head_ema|tr.f1.weight: file \(27, 768, 1, 1\)"):
        load_cause(tmp_path)
    np.save(tmp_path / "modular.npy", np.zeros((1024, 768), np.float32))
    with pytest.raises(CheckpointError, match=r"modular.npy: codebook must be \(2048, 768\)"):
        load_cause(tmp_path)
    (tmp_path / "modular.npy").write_bytes(b"")  # an interrupted download
    with pytest.raises(CheckpointError, match=r"modular.npy: cannot be read as .npy"):
        load_cause(tmp_path)
    (tmp_path / "dinov2_vitb14_pretrain.pth").unlink()
    with pytest.raises(FileNotFoundError, match="dinov2_vitb14_pretrain.pth: checkpoint not found.*DINOv2 release"):
        load_cause(tmp_path)


def test_window_layout() -> None:
    assert features.working_size(1024, 2048) == (322, 644)
    assert features.window_starts(322) == [0] and features.window_starts(644) == [0, 161, 322]
    assert features.window_starts(476) == [0, 154]
    with pytest.raises(ValueError, match="multiple of the patch size"):
        DinoVisionTransformer()(torch.zeros(1, 3, 20, 28))
