"""Label-free thing/stuff statistics and the label-free path to CUPS labels with gtFine absent."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pseudo_labels import cityscapes as cs
from pseudo_labels import classify_stuff_things as classify
from pseudo_labels import convert_to_cups_format as cups
from pseudo_labels import generate_depth_guided_instances as gen
from pseudo_labels import stuff_things
from pseudo_labels.synthetic import write_dataset


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
    from pseudo_labels.errors import InputError
    from pseudo_labels.export import read_stuff_things

    with pytest.raises(InputError, match=r"thing_ids \[99\] are outside 0..79"):
        read_stuff_things(tmp_path / "s.json", 80)
