"""Training labels: CUPS export and per-image instances equal what the sweep evaluates; bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.cli import cups
from pseudo_labels.export import training as export
from pseudo_labels.instances import painting
from pseudo_labels.instances.units import MERGED_THINGS, decide_units
from pseudo_labels.instances.settings import SplitSettings
from pseudo_labels.instances.splitting import split
from pseudo_labels.cli import instances as gen
from pseudo_labels.instances import splitting as inst
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.core.fileio import write_png
from pseudo_labels.data.synthetic import write_dataset

K = 30
SEMANTIC = f"pseudo_semantic_raw_k{K}"


@pytest.fixture(scope="module")
def train(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train")
    write_dataset(root, "train", num_images=3, seed=9, size=(256, 512), num_clusters=K, show_progress=False)
    return root


def _cups(root: Path, *extra: str) -> int:
    return cups.main(["--cityscapes_root", str(root), "--split", "train", "--semantic_subdir", SEMANTIC,
                      "--centroids_path", str(root / SEMANTIC / "kmeans_centroids.npz"), "--min_instance_area", "200",
                      "--target_h", "320", "--target_w", "640", "--depth_instances", *extra])


def _evaluated_instance_map(root: Path, key: str, tau: float, min_area: int) -> np.ndarray:
    """The painted thing segments the sweep's reference protocol scores, as an id map (0 = none)."""
    with np.load(root / SEMANTIC / "kmeans_centroids.npz") as npz:
        table = npz["cluster_to_class"]
    semantic = table[cs.resize_nearest(cs.read_png(root / SEMANTIC / "train" / f"{key}.png"), (512, 1024))]
    depth = np.load(root / cs.DEPTH_SUBDIR / "train" / f"{key}.npy")
    depth = cs.resize_bilinear(depth, (512, 1024))
    found = inst.split_instances(semantic, inst.depth_gradient(depth), tau, min_area)
    segments = pan.predicted_segments(semantic, found, pan.STUFF_MIN_AREA, pan.THING_MIN_AREA)
    things = cs.IS_THING[segments.classes][segments.ids] & (segments.ids > 0)
    first_thing = segments.ids[things].min() if things.any() else 0
    return np.where(things, segments.ids - first_thing + 1, 0)


def test_cups_export_round_trips_and_equals_the_evaluated_instances(train: Path) -> None:
    assert _cups(train) == 0
    out = train / "cups_pseudo_labels"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["images"] == 3 and stats["num_classes"] == K and stats["mode"] == "depth"
    for key in cs.output_paths(train / SEMANTIC, "train", ".png"):
        stem = key.split("/")[1] + "_leftImg8bit"
        semantic = cs.read_png(out / f"{stem}_semantic.png")
        instance = cs.read_png(out / f"{stem}_instance.png")
        assert semantic.shape == instance.shape == (320, 640) and instance.dtype == np.uint8
        expected = _evaluated_instance_map(train, key, 0.20, 200)
        assert np.array_equal(instance, cs.resize_nearest(expected.astype(np.uint8), (320, 640)))
        raw = cs.read_png(train / SEMANTIC / "train" / f"{key}.png")
        outside = instance == 0  # under the instances: each instance's majority cluster (tests/test_cups.py)
        assert np.array_equal(semantic[outside], cs.resize_nearest(raw, (320, 640))[outside])
        dist = torch.load(out / f"{stem}.pt", weights_only=True)
        assert dist["distribution all pixels"].dtype == torch.float32 and len(dist["distribution all pixels"]) == K
        assert np.array_equal(dist["distribution all pixels"].numpy(), np.bincount(semantic.ravel(), minlength=K)[:K])
        inside = np.bincount(semantic[instance > 0].ravel(), minlength=K)[:K]
        assert np.array_equal(dist["distribution inside object proposals"].numpy(), inside)
    assert stats["instances"] > 0


def test_reruns_are_byte_identical(train: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(train, root, ignore=shutil.ignore_patterns("cups_pseudo_labels"))
    assert _cups(root) == 0
    first = {p.name: p.read_bytes() for p in (root / "cups_pseudo_labels").iterdir() if p.name != "manifest.json"}
    assert _cups(root) == 0
    second = {p.name: p.read_bytes() for p in (root / "cups_pseudo_labels").iterdir() if p.name != "manifest.json"}
    assert first == second and len(first) == 3 * 3 + 1


def test_depth_guided_instances_layout(train: Path, tmp_path: Path) -> None:
    out = tmp_path / "inst"
    assert gen.main(["--grad_threshold", "0.20", "--semantic_dir", str(train / SEMANTIC / "train"), "--depth_dir", str(train / cs.DEPTH_SUBDIR / "train"),
                     "--output_dir", str(out), "--centroids_path", str(train / SEMANTIC / "kmeans_centroids.npz"),
                     "--min_area", "200", "--instance_png", "evaluated"]) == 0
    key = next(iter(cs.output_paths(train / SEMANTIC, "train", ".png")))
    with np.load(out / f"{key}.npz") as npz:
        masks, classes, painted = npz["masks"], npz["classes"], npz["painted"]
        assert masks.shape == (int(npz["num_valid"]), 512 * 1024) and int(npz["h_patches"]) == 512
        assert npz["scores"].max() == 1.0 and set(classes.tolist()) <= set(range(11, 19))
    instance = cs.read_png(out / f"{key}_instance.png")
    assert np.array_equal(instance, _evaluated_instance_map(train, key, 0.20, 200))
    for new_id, index in enumerate(painted, start=1):  # the PNG's id j is a part of mask painted[j-1]
        assert masks[index].reshape(512, 1024)[instance == new_id].all()
    assert json.loads((out / "stats.json").read_text())["total_images"] == 3


def _expect_exit_2(capsys: pytest.CaptureFixture[str], function, argv: list[str]) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as info:
        function(argv)
    assert info.value.code == 2
    return capsys.readouterr().err


def test_bad_input(train: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "bad"
    shutil.copytree(train, root, ignore=shutil.ignore_patterns("cups_pseudo_labels"))
    base = ["--cityscapes_root", str(root), "--split", "train", "--semantic_subdir", SEMANTIC, "--depth_instances"]
    err = _expect_exit_2(capsys, cups.main, base[:-1])
    assert "instance file(s) missing" in err and "--depth_instances" in err
    err = _expect_exit_2(capsys, cups.main, base)
    assert "raw cluster ids" in err and "--centroids_path" in err and "--stuff_things" in err
    (root / "things.json").write_text(json.dumps({"thing_ids": [3, K + 4]}))
    err = _expect_exit_2(capsys, cups.main, base + ["--stuff_things", str(root / "things.json"), "--centroids_path",
                                                   str(root / SEMANTIC / "kmeans_centroids.npz")])
    assert "things.json" in err and f"[{K + 4}]" in err
    next((root / cs.DEPTH_SUBDIR / "train").rglob("*.npy")).unlink()
    err = _expect_exit_2(capsys, cups.main, base + ["--centroids_path", str(root / SEMANTIC / "kmeans_centroids.npz")])
    assert "1 depth map(s) missing" in err and "--skip_missing" in err
    assert _cups(root, "--skip_missing") == 0
    assert json.loads((root / "cups_pseudo_labels" / "stats.json").read_text())["images"] == 2
    (root / "cups_pseudo_labels" / "model_weights.pth").write_bytes(b"x")
    err = _expect_exit_2(capsys, cups.main, base + ["--centroids_path", str(root / SEMANTIC / "kmeans_centroids.npz"),
                                                   "--skip_missing"])
    assert "unrelated file(s) with '.pt'" in err and "model_weights.pth" in err


def test_label_free_units_merge_the_thing_clusters(train: Path) -> None:
    key = next(iter(cs.output_paths(train / SEMANTIC, "train", ".png")))
    semantic = cs.resize_nearest(cs.read_png(train / SEMANTIC / "train" / f"{key}.png"), (512, 1024))
    with np.load(train / SEMANTIC / "kmeans_centroids.npz") as npz:
        table = npz["cluster_to_class"]
    thing_clusters = tuple(int(c) for c in np.flatnonzero(cs.IS_THING[table]))
    things_json = train / "things.json"
    things_json.write_text(json.dumps({"thing_ids": list(thing_clusters)}))
    units = decide_units(semantic, None, things_json)
    assert units.merged and units.thing_clusters == thing_clusters and units.things == (MERGED_THINGS,)
    unit_map = units.unit_map(semantic)
    is_thing = np.isin(semantic, thing_clusters)
    assert (unit_map[is_thing] == MERGED_THINGS).all() and np.array_equal(unit_map[~is_thing], semantic[~is_thing])
    depth = cs.resize_bilinear(np.load(train / cs.DEPTH_SUBDIR / "train" / f"{key}.npy"), (512, 1024))
    found = units.named(split(unit_map, units.things, depth, SplitSettings(0.2, 200)), semantic)
    assert len(found) > 0 and set(found.classes.tolist()) <= set(thing_clusters)
    for index, mask in enumerate(found.masks()):  # the name is the majority cluster, overlaps included
        assert found.classes[index] == np.bincount(semantic[mask], minlength=256).argmax()


def test_an_object_of_two_thing_clusters_stays_one_label_free_instance(tmp_path: Path) -> None:
    semantic = np.zeros((20, 20), np.uint8)  # cluster 0: stuff
    semantic[5:15, 2:12], semantic[5:15, 12:18] = 3, 4  # one object, two touching thing clusters
    (tmp_path / "things.json").write_text(json.dumps({"thing_ids": [3, 4]}))
    units = decide_units(semantic, None, tmp_path / "things.json")
    found = units.named(split(units.unit_map(semantic), units.things, None, SplitSettings(None, 10)), semantic)
    assert len(found) == 1 and found.classes.tolist() == [3] and int(found.areas[0]) == 160
    per_cluster = split(semantic, (3, 4), None, SplitSettings(None, 10))  # the old way cut it at the cluster border
    assert len(per_cluster) == 2


def test_panoptic_pseudolabels_are_read_by_both_evaluators(synthetic_val: Path, tmp_path: Path) -> None:
    import contextlib
    import io

    from cityscapesscripts.evaluation.evalPanopticSemanticLabeling import evaluatePanoptic
    from cityscapesscripts.preparation.createPanopticImgs import convert2panoptic

    from pseudo_labels.cli import panoptic as gp
    from pseudo_labels.export.cityscapes_panoptic import read_prediction
    from pseudo_labels.cli.evaluate_panoptic import evaluate

    root = tmp_path / "data"
    shutil.copytree(synthetic_val, root)
    assert gp.main(["--cityscapes_root", str(root), "--split", "val", "--semantic_subdir", "pseudo_semantic_raw_k24",
                    "--centroids_path", str(root / "pseudo_semantic_raw_k24" / "kmeans_centroids.npz"),
                    "--min_area", "100", "--target_h", "256", "--target_w", "512"]) == 0
    out = root / "panoptic_pseudolabels"
    data = json.loads((out / "val.json").read_text())
    assert len(data["annotations"]) == 3 and all(s["iscrowd"] == 0 for a in data["annotations"] for s in a["segments_info"])
    entry = data["annotations"][0]
    segments = read_prediction(out / "val" / entry["file_name"], entry)
    array = np.load(out / "val" / f"{entry['image_id']}_panoptic.npy")
    assert array.dtype == np.int32 and array.shape == (256, 512)
    assert np.array_equal(np.where(array >= 0, array // 1000, 255), segments.classes[segments.ids])
    is_instance = (array >= 0) & (array % 1000 > 0)
    assert np.array_equal(is_instance, cs.IS_THING[segments.classes[segments.ids]] & (segments.ids > 0))
    ours = evaluate(root, "val", out / "val.json", out / "val", workers=1, show_progress=False)
    with contextlib.redirect_stdout(io.StringIO()):
        convert2panoptic(str(root / "gtFine"), str(tmp_path), setNames=["val"])
        theirs = evaluatePanoptic(str(tmp_path / "cityscapes_panoptic_val.json"), str(tmp_path / "cityscapes_panoptic_val"),
                                  str(out / "val.json"), str(out / "val"), str(tmp_path / "r.json"))
    assert abs(ours["PQ"] / 100 - theirs["All"]["pq"]) < 1e-9 and ours["PQ"] > 20


def test_panoptic_export_scores_what_the_sweep_official_row_says(synthetic_val: Path, tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """By default the export is the official protocol's prediction: both evaluations give one PQ."""
    from pseudo_labels.cli import panoptic as gp
    from pseudo_labels.cli import sweep as sweep_k50_spidepth
    from pseudo_labels.cli.evaluate_panoptic import evaluate

    root = tmp_path / "data"
    shutil.copytree(synthetic_val, root)
    raw = "pseudo_semantic_raw_k24"
    centroids = str(root / raw / "kmeans_centroids.npz")
    with np.load(centroids) as npz:
        table = npz["cluster_to_class"]
    first = sorted((root / raw / "val").rglob("*.png"))[0]
    clusters = cs.read_png(first)
    absent = [c for c in range(len(table)) if table[c] in cs.STUFF_TRAIN_IDS and table[c] not in table[clusters]]
    clusters[5, 5] = absent[0]  # one pixel of a stuff class the image lacks: 16 px at 512x1024
    write_png(first, clusters)
    assert sweep_k50_spidepth.main(["--cityscapes_root", str(root), "--semantic_subdir", raw, "--grad_thresholds",
                                    "0.2", "--min_areas", "100", "--no_cc_baseline", "--protocol", "official",
                                    "--workers", "1", "--output", str(tmp_path / "sweep.json")]) == 0
    row = json.loads((tmp_path / "sweep.json").read_text())["results"][0]
    scores = {}
    for name, extra in (("official", []), ("reference", ["--min_stuff_area", "64", "--min_new_pixels", "10"])):
        assert gp.main(["--cityscapes_root", str(root), "--split", "val", "--semantic_subdir", raw, "--centroids_path",
                        centroids, "--min_area", "100", "--target_h", "256", "--target_w", "512", "--workers", "1",
                        "--output_subdir", name, *extra]) == 0
        scores[name] = evaluate(root, "val", root / name / "val.json", root / name / "val", workers=1,
                                show_progress=False)["PQ"]
    assert abs(scores["official"] - row["PQ"]) < 1e-9
    assert scores["reference"] != scores["official"]  # the 64-px stuff filter drops small stuff segments
    assert "resized" not in caplog.text
    assert gp.main(["--cityscapes_root", str(root), "--split", "val", "--semantic_subdir", raw, "--centroids_path",
                    centroids, "--target_h", "128", "--target_w", "256", "--workers", "1", "--output_subdir", "small"]) == 0
    evaluate(root, "val", root / "small" / "val.json", root / "small" / "val", workers=1, show_progress=False)
    assert "3 of 3 predictions are not at the GT's size (e.g. 128x256) and were resized" in caplog.text


def _legacy_oracle(clusters: np.ndarray, things: tuple[int, ...], depth: np.ndarray, tau: float, min_area: int) -> np.ndarray:
    """The original exporter, mask by mask: per thing cluster, components by size, dilate, reclaim, later wins."""
    from scipy import ndimage

    normalised = (depth - depth.min()) / (depth.max() - depth.min())
    edges = inst.depth_gradient(normalised) > tau
    out = np.zeros(clusters.shape, np.uint16)
    taken = np.zeros(clusters.shape, bool)
    next_id = 1
    for cluster in sorted(things):
        mask = clusters == cluster
        if mask.sum() < min_area:
            continue
        labels, count = ndimage.label(mask & ~edges)
        components = sorted((labels == i for i in range(1, count + 1)), key=lambda m: -int(m.sum()))
        for component in components:
            if component.sum() < min_area:
                continue
            grown = ndimage.binary_dilation(component, iterations=3)
            final = component | (grown & mask & ~taken)
            taken |= final
            out[final] = next_id
            next_id += 1
    return out


def test_legacy_split_matches_its_oracle_and_is_deterministic(train: Path, tmp_path: Path) -> None:
    key = next(iter(cs.output_paths(train / SEMANTIC, "train", ".png")))
    clusters = cs.resize_nearest(cs.read_png(train / SEMANTIC / "train" / f"{key}.png"), (256, 512))
    with np.load(train / SEMANTIC / "kmeans_centroids.npz") as npz:
        things = tuple(int(c) for c in np.flatnonzero(cs.IS_THING[npz["cluster_to_class"]]))
    depth = cs.resize_bilinear(np.load(train / cs.DEPTH_SUBDIR / "train" / f"{key}.npy"), (256, 512))
    legacy = export.legacy_instance_map(clusters, things, depth, SplitSettings(0.2, 100))
    assert np.array_equal(legacy, _legacy_oracle(clusters, things, depth, 0.2, 100)) and legacy.max() > 0
    root = tmp_path / "copy"
    shutil.copytree(train, root, ignore=shutil.ignore_patterns("cups_pseudo_labels"))
    runs = []
    for _ in range(2):
        assert _cups(root, "--legacy_cluster_split", "--output_subdir", "legacy") == 0
        runs.append({p.name: p.read_bytes() for p in (root / "legacy").iterdir() if p.name != "manifest.json"})
    assert runs[0] == runs[1]
    legacy_stats = json.loads((root / "legacy" / "stats.json").read_text())
    assert _cups(root, "--output_subdir", "evaluated") == 0
    evaluated_stats = json.loads((root / "evaluated" / "stats.json").read_text())
    assert legacy_stats["mode"] == "legacy_depth" and legacy_stats["instances"] > evaluated_stats["instances"]


def test_more_than_65535_instances_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from pseudo_labels.core.errors import InputError

    semantic = np.zeros((4, 8), np.uint8)
    semantic[:, ::2] = 13  # four 1-px-wide car stripes
    found = inst.cc_instances(semantic, min_area=1)
    monkeypatch.setattr(painting, "MAX_INSTANCES", 3)
    with pytest.raises(InputError, match="4 instances do not fit a uint16 instance map"):
        painting.instance_id_map(found, min_new_pixels=1)


def test_cups_shards_and_workers_write_what_one_process_writes(train: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(train, root, ignore=shutil.ignore_patterns("cups_pseudo_labels"))
    assert _cups(root, "--output_subdir", "whole", "--workers", "1") == 0
    for index in range(2):  # and two worker processes per shard
        assert _cups(root, "--output_subdir", "parts", "--num_shards", "2", "--shard_index", str(index),
                     "--workers", "2") == 0
    whole = {p.name: p.read_bytes() for p in (root / "whole").glob("*_leftImg8bit*")}
    parts = {p.name: p.read_bytes() for p in (root / "parts").glob("*_leftImg8bit*")}
    assert whole == parts and len(whole) == 9
    stats = [json.loads((root / "parts" / f"stats.shard-{i}-of-2.json").read_text())["images"] for i in range(2)]
    assert sorted(stats) == [1, 2]


def test_instance_workers_write_what_one_process_writes(train: Path, tmp_path: Path) -> None:
    runs = {}
    for workers in ("1", "2"):
        out = tmp_path / workers
        assert gen.main(["--grad_threshold", "0.20", "--semantic_dir", str(train / SEMANTIC / "train"), "--depth_dir",
                         str(train / cs.DEPTH_SUBDIR / "train"), "--output_dir", str(out), "--centroids_path",
                         str(train / SEMANTIC / "kmeans_centroids.npz"), "--min_area", "200", "--workers", workers]) == 0
        runs[workers] = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*")
                         if p.is_file() and "manifest" not in p.name}
    assert runs["1"] == runs["2"] and len(runs["1"]) == 3 * 2 + 1


def test_panoptic_shards_merge_into_the_single_run(synthetic_val: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from pseudo_labels.cli import panoptic as gp

    root = tmp_path / "data"
    shutil.copytree(synthetic_val, root)
    base = ["--cityscapes_root", str(root), "--split", "val", "--semantic_subdir", "pseudo_semantic_raw_k24",
            "--centroids_path", str(root / "pseudo_semantic_raw_k24" / "kmeans_centroids.npz"), "--min_area", "100",
            "--target_h", "256", "--target_w", "512"]
    assert gp.main([*base, "--output_subdir", "whole", "--workers", "1"]) == 0
    for index in range(2):
        assert gp.main([*base, "--output_subdir", "parts", "--num_shards", "2", "--shard_index", str(index),
                        "--workers", "2"]) == 0
    shards = sorted((root / "parts").glob("val.shard-*-of-2.json"))
    assert len(shards) == 2
    with pytest.raises(SystemExit) as info:  # one shard short
        gp.main(["merge", str(shards[0])])
    assert info.value.code == 2 and "expected shards 0..1, got [0]" in capsys.readouterr().err
    assert gp.main(["merge", *map(str, shards)]) == 0

    def outputs(folder: Path) -> dict[str, bytes]:
        return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*")
                if p.is_file() and "manifest" not in p.name and ".shard-" not in p.name}

    whole, parts = outputs(root / "whole"), outputs(root / "parts")
    assert whole == parts and len(whole) == 1 + 3 * 2
    for index in range(4):  # more shards than images: the empty shard is written and merged
        assert gp.main([*base, "--output_subdir", "many", "--num_shards", "4", "--shard_index", str(index),
                        "--workers", "1"]) == 0
    assert gp.main(["merge", *map(str, sorted((root / "many").glob("val.shard-*-of-4.json")))]) == 0
    assert outputs(root / "many") == whole


def test_a_thousand_instances_of_a_class_do_not_fit_the_panoptic_ids() -> None:
    from pseudo_labels.evaluation import panoptic as pan
    from pseudo_labels.core.errors import InputError
    from pseudo_labels.export.panoptic_export import class_instance_array

    def cars(count: int) -> pan.Segments:
        ids = np.arange(1, count + 1, dtype=np.int32).reshape(1, count)
        return pan.segments_from_ids(ids, [13] * count)

    values = class_instance_array(cars(999))
    assert values.max() == 13 * 1000 + 999 and len(np.unique(values)) == 999
    with pytest.raises(InputError, match="img.png: 1000 instances of car do not fit"):
        class_instance_array(cars(1000), "img.png")


def test_train_id_maps_with_void_are_train_ids_for_every_stage(train: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """TrainIds with void 255 (what the CAUSE-27 remap writes) are trainIds, not raw cluster ids, everywhere."""
    from pseudo_labels.cli import panoptic as gp
    from pseudo_labels.core.errors import InputError
    from pseudo_labels.instances.units import largest_class_id

    root = tmp_path / "root"
    shutil.copytree(train / cs.DEPTH_SUBDIR, root / cs.DEPTH_SUBDIR)
    with np.load(train / SEMANTIC / "kmeans_centroids.npz") as npz:
        table = npz["cluster_to_class"]
    for key, path in cs.output_paths(train / SEMANTIC, "train", ".png").items():
        ids = table[cs.read_png(path)]
        ids[:40] = cs.IGNORE_ID
        write_png(cs.output_path(root / "trainids", "train", key, ".png"), ids)
    first = cs.read_png(next(iter(cs.output_paths(root / "trainids", "train", ".png").values())))
    assert first.max() == cs.IGNORE_ID and largest_class_id(first) <= 18
    units = decide_units(first)  # the pictures' and exports' choice
    assert units.things == cs.THING_TRAIN_IDS and units.allows_ignore
    assert gen.main(["--semantic_dir", str(root / "trainids" / "train"), "--depth_dir",
                     str(root / cs.DEPTH_SUBDIR / "train"), "--output_dir", str(tmp_path / "inst"),
                     "--min_area", "200"]) == 0
    assert gp.main(["--cityscapes_root", str(root), "--split", "train", "--semantic_subdir", "trainids",
                    "--min_area", "200", "--target_h", "256", "--target_w", "512", "--workers", "1"]) == 0
    annotations = json.loads((root / "panoptic_pseudolabels" / "train.json").read_text())["annotations"]
    categories = {s["category_id"] for a in annotations for s in a["segments_info"]}
    assert len(annotations) == 3 and categories <= set(cs.TRAIN_ID_TO_LABEL_ID.tolist()), categories
    first[50, :] = 19  # one id beyond the trainIds: raw cluster ids after all
    with pytest.raises(InputError, match="id 19 > 18"):
        decide_units(first)
    assert largest_class_id(np.full((2, 2), 255, np.uint16)) == 255  # 16-bit cluster maps have no void
