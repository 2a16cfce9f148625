"""SPIdepth: parity with the golden fixtures, checkpoint loading, pre/post-processing and the CLI."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.depth import spidepth as depth
from pseudo_labels.cli import depth as cli
from pseudo_labels.core.errors import InputError
from pseudo_labels.depth import maps
from refs.random_release import save_spidepth_release, write_spidepth_release
from refs.spidepth.model import CheckpointError, SPIdepth, guess_backbone, load_spidepth
from refs.spidepth.unet import DEFAULT_BACKBONE

ATTO = "convnextv2_atto"


def _recipe(shared: Path):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("recipe", shared / "golden" / "recipe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def golden_model(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SPIdepth:
    """The atto stand-in with recipe weights, saved as official files and loaded the way users load theirs."""
    recipe = _recipe(shared_dir)
    keys = shared_dir / "golden" / "spidepth"
    encoder = recipe.make_state_dict(recipe.spec_from_json(json.loads((keys / "spidepth_atto_encoder_keys.json").read_text())))
    decoder = recipe.make_state_dict(recipe.spec_from_json(json.loads((keys / "spidepth_atto_depth_keys.json").read_text())))
    for entry in json.loads((keys / "spidepth_atto_depth_keys.json").read_text()):
        assert recipe.tensor_sha256(decoder[entry["key"]]) == entry["sha256"], "torch's generator changed"
    folder = save_spidepth_release(tmp_path_factory.mktemp("spidepth"), encoder, decoder)
    return load_spidepth(folder, ATTO)


def test_golden_single_forward_and_intermediates(golden_model: SPIdepth, shared_dir: Path) -> None:
    golden = shared_dir / "golden" / "spidepth"
    seen: dict[str, torch.Tensor] = {}
    hooks = [golden_model.encoder.register_forward_hook(lambda m, i, o: seen.__setitem__("unet", o)),
             golden_model.depth.transformer_encoder.register_forward_hook(lambda m, i, o: seen.__setitem__("tr", o)),
             golden_model.depth.bins_regressor.register_forward_hook(lambda m, i, o: seen.__setitem__("bins", o))]
    rgb = np.array(Image.open(golden / "spidepth_input_1024x320.png"))
    x = torch.from_numpy(depth.network_input(rgb))[None]
    try:
        with torch.inference_mode():
            single = golden_model(x)
    finally:
        for hook in hooks:
            hook.remove()
    np.testing.assert_allclose(seen["unet"][..., ::4, ::4].numpy(), np.load(golden / "spidepth_unet_out_sub4.npy"), atol=1e-5, rtol=0)
    np.testing.assert_allclose(seen["tr"].numpy(), np.load(golden / "spidepth_transformer_out.npy"), atol=1e-4, rtol=0)
    np.testing.assert_allclose(seen["bins"].numpy(), np.load(golden / "spidepth_bins_regressor_out.npy"), atol=1e-6, rtol=0)
    np.testing.assert_allclose(single.numpy(), np.load(golden / "spidepth_single_forward.npy"), atol=3e-4, rtol=0)


def test_golden_flip_average_and_normalised_maps(golden_model: SPIdepth, shared_dir: Path) -> None:
    golden = shared_dir / "golden" / "spidepth"
    rgb = np.array(Image.open(golden / "spidepth_input_1024x320.png"))
    raw = depth.predict(golden_model, torch.from_numpy(depth.network_input(rgb))[None], flip=True)[0]
    np.testing.assert_allclose(raw.numpy(), np.load(golden / "spidepth_raw_flipavg.npy"), atol=3e-4, rtol=0)
    for size in ((256, 512), (512, 1024)):
        out = depth.normalised_depth(raw, size)
        expected = np.load(golden / f"spidepth_depth_{size[0]}x{size[1]}.npy")
        assert out.dtype == np.float32 and out.shape == size
        np.testing.assert_allclose(out, expected, atol=2e-3, rtol=0)


@pytest.mark.real_size
def test_real_configuration_has_the_release_keys_and_shapes(shared_dir: Path) -> None:
    """ConvNeXtV2-H SPIdepth built on the meta device: exactly the keys and shapes the real files hold."""
    keys = shared_dir / "golden" / "spidepth"
    with torch.device("meta"):
        model = SPIdepth(DEFAULT_BACKBONE)
    for part, name in ((model.encoder, "spidepth_real_encoder_keys.json"), (model.depth, "spidepth_real_depth_keys.json")):
        expected = [(e["key"], tuple(e["shape"])) for e in json.loads((keys / name).read_text())]
        assert [(k, tuple(v.shape)) for k, v in part.state_dict().items()] == expected, name


# --------------------------------------------------------------------------- own fixtures (no ../shared needed)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random-weight atto SPIdepth saved in the official layout."""
    return write_spidepth_release(tmp_path_factory.mktemp("tiny"), ATTO, seed=0)


def test_checkpoint_round_trip_drops_only_monodepth_entries(tiny_checkpoint: Path) -> None:
    model = load_spidepth(tiny_checkpoint, ATTO)
    saved = torch.load(tiny_checkpoint / "encoder.pth", weights_only=True)
    assert set(saved) - set(model.encoder.state_dict()) == {"height", "width", "use_stereo"}
    assert torch.equal(model.encoder.state_dict()["decoder.final_conv.weight"], saved["decoder.final_conv.weight"])
    assert not model.training


def test_wrong_backbone_names_keys_and_the_fitting_backbone(tiny_checkpoint: Path) -> None:
    with pytest.raises(CheckpointError) as info:
        load_spidepth(tiny_checkpoint, "convnextv2_femto")
    message = str(info.value)
    assert "encoder.pth" in message and "shape mismatches" in message and "--backbone convnextv2_atto" in message
    assert guess_backbone(torch.load(tiny_checkpoint / "encoder.pth", weights_only=True)) == ATTO


def test_extra_key_and_missing_file_are_reported(tiny_checkpoint: Path, tmp_path: Path) -> None:
    state = torch.load(tiny_checkpoint / "depth.pth", weights_only=True)
    save_spidepth_release(tmp_path, torch.load(tiny_checkpoint / "encoder.pth", weights_only=True), {**state, "extra": torch.zeros(1)})
    with pytest.raises(CheckpointError, match=r"depth.pth: does not fit the network: unexpected keys \['extra'\]"):
        load_spidepth(tmp_path, ATTO)
    (tmp_path / "depth.pth").unlink()
    with pytest.raises(FileNotFoundError, match="depth.pth: checkpoint not found.*SPIdepth release"):
        load_spidepth(tmp_path, ATTO)


def test_network_input_is_pillow_lanczos_of_the_kept_rows() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (100, 200, 3), dtype=np.uint8)
    x = depth.network_input(rgb)
    expected = np.asarray(Image.fromarray(rgb).resize((1024, 320), Image.LANCZOS), np.float32) / 255
    assert x.shape == (3, 320, 1024) and np.array_equal(x, expected.transpose(2, 0, 1))
    cropped = depth.network_input(rgb, crop_bottom=0.25)
    expected = np.asarray(Image.fromarray(rgb[:75]).resize((1024, 320), Image.LANCZOS), np.float32) / 255
    assert np.array_equal(cropped, expected.transpose(2, 0, 1))


def test_normalised_depth_min_max_flat_and_bottom_fill() -> None:
    raw = torch.arange(8 * 16, dtype=torch.float32).reshape(8, 16)
    out = depth.normalised_depth(raw, (16, 32))
    assert out.min() == 0.0 and out.max() == 1.0 and out.dtype == np.float32
    assert (depth.normalised_depth(torch.full((8, 16), 3.0), (16, 32)) == 0).all()
    filled = depth.normalised_depth(raw, (16, 32), crop_bottom=0.25)
    assert np.array_equal(filled[12:], np.repeat(filled[11:12], 4, axis=0)) and not np.array_equal(filled[10], filled[11])


def test_flip_average_equals_separate_passes(tiny_checkpoint: Path) -> None:
    model = load_spidepth(tiny_checkpoint, ATTO)
    x = torch.rand(1, 3, 256, 1024, generator=torch.Generator().manual_seed(0))  # 64 tokens: the fewest possible
    with torch.inference_mode():
        expected = (model(x) + model(x.flip(-1)).flip(-1)) / 2
    # batch of 2 vs two batches of 1: a few float32 ulps apart (outputs are about 40)
    np.testing.assert_allclose(depth.predict(model, x, flip=True).numpy(), expected[:, 0].numpy(), rtol=1e-6, atol=1e-5)


def test_cli_writes_resumes_and_reports_bad_images(tiny_checkpoint: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    from pseudo_labels.data.synthetic import write_dataset

    write_dataset(tmp_path, "val", num_images=2, seed=1, size=(64, 128), show_progress=False)
    out = tmp_path / "depth_out"
    argv = ["--cityscapes_root", str(tmp_path), "--split", "val", "--output_dir", str(out), "--checkpoint_dir",
            str(tiny_checkpoint), "--backbone", ATTO, "--device", "cpu", "--target_size", "32", "64",
            "--no_flip_augment", "--num_workers", "0", "--log_file", str(tmp_path / "depth.log")]
    assert cli.main(argv) == 0
    assert "val: 2 images, 0 already done, 2 to compute" in (tmp_path / "depth.log").read_text()
    written = cs.output_paths(out, "val", ".npy", "depth")
    assert len(written) == 2 and (out / "val" / "manifest.json").is_file()
    first = next(iter(written.values()))
    depth_map = np.load(first)
    assert depth_map.shape == (32, 64) and depth_map.dtype == np.float32 and depth_map.min() == 0 and depth_map.max() == 1
    stamp = first.stat().st_mtime_ns
    assert cli.main(argv) == 0 and first.stat().st_mtime_ns == stamp  # resumed: nothing recomputed
    images = sorted((tmp_path / "leftImg8bit" / "val").rglob("*.png"))
    changed = written[next(k for k in written if images[0].name.startswith(k.split("/")[1]))]
    kept = next(p for p in written.values() if p != changed)
    stamps = {p: p.stat().st_mtime_ns for p in (changed, kept)}
    from PIL import Image
    Image.fromarray(np.asarray(Image.open(images[0]))[:, ::-1].copy()).save(images[0])  # the image changed
    with caplog.at_level("INFO"):
        assert cli.main(argv) == 0
    assert changed.stat().st_mtime_ns != stamps[changed] and kept.stat().st_mtime_ns == stamps[kept]
    assert "1 depth maps were made from other inputs" in caplog.text
    image = images[0]
    image.write_bytes(b"not a png")
    first.unlink()
    for path in written.values():
        path.unlink(missing_ok=True)
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2 and image.name in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:  # read in a DataLoader worker: still one message, no worker traceback
        cli.main([*argv[:-2], "--num_workers", "1"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and image.name in err and "Traceback" not in err and "worker" not in err, err


def test_a_folder_of_photos_gets_maps_at_each_frames_working_size(tiny_checkpoint: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """--layout folder: nested jpg/png, landscape, portrait and greyscale frames, each map at the frame's working
    size (short side 512); a zero-byte image stops the run before anything is written."""
    photos = tmp_path / "photos"
    (photos / "drive").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (330, 660, 3), np.uint8)).save(photos / "drive" / "a.jpg")
    Image.fromarray(rng.integers(0, 255, (400, 340), np.uint8)).save(photos / "b.png")  # portrait, greyscale
    out = tmp_path / "out"
    argv = ["--cityscapes_root", str(out), "--layout", "folder", "--image_root", str(photos), "--split", "train",
            "--checkpoint_dir", str(tiny_checkpoint), "--backbone", ATTO, "--device", "cpu", "--num_workers", "0",
            "--no_flip_augment"]
    assert cli.main(argv) == 0
    maps = cs.output_paths(out / cs.DEPTH_SUBDIR, "train", ".npy", "depth")
    assert {k: np.load(p).shape for k, p in maps.items()} == {"b": (602, 512), "drive/a": (512, 1024)}
    manifest = json.loads((out / cs.DEPTH_SUBDIR / "train" / "manifest.json").read_text())
    assert manifest["settings"]["target_size"] == "working size of each frame"
    (photos / "c.png").write_bytes(b"")
    with pytest.raises(SystemExit) as info:
        cli.main([*argv, "--overwrite"])
    assert info.value.code == 2 and "c.png: zero-byte image" in capsys.readouterr().err
    assert sorted(cs.output_paths(out / cs.DEPTH_SUBDIR, "train", ".npy", "depth")) == ["b", "drive/a"]
    (photos / "c.png").unlink()
    with pytest.raises(SystemExit) as info:  # maps inside the photos: refused
        cli.main([*argv[:1], str(photos), *argv[2:]])
    assert info.value.code == 2 and not list(photos.rglob("*.npy"))


@pytest.mark.parametrize("case", ["empty folder", "zero-byte", "unreadable", "too small", "same key"])
def test_bad_photos_stop_before_anything_is_written(case: str, tiny_checkpoint: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    good = np.zeros((330, 400, 3), np.uint8)
    Image.fromarray(good).save(photos / "a.png")
    named = {"empty folder": "no image", "zero-byte": "b.jpg", "unreadable": "b.jpg", "too small": "b.jpg",
             "same key": "a.jpg"}[case]
    if case == "empty folder":
        (photos / "a.png").unlink()
    elif case == "zero-byte":
        (photos / "b.jpg").write_bytes(b"")
    elif case == "unreadable":
        (photos / "b.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    elif case == "too small":
        Image.fromarray(good[:100, :300]).save(photos / "b.jpg")
    else:
        Image.fromarray(good).save(photos / "a.jpg")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        cli.main(["--cityscapes_root", str(out), "--layout", "folder", "--image_root", str(photos), "--split",
                  "train", "--checkpoint_dir", str(tiny_checkpoint), "--backbone", ATTO, "--device", "cpu"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and named in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_missing_checkpoint_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pseudo_labels.data.synthetic import write_dataset

    write_dataset(tmp_path, "val", num_images=1, seed=1, size=(64, 128), show_progress=False)
    with pytest.raises(SystemExit) as info:
        cli.main(["--cityscapes_root", str(tmp_path), "--split", "val", "--checkpoint_dir", str(tmp_path / "none"),
                  "--device", "cpu"])
    assert info.value.code == 2 and "encoder.pth: checkpoint not found" in capsys.readouterr().err


def test_original_flags_parse_with_the_original_defaults() -> None:
    args = cli.build_parser().parse_args(["--cityscapes_root", "R"])
    assert args.flip_augment is True and args.no_flip_augment is False and args.log_file is None
    assert args.checkpoint_dir is None and args.split == "both" and list(args.target_size) == [512, 1024]
    args = cli.build_parser().parse_args(["--cityscapes_root", "R", "--flip_augment", "--log_file", "x.log"])
    assert args.flip_augment is True and args.log_file == Path("x.log")
    assert maps.DEFAULT_CHECKPOINT_DIRS[0].parts[-4:] == ("refs", "spidepth", "checkpoints", "cityscapes")
    assert maps.DEFAULT_CHECKPOINT_DIRS[1] == Path("checkpoints/spidepth")


def test_default_checkpoint_folders_searched_in_order_and_both_named(tiny_checkpoint: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from pseudo_labels.data.synthetic import write_dataset

    original, ours = tmp_path / "refs_ckpt", tmp_path / "our_ckpt"
    monkeypatch.setattr(maps, "DEFAULT_CHECKPOINT_DIRS", (original, ours))
    write_dataset(tmp_path, "val", num_images=1, seed=1, size=(64, 128), show_progress=False)
    with pytest.raises(SystemExit) as info:
        cli.main(["--cityscapes_root", str(tmp_path), "--split", "val", "--device", "cpu"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and str(original) in err and str(ours) in err and "Traceback" not in err
    ours.mkdir()
    (ours / "encoder.pth").write_bytes((tiny_checkpoint / "encoder.pth").read_bytes())
    with pytest.raises(InputError):  # one file is not enough
        maps.default_checkpoint_dir()
    (ours / "depth.pth").write_bytes((tiny_checkpoint / "depth.pth").read_bytes())
    assert maps.default_checkpoint_dir() == ours
    original.mkdir()
    for name in ("encoder.pth", "depth.pth"):
        (original / name).write_bytes((tiny_checkpoint / name).read_bytes())
    assert maps.default_checkpoint_dir() == original


def test_too_small_input_is_a_clear_error(tiny_checkpoint: Path) -> None:
    with pytest.raises(ValueError, match="2 patch tokens for 64 queries"):
        load_spidepth(tiny_checkpoint, ATTO)(torch.rand(1, 3, 64, 128))


def test_torchrun_two_processes_write_the_same_files(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """Two gloo ranks on the CPU split the images and write exactly what one process writes."""
    import os
    import subprocess
    import sys

    from pseudo_labels.data.synthetic import write_dataset

    write_dataset(tmp_path, "val", num_images=2, seed=2, size=(64, 128), show_progress=False)
    script = Path(cli.__file__).parents[1] / "generate_depth_spidepth.py"  # the original path
    common = ["--cityscapes_root", str(tmp_path), "--split", "val", "--checkpoint_dir", str(tiny_checkpoint),
              "--backbone", ATTO, "--device", "cpu", "--target_size", "32", "64", "--no_flip_augment",
              "--num_workers", "0", "--batch_size", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # torchrun's default per process; the same for both runs
    subprocess.run([sys.executable, str(script), *common, "--output_dir", str(tmp_path / "one")], check=True,
                   env=env, capture_output=True)
    torchrun = Path(sys.executable).parent / "torchrun"
    subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", str(script), *common,
                    "--output_dir", str(tmp_path / "two")], check=True, env=env, capture_output=True)
    one = {p.relative_to(tmp_path / "one"): p.read_bytes() for p in (tmp_path / "one").rglob("*.npy")}
    two = {p.relative_to(tmp_path / "two"): p.read_bytes() for p in (tmp_path / "two").rglob("*.npy")}
    assert len(one) == 2 and one == two
    assert json.loads((tmp_path / "two" / "val" / "manifest.json").read_text())["ranks"] == 2
