"""Label-free thing/stuff statistics and the label-free path to CUPS labels with gtFine absent."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.cli import stuff_things as classify
from pseudo_labels.cli import cups
from pseudo_labels.cli import instances as gen
from pseudo_labels.instances import stuff_things
from pseudo_labels.data.synthetic import write_dataset


def test_statistics_on_a_hand_made_scene() -> None:
    # cluster 0: background (road); cluster 1: two small boxes standing out in depth; cluster 2: a big flat band
    clusters = np.zeros((40, 60), np.int64)
    clusters[30:, :] = 2
    clusters[5:10, 5:10] = 1
    clusters[5:10, 40:45] = 1
    edges = np.zeros((40, 60), bool)
    edges[4:11, 4:11] = True
    edges[4:11, 39:46] = True
    edges[6:9, 6:9] = False
    edges[6:9, 41:44] = False
    statistics = stuff_things.ClusterStatistics(3)
    statistics.add(clusters, edges)
    rows = statistics.table()
    assert rows[1]["area_fraction"] == pytest.approx(50 / 2400)
    assert rows[1]["median_piece_fraction"] == pytest.approx(25 / 2400)
    assert rows[1]["edge_boundary_ratio"] == 1.0 and rows[2]["edge_boundary_ratio"] == 0.0
    decided = stuff_things.decide(statistics, stuff_things.Rule(0.05, 0.02, 0.5), 3)
    assert decided["thing_ids"] == [1] and decided["stuff_ids"] == [0, 2]
    assert "edge_boundary_ratio >= 0.5" in decided["rule"]


@pytest.fixture()
def blind_train(tmp_path: Path) -> Path:
    """A synthetic train split with raw clusters and depth, and no gtFine at all."""
    root = tmp_path / "data"
    write_dataset(root, "train", num_images=2, seed=3, size=(128, 256), num_clusters=24, show_progress=False)
    shutil.rmtree(root / "gtFine")
    (root / "pseudo_semantic_raw_k24" / "kmeans_centroids.npz").unlink()  # no majority-vote map either
    return root


def test_label_free_end_to_end_without_ground_truth(blind_train: Path, tmp_path: Path) -> None:
    root = blind_train
    assert classify.main(["--cityscapes_root", str(root), "--split", "train", "--semantic_subdir",
                          "pseudo_semantic_raw_k24", "--num_clusters", "24", "--max_area_fraction", "0.2",
                          "--max_median_piece_fraction", "0.2", "--min_edge_boundary_ratio", "0.05"]) == 0
    decision = root / "pseudo_semantic_raw_k24" / "stuff_things.json"
    record = json.loads(decision.read_text())
    assert record["thing_ids"] and set(record["thing_ids"]) | set(record["stuff_ids"]) == set(range(24))
    assert cups.main(["--cityscapes_root", str(root), "--split", "train", "--semantic_subdir", "pseudo_semantic_raw_k24",
                      "--stuff_things", str(decision), "--num_classes", "24", "--min_instance_area", "20", "--depth_instances",
                      "--target_h", "128", "--target_w", "256"]) == 0
    out = root / "cups_pseudo_labels"
    assert len(list(out.glob("*.pt"))) == 2 and json.loads((out / "stats.json").read_text())["units"].startswith("stuff_things")
    assert gen.main(["--grad_threshold", "0.20", "--semantic_dir", str(root / "pseudo_semantic_raw_k24" / "train"), "--depth_dir",
                     str(root / cs.DEPTH_SUBDIR / "train"), "--output_dir", str(tmp_path / "inst"),
                     "--stuff_things", str(decision), "--min_area", "20"]) == 0
    assert not (root / "gtFine").exists()


def test_evaluate_compares_thing_sets(synthetic_val: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "decision.json"
    assert classify.main(["--cityscapes_root", str(synthetic_val), "--split", "val", "--semantic_subdir",
                          "pseudo_semantic_raw_k24", "--output", str(output), "--evaluate", "--centroids_path",
                          str(synthetic_val / "pseudo_semantic_raw_k24" / "kmeans_centroids.npz"), "--min_area", "50"]) == 0
    evaluation = json.loads(output.read_text())["evaluation"]
    names = ("gt_things", "label_free", "label_free_per_cluster", "gt_thing_clusters_merged")
    assert {k for k in evaluation if "/" in k} == {f"{n}/{p}" for n in names for p in ("reference", "official")}
    # instances that only cover thing-class pixels leave the stuff segments as they are
    for name in ("label_free_per_cluster", "gt_thing_clusters_merged"):
        assert evaluation[f"{name}/reference"]["PQ_stuff"] == evaluation["gt_things/reference"]["PQ_stuff"]
    assert "| label_free | official |" in capsys.readouterr().out


def test_stuff_things_ids_out_of_range(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text(json.dumps({"thing_ids": [2, 99]}))
    from pseudo_labels.core.errors import InputError
    from pseudo_labels.formats.stuff_things import read_stuff_things

    with pytest.raises(InputError, match=r"thing_ids \[99\] are outside 0..79"):
        read_stuff_things(tmp_path / "s.json", 80)


# --------------------------------------------------------------------------- the original rule (depth-split ratio)

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "original"


def _two_images() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Cluster 0 background, cluster 1 a 4x8 block cut by a depth edge, cluster 2 a 2x2 block; depth +0.2 in image 2."""
    semantic = np.zeros((20, 20), np.uint8)
    semantic[2:6, 2:10], semantic[12:14, 12:14] = 1, 2
    edges = np.zeros((20, 20), bool)
    edges[2:6, 6] = True  # cuts cluster 1 in two, leaves the background connected through rows 0-1
    return [(semantic, np.full((20, 20), 0.5 + shift), edges) for shift in (0.0, 0.2)]


def test_split_ratio_statistics_on_a_hand_made_scene() -> None:
    from pseudo_labels.instances import split_ratio

    statistics = split_ratio.SplitStatistics(4)
    for image in _two_images():
        statistics.add(*image)
    rows = statistics.table()
    assert rows[1]["avg_region_count"] == 1.0 and rows[1]["avg_split_count"] == 2.0
    assert rows[1]["depth_split_ratio"] == 2.0 and rows[0]["depth_split_ratio"] == 1.0
    assert rows[1]["avg_relative_size"] == 32 / 400 and rows[1]["pixel_count"] == 64
    assert rows[1]["depth_spread"] == pytest.approx(0.1) and rows[1]["intra_depth_var"] == 0.0
    assert rows[3] == {"avg_region_count": 0.0, "avg_split_count": 0.0, "depth_split_ratio": 1.0,
                       "avg_relative_size": 0.0, "depth_spread": 0.0, "intra_depth_var": 0.0,
                       "max_region_fraction": 1.0, "pixel_count": 0}
    # the background is big stuff (91 % per region, 364 px per image > 100): forced, however it splits
    decided = split_ratio.classify(rows, n_things=1, num_images=2, big_stuff_pixels=100)
    assert decided[0] == {"label": "stuff", "score": split_ratio.FORCED_STUFF_SCORE}
    assert decided[1] == {"label": "thing", "score": 2.0} and decided[2]["label"] == "stuff"
    assert decided[3] == {"label": "stuff", "score": 0.0}
    more = split_ratio.classify(rows, n_things=5, num_images=2, big_stuff_pixels=100)
    assert [k for k, v in more.items() if v["label"] == "thing"] == [1, 2]  # never forced or absent clusters
    record = split_ratio.decision_record(rows, more)
    assert list(record) == ["classification", "statistics", "stuff_ids", "thing_ids"]
    assert record["thing_ids"] == [1, 2] and record["stuff_ids"] == [0, 3] and "1" in record["statistics"]


def test_split_ratio_ties_keep_cluster_order() -> None:
    from pseudo_labels.instances import split_ratio

    rows = {k: {"pixel_count": 10, "avg_relative_size": 0.0, "depth_split_ratio": 1.0} for k in range(4)}
    decided = split_ratio.classify(rows, n_things=2, num_images=1)  # type: ignore[arg-type]
    assert [k for k, v in decided.items() if v["label"] == "thing"] == [0, 1]


def test_split_ratio_fast_statistics_equal_the_per_mask_loop_bit_for_bit() -> None:
    from scipy import ndimage

    from pseudo_labels.instances import splitting as inst
    from pseudo_labels.instances import split_ratio

    rng = np.random.default_rng(0)
    images = []
    for _ in range(3):
        semantic = ndimage.zoom(rng.integers(0, 7, (10, 16)), 5, order=0).astype(np.uint8)
        semantic[rng.random(semantic.shape) < 0.05] = rng.integers(0, 8)  # speckle: many 1-px regions
        semantic[:3, :3] = 255  # void is not counted
        depth = ndimage.gaussian_filter(rng.random(semantic.shape), 3)
        depth = (depth - depth.min()) / (depth.max() - depth.min())
        images.append((semantic, depth, inst.depth_gradient(depth) > 0.1))
    fast = split_ratio.SplitStatistics(9)
    for image in images:
        fast.add(*image)
    assert fast.table() == split_ratio.statistics_reference(images, 9)  # == on floats: bit for bit


def _original_classify_argv(root: Path, output: Path, *extra: str) -> list[str]:
    return ["--semantic_dir", str(root / "pseudo_semantic_raw_k24" / "val"), "--depth_dir",
            str(root / cs.DEPTH_SUBDIR / "val"), "--output_path", str(output), *extra]


def test_original_interface_writes_the_original_json_byte_for_byte(synthetic_val: Path, tmp_path: Path) -> None:
    """The golden file is the original script (qbit-glitch/monocular_ups@064d182) run on this fixture."""
    output = tmp_path / "st" / "stuff_things.json"
    assert classify.main(_original_classify_argv(synthetic_val, output, "--num_classes", "24", "--n_things", "6",
                                                 "--grad_threshold", "0.1")) == 0
    assert output.read_bytes() == (GOLDEN / "stuff_things_k24.json").read_bytes()
    record = json.loads(output.read_text())
    assert record["thing_ids"] == [4, 5, 15, 17, 19, 23] and record["classification"]["18"]["score"] == -500.0


def test_original_interface_defaults_and_mode_errors(synthetic_val: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    parser = classify.build_parser()
    args = parser.parse_args(["--semantic_dir", "S", "--depth_dir", "D", "--output_path", "o.json"])
    assert (args.num_classes, args.n_things, args.max_images, args.depth_blur) == (19, 8, None, 1.0)
    output = tmp_path / "default.json"
    assert classify.main(_original_classify_argv(synthetic_val, output)) == 0  # tau 0.05, 19 clusters
    record = json.loads(output.read_text())
    assert len(record["classification"]) == 19 and len(record["thing_ids"]) == 8
    for argv in ([], ["--semantic_dir", "S", "--cityscapes_root", "R"]):
        with pytest.raises(SystemExit) as info:
            classify.main(argv)
        assert info.value.code == 2 and "--semantic_dir" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        classify.main(["--semantic_dir", str(synthetic_val / "pseudo_semantic_raw_k24" / "val")])
    assert info.value.code == 2 and "--depth_dir and --output_path" in capsys.readouterr().err


def test_original_interface_missing_depth(synthetic_val: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    depth = tmp_path / "depth"
    shutil.copytree(synthetic_val / cs.DEPTH_SUBDIR / "val", depth)
    next(depth.rglob("*.npy")).unlink()
    argv = ["--semantic_dir", str(synthetic_val / "pseudo_semantic_raw_k24" / "val"), "--depth_dir", str(depth),
            "--output_path", str(tmp_path / "o.json"), "--num_classes", "24"]
    with pytest.raises(SystemExit) as info:
        classify.main(argv)
    assert info.value.code == 2 and "1 depth map(s) missing" in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()
    assert classify.main([*argv, "--skip_missing"]) == 0 and (tmp_path / "o.json").is_file()


def test_a_guessed_k_is_blamed_not_a_centroid_file(synthetic_val: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    root = tmp_path / "root"
    shutil.copytree(synthetic_val, root)
    maps = sorted((root / "pseudo_semantic_raw_k24" / "val").rglob("*.png"))
    first = np.array(Image.open(maps[0]))
    Image.fromarray(np.minimum(first, 5).astype(np.uint8)).save(maps[0])  # the first map holds ids 0..5 only
    with pytest.raises(SystemExit) as info:
        classify.main(["--cityscapes_root", str(root), "--split", "val", "--semantic_subdir", "pseudo_semantic_raw_k24"])
    message = capsys.readouterr().err
    assert info.value.code == 2 and "guessed from" in message and "--num_clusters" in message
    assert "centroid file" not in message
