"""The CUPS export read back by the rules of CUPS' own loader (visinf/cups, cups/data/pseudo_label_dataset.py).

The reader below is written from that loader's code, not from ours:
labels are read with torchvision's ``read_image(mode=RGB)`` (which, in the
torchvision 0.16 CUPS pins, refuses 16-bit PNGs), the thing classes come from
the summed ``.pt`` files (rank by inside/all ratio, normalise, take the leading
shares above the threshold via ``argmin``), an instance is named by the largest
semantic id under its mask and dropped when that id is not a thing class.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.cli import cups as convert
from pseudo_labels.formats import cups_labels
from pseudo_labels.cli import instances as gen
from pseudo_labels.instances import splitting as inst
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.core.fileio import write_png
from pseudo_labels.data.synthetic import write_dataset

K = 30
SEMANTIC = f"pseudo_semantic_raw_k{K}"


# --------------------------------------------------------------------------- CUPS' rules, restated


def cups_read_label(path: Path) -> np.ndarray:
    """torchvision 0.16 ``read_image(path, ImageReadMode.RGB)[0]``: 8-bit PNGs only."""
    with Image.open(path) as image:
        if image.mode in ("I;16", "I;16B", "I"):
            raise RuntimeError("At most 8-bit PNG images are supported currently.")
        return np.asarray(image.convert("RGB"))[..., 0].astype(np.int64)


def cups_things(folder: Path, threshold: float) -> set[int]:
    """CUPS' thing/stuff split of a pseudo-label folder."""
    files = [torch.load(folder / name, weights_only=True) for name in os.listdir(folder) if ".pt" in name]
    inside = torch.stack([f["distribution inside object proposals"] for f in files]).sum(dim=0)
    everywhere = torch.stack([f["distribution all pixels"] for f in files]).sum(dim=0)
    distribution, indices = torch.sort(inside / (everywhere + 1e-06), descending=True)
    distribution = distribution / distribution.sum()
    count = (distribution > threshold).float().argmin()
    return set(indices[:count].tolist())


def cups_instances(folder: Path, stem: str, things: set[int]) -> tuple[dict[int, int], set[int]]:
    """(instance id -> class for the kept instances, ids dropped) of one image, as CUPS' __getitem__ decides."""
    semantic = cups_read_label(folder / f"{stem}_semantic.png")
    instance = cups_read_label(folder / f"{stem}_instance.png")
    kept, dropped = {}, set()
    for index in np.unique(instance[instance > 0]):
        name = int(semantic[instance == index].max())
        (kept.__setitem__(int(index), name) if name in things else dropped.add(int(index)))
    return kept, dropped


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def train(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cups_train")
    write_dataset(root, "train", num_images=3, seed=4, size=(256, 512), num_clusters=K, show_progress=False)
    return root


def _export(root: Path, *extra: str) -> int:
    return convert.main(["--cityscapes_root", str(root), "--semantic_subdir", SEMANTIC, "--centroids_path",
                         str(root / SEMANTIC / "kmeans_centroids.npz"), "--depth_instances", "--grad_threshold",
                         "0.20", "--min_instance_area", "200", "--workers", "1", *extra])


def _majority_at_working_size(root: Path, key: str) -> dict[int, int]:
    """Each evaluated instance's majority cluster, computed at 512x1024 from the sweep's own segments."""
    with np.load(root / SEMANTIC / "kmeans_centroids.npz") as npz:
        table = npz["cluster_to_class"]
    clusters = cs.resize_nearest(cs.read_png(root / SEMANTIC / "train" / f"{key}.png"), (512, 1024))
    depth = cs.resize_bilinear(np.load(root / cs.DEPTH_SUBDIR / "train" / f"{key}.npy"), (512, 1024))
    found = inst.split_instances(table[clusters], inst.depth_gradient(depth), 0.20, 200)
    segments = pan.predicted_segments(table[clusters], found, pan.STUFF_MIN_AREA, pan.THING_MIN_AREA)
    things = cs.IS_THING[segments.classes][segments.ids] & (segments.ids > 0)
    first = segments.ids[things].min() if things.any() else 0
    ids = np.where(things, segments.ids - first + 1, 0)
    return {int(i): int(np.bincount(clusters[ids == i]).argmax()) for i in np.unique(ids[ids > 0])}


# --------------------------------------------------------------------------- tests


def test_cups_keeps_every_instance_with_its_majority_cluster(train: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _export(train) == 0
    command = capsys.readouterr().out
    out = train / "cups_pseudo_labels"
    stats = json.loads((out / "stats.json").read_text())
    interval = stats["cups_thing_stuff_threshold"]
    assert interval["suggested"] is not None, interval
    assert f"DATA.THING_STUFF_THRESHOLD {interval['suggested']:.6g}" in command and f'"{out}"' in command
    things = cups_things(out, interval["suggested"])
    assert things == set(interval["thing_classes"]) and things <= set(stats["thing_classes"])
    # the interval's ends: low still gives the set (shares must be > t), high loses the last thing class
    assert cups_things(out, interval["low"]) == things and cups_things(out, interval["high"]) != things
    total = 0
    for key in cs.output_paths(train / SEMANTIC, "train", ".png"):
        stem = key.split("/")[1] + "_leftImg8bit"
        kept, dropped = cups_instances(out, stem, things)
        expected = _majority_at_working_size(train, key)
        assert not dropped and kept == expected, key
        total += len(kept)
    assert total == stats["instances"] > 3


def test_pt_counts_are_those_of_the_written_pngs(train: Path) -> None:
    out = train / "cups_pseudo_labels"
    if not (out / "stats.json").is_file():
        assert _export(train) == 0
    for pt in sorted(out.glob("*.pt")):
        stem = pt.name[: -len(".pt")]
        semantic = cups_read_label(out / f"{stem}_semantic.png")
        instance = cups_read_label(out / f"{stem}_instance.png")
        data = torch.load(pt, weights_only=True)
        assert np.array_equal(data["distribution all pixels"].numpy(), np.bincount(semantic.ravel(), minlength=K))
        assert np.array_equal(data["distribution inside object proposals"].numpy(),
                              np.bincount(semantic[instance > 0], minlength=K))


def test_default_size_is_the_image_size_times_0625_and_other_aspects_are_refused(
        train: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "copy"
    shutil.copytree(train, root, ignore=shutil.ignore_patterns("cups_pseudo_labels"))
    assert _export(root, "--output_subdir", "default") == 0
    stats = json.loads((root / "default" / "stats.json").read_text())
    assert stats["target_size"] == [160, 320] and stats["cups_data_scale"] == 0.625  # images are 256x512
    png = next((root / "default").glob("*_semantic.png"))
    assert cs.read_png(png).shape == (160, 320)
    for size in (("200", "320"), ("160", "330")):  # no one factor floors to both sides
        with pytest.raises(SystemExit) as info:
            _export(root, "--output_subdir", "bad", "--target_h", size[0], "--target_w", size[1])
        assert info.value.code == 2 and "not one scale" in capsys.readouterr().err
    assert not (root / "bad").exists()


def test_a_bad_id_anywhere_stops_before_anything_is_written(train: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "copy"
    shutil.copytree(train, root, ignore=shutil.ignore_patterns("cups_pseudo_labels"))
    last = sorted((root / SEMANTIC / "train").rglob("*.png"))[-1]
    clusters = cs.read_png(last)
    clusters[-1, -1] = 200  # one pixel, at full resolution only (gone at 512x1024 nearest)
    write_png(last, clusters)
    with pytest.raises(SystemExit) as info:
        _export(root)
    err = capsys.readouterr().err
    assert info.value.code == 2 and last.name in err and "id 200" in err
    assert not (root / "cups_pseudo_labels").exists()


def test_label_free_ids_at_or_above_num_classes_stop_before_anything_is_written(
        train: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without a centroid file any 8-bit id is read, so --num_classes is what bounds the ids the maps may hold:
    one larger id would be written to ``_semantic.png`` and silently left out of the ``.pt`` counts."""
    root = tmp_path / "copy"
    shutil.copytree(train, root, ignore=shutil.ignore_patterns("cups_pseudo_labels"))
    with np.load(root / SEMANTIC / "kmeans_centroids.npz") as npz:
        thing_clusters = np.flatnonzero(cs.IS_THING[npz["cluster_to_class"]]).tolist()
    (root / "things.json").write_text(json.dumps({"thing_ids": thing_clusters}))
    argv = ["--cityscapes_root", str(root), "--semantic_subdir", SEMANTIC, "--stuff_things", str(root / "things.json"),
            "--num_classes", str(K), "--depth_instances", "--min_instance_area", "200", "--workers", "1"]
    last = sorted((root / SEMANTIC / "train").rglob("*.png"))[-1]
    clusters = cs.read_png(last)
    clusters[-1, -1] = 100  # one pixel, at full resolution only; a valid 8-bit cluster id, but not below K
    write_png(last, clusters)
    with pytest.raises(SystemExit) as info:
        convert.main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and str(last) in err and "id 100" in err and f"--num_classes {K}" in err
    assert not (root / "cups_pseudo_labels").exists()
    clusters[-1, -1] = K - 1  # the largest id below --num_classes is fine
    write_png(last, clusters)
    assert convert.main(argv) == 0
    assert json.loads((root / "cups_pseudo_labels" / "stats.json").read_text())["num_classes"] == K


def _crowded(root: Path, count_side: int = 17) -> None:
    """A trainId map with count_side**2 separate cars (4x4 px at 256x512) on road."""
    semantic = np.zeros((256, 512), np.uint8)
    for i in range(count_side):
        for j in range(count_side):
            semantic[i * 8: i * 8 + 4, j * 8: j * 8 + 4] = 13
    write_png(root / "trainids" / "train" / "aachen" / "aachen_000000_000019.png", semantic)


def test_more_than_255_instances_stop_unless_16_bit_is_asked_for(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _crowded(tmp_path)
    base = ["--cityscapes_root", str(tmp_path), "--semantic_subdir", "trainids", "--cc_instances",
            "--use_trainid_things", "--min_instance_area", "1", "--target_h", "256", "--target_w", "512",
            "--workers", "1"]
    with pytest.raises(SystemExit) as info:
        convert.main(base)
    err = capsys.readouterr().err
    assert info.value.code == 2 and "aachen_000000_000019" in err and "289 instances" in err
    assert "--min_instance_area" in err and "--instance_png_bits 16" in err
    assert convert.main([*base, "--instance_png_bits", "16", "--overwrite"]) == 0
    png = tmp_path / "cups_pseudo_labels" / "aachen_000000_000019_leftImg8bit_instance.png"
    assert int(cs.read_png(png).max()) == 289 and cs.read_png(png).dtype == np.uint16
    with pytest.raises(RuntimeError, match="8-bit"):
        cups_read_label(png)
    _crowded(tmp_path, 15)  # 225 instances: 8 bits
    assert convert.main([*base, "--overwrite"]) == 0
    assert cs.read_png(png).dtype == np.uint8 and int(cs.read_png(png).max()) == 225
    assert json.loads((tmp_path / "cups_pseudo_labels" / "stats.json").read_text())["num_classes"] == 19


def _original_npz_oracle(masks: np.ndarray, scores: np.ndarray, semantic: np.ndarray, things: set[int]) -> np.ndarray:
    """The original exporter's default mode, mask by mask (score order, majority id a thing, free pixels)."""
    out = np.zeros(semantic.shape, np.uint16)
    next_id = 1
    for index in np.argsort(-scores):
        mask = masks[index]
        if mask.sum() == 0 or int(np.bincount(semantic[mask]).argmax()) not in things:
            continue
        fresh = mask & (out == 0)
        if fresh.any():
            out[fresh] = next_id
            next_id += 1
    return out


def test_the_original_default_mode_reads_instance_files_and_trainid_input(train: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(train, root, ignore=shutil.ignore_patterns("cups_pseudo_labels"))
    with np.load(root / SEMANTIC / "kmeans_centroids.npz") as npz:
        table = npz["cluster_to_class"]
    for path in (root / SEMANTIC / "train").rglob("*.png"):
        write_png(root / "trainids" / "train" / path.relative_to(root / SEMANTIC / "train"), table[cs.read_png(path)])
    assert gen.main(["--grad_threshold", "0.20", "--semantic_dir", str(root / "trainids" / "train"), "--depth_dir",
                     str(root / cs.DEPTH_SUBDIR / "train"), "--output_dir", str(root / "inst" / "train"),
                     "--min_area", "200"]) == 0
    assert convert.main(["--cityscapes_root", str(root), "--semantic_subdir", "trainids", "--instance_subdir", "inst",
                         "--trainid_input", "--workers", "1"]) == 0
    out = root / "cups_pseudo_labels"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["mode"] == "npz" and stats["num_classes"] == 27 and stats["thing_classes"] == list(range(17, 27))
    assert stats["target_size"] == [160, 320] and stats["instances"] > 0
    for path in sorted((root / "trainids" / "train").rglob("*.png")):
        stem = path.stem + "_leftImg8bit"
        cause = cs.TRAIN_ID_TO_CAUSE27[cs.resize_nearest(cs.read_png(path), (160, 320))]
        with np.load(root / "inst" / "train" / path.parent.name / f"{path.stem}.npz") as npz:
            masks = npz["masks"].reshape(-1, 512, 1024)
            expected = _original_npz_oracle(masks, npz["scores"], cs.resize_nearest(cause, (512, 1024)),
                                            set(range(17, 27)))
        instance = cs.read_png(out / f"{stem}_instance.png")
        assert np.array_equal(instance, cs.resize_nearest(expected, (160, 320)).astype(np.uint8))
        semantic = cs.read_png(out / f"{stem}_semantic.png")
        assert np.array_equal(semantic[instance == 0], cause[instance == 0])
        kept, dropped = cups_instances(out, stem, set(range(17, 27)))
        assert not dropped and len(kept) == len(np.unique(instance[instance > 0]))
        assert torch.load(out / f"{stem}.pt", weights_only=True)["distribution all pixels"].shape == (27,)


def test_threshold_interval_is_empty_when_a_stuff_class_outranks_a_thing() -> None:
    inside = np.array([0, 50, 10, 0, 40], np.float64)
    everywhere = np.array([1000, 100, 100, 500, 50], np.float64)
    ok = cups_labels.threshold_interval(inside, everywhere, (1, 4))
    assert ok.things == (1, 4) and ok.low is not None and ok.low < ok.suggested < ok.high
    assert cups_labels.thing_classes(inside, everywhere, ok.suggested) == (1, 4)
    bad = cups_labels.threshold_interval(inside, everywhere, (2, 4))  # class 1 (stuff here) ranks above thing 2
    assert bad.suggested is None and bad.outranked_by == (1,)
    unreachable = cups_labels.threshold_interval(inside, everywhere, (1, 3, 4))
    assert unreachable.unreachable == (3,) and unreachable.things == (1, 4)


# --------------------------------------------------------------------------- the original command lines

ORIGINAL = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "original_cups_cli.json").read_text())
ORIGINAL_FLAGS = ORIGINAL["scripts"]["convert_to_cups_format.py"]["flags"]  # checked: tests/test_original_copies.py
CHANGED_DEFAULTS = {"--target_h", "--target_w", "--num_classes"}  # README "Differences from the original scripts"


@pytest.mark.parametrize("flag", ORIGINAL_FLAGS, ids=lambda f: f["flag"])
def test_every_original_flag_parses_with_its_default_and_choices(flag: dict) -> None:
    parser = convert.build_parser()
    action = next(a for a in parser._actions if flag["flag"] in a.option_strings)
    assert action.required == flag["required"]
    if flag["action"] == "store_true":
        assert action.const is True and not action.default
    elif flag["flag"] in CHANGED_DEFAULTS:
        assert action.default is None  # computed: see the README's table
    else:  # paths are Path objects here, str in the original
        assert action.default == flag["default"] or str(action.default) == str(flag["default"])
    for choice in flag["choices"] or []:
        assert str(getattr(parser.parse_args(["--cityscapes_root", "R", flag["flag"], str(choice)]),
                           action.dest)) == str(choice)


def test_the_changed_defaults_are_listed_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "docs" / "differences.md").read_text()
    assert "| default `--target_h/--target_w` | 1024x2048 |" in readme and "| `--num_classes` default | 27 |" in readme


@pytest.fixture(scope="module")
def original_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folders the documented commands name, on synthetic 256x512 train images."""
    root = tmp_path_factory.mktemp("original")
    for k in (50, 80, 100):
        write_dataset(root, "train", num_images=2, seed=3, size=(256, 512), num_clusters=k, show_progress=False)
    with np.load(root / "pseudo_semantic_raw_k100" / "kmeans_centroids.npz") as npz:
        table = npz["cluster_to_class"]
    for path in sorted((root / "pseudo_semantic_raw_k100" / "train").rglob("*.png")):
        relative = path.relative_to(root / "pseudo_semantic_raw_k100")
        train_ids = table[cs.read_png(path)]
        write_png(root / "pseudo_semantic_mapped_k100" / relative, train_ids)
        write_png(root / "pseudo_semantic_cause_crf" / relative, cs.TRAIN_ID_TO_CAUSE27[train_ids])
    assert gen.main(["--grad_threshold", "0.20", "--semantic_dir", str(root / "pseudo_semantic_mapped_k100" / "train"), "--depth_dir",
                     str(root / cs.DEPTH_SUBDIR / "train"), "--output_dir",
                     str(root / "sweep_instances" / "gt0.10_ma500" / "train"), "--grad_threshold", "0.10",
                     "--min_area", "500"]) == 0
    return root


@pytest.mark.parametrize("command", ORIGINAL["commands"], ids=lambda c: c["id"])
def test_the_documented_original_commands_run(command: dict, original_root: Path) -> None:
    argv = [a.replace("{ROOT}", str(original_root)) for a in command["argv"]]
    assert convert.main([*argv, "--workers", "1"]) == 0
    for pattern in command["writes"]:
        assert len(list(original_root.glob(pattern))) == 2, pattern
    out = original_root / argv[argv.index("--output_subdir") + 1]
    stats = json.loads((out / "stats.json").read_text())
    things = set(stats["cups_thing_stuff_threshold"]["thing_classes"])
    for pt in out.glob("*.pt"):  # whatever CUPS keeps, it keeps with the intended classes
        kept, dropped = cups_instances(out, pt.name[: -len(".pt")], things)
        assert not dropped and set(kept.values()) <= things
    if "--instance_subdir" in argv:
        assert stats["mode"] == "npz" and stats["num_classes"] == 27 and stats["instances"] > 0


def test_a_smaller_rerun_is_ours_and_overwrite_removes_what_it_does_not_rewrite(train: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(train, root, ignore=shutil.ignore_patterns("cups_pseudo_labels"))
    assert _export(root, "--output_subdir", "smaller") == 0
    assert len(list((root / "smaller").glob("*.pt"))) == 3
    assert _export(root, "--output_subdir", "smaller", "--limit", "2") == 0  # its own files are not "unrelated"
    assert _export(root, "--output_subdir", "smaller", "--limit", "2", "--overwrite") == 0
    stats = json.loads((root / "smaller" / "stats.json").read_text())
    assert len(list((root / "smaller").glob("*.pt"))) == 2 == stats["pt_files_in_folder"] == stats["images"]
    assert len(list((root / "smaller").glob("*_semantic.png"))) == 2


def test_the_default_size_of_an_odd_image_is_what_cups_scales_it_to() -> None:
    from pseudo_labels.export.cups import default_target, label_scale

    assert default_target((513, 1025)) == (320, 640)  # F.interpolate floors 320.6 and 640.6
    assert label_scale((513, 1025), (320, 640)) == 0.625
    assert label_scale((256, 512), (160, 321)) == 321 / 512  # DATA.SCALE 0.626953125 gives exactly 160x321


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torchvision 0.29 deprecates its decoders; CUPS pins 0.16
def test_cups_image_layout_is_links_that_torchvision_reads(tmp_path: Path) -> None:
    from torchvision.io import ImageReadMode, read_image

    from pseudo_labels.core.errors import InputError
    from pseudo_labels.data.frames import FolderLayout, cityscapes_names
    from pseudo_labels.export.cups import image_link, link_images

    photos = tmp_path / "dashcam"
    (photos / "day").mkdir(parents=True)
    Image.fromarray(np.full((40, 60, 3), 200, np.uint8)).save(photos / "day" / "a.jpg")
    Image.fromarray(np.full((30, 50, 3), 10, np.uint8)).save(photos / "b.png")
    frames = FolderLayout().frames(photos, "train")
    names = cityscapes_names(list(frames))
    root = tmp_path / "cups_root"
    assert link_images(frames, names, root) == 2 and link_images(frames, names, root) == 0  # kept when current
    link = image_link(root, "train", names["day/a"])
    assert link == root / "leftImg8bit_sequence" / "train" / "day" / "day_000000_000000_leftImg8bit.png"
    assert link.is_symlink() and Path(os.readlink(link)) == (photos / "day" / "a.jpg").resolve()
    assert read_image(str(link), ImageReadMode.RGB).shape == (3, 40, 60)  # a JPEG behind a .png name, as CUPS reads
    other = image_link(root, "train", names["b"])
    other.unlink()
    other.write_bytes(b"someone's file")
    with pytest.raises(InputError, match="already there and not a link"):
        link_images(frames, names, root)
    assert link_images(frames, names, root, overwrite=True) == 1 and other.is_symlink()
