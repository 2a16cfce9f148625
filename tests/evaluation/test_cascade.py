"""The cascade evaluator: on the instance tool's output it reproduces the sweep's numbers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pseudo_labels.cli import instances as gen
from pseudo_labels.cli import remap_clusters as remap
from pseudo_labels.cli import sweep as sweep_cli
from pseudo_labels.cli import evaluate_cascade as cascade
from pseudo_labels.evaluation.semantic import confusion, semantic_scores

RAW = "pseudo_semantic_raw_k24"


@pytest.fixture(scope="module")
def prepared(synthetic_val: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cascade") / "data"
    shutil.copytree(synthetic_val, root)
    centroids = root / RAW / "kmeans_centroids.npz"
    assert remap.main(["--input_dir", str(root / RAW / "val"), "--output_dir", str(root / "trainid" / "val"),
                       "--centroids_path", str(centroids)]) == 0
    assert gen.main(["--grad_threshold", "0.20", "--semantic_dir", str(root / RAW / "val"), "--depth_dir", str(root / "depth_spidepth" / "val"),
                     "--output_dir", str(root / "inst" / "val"), "--centroids_path", str(centroids),
                     "--grad_threshold", "0.1", "--min_area", "200"]) == 0
    return root


def test_maskcut_mode_on_instance_tool_output_equals_the_sweep(prepared: Path, tmp_path: Path) -> None:
    out = tmp_path / "cascade.json"
    assert cascade.main(["--cityscapes_root", str(prepared), "--split", "val", "--semantic_subdir", "trainid", "--instance_subdir", "inst",
                         "--thing_mode", "maskcut", "--output", str(out)]) == 0
    result = json.loads(out.read_text())
    assert sweep_cli.main(["--cityscapes_root", str(prepared), "--semantic_subdir", RAW, "--grad_thresholds", "0.1",
                           "--min_areas", "200", "--no_cc_baseline", "--workers", "1",
                           "--output", str(tmp_path / "sweep.json")]) == 0
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    for protocol in ("reference", "official"):
        entry = next(e for e in sweep["results"] if e["protocol"] == protocol)
        for metric in ("PQ", "PQ_stuff", "PQ_things", "SQ", "RQ"):
            assert result[f"panoptic_{protocol}"][metric] == pytest.approx(entry[metric], abs=1e-9), (protocol, metric)
    assert 50 < result["semantic"]["mIoU"] <= 100


def test_connected_components_mode_equals_the_cc_baseline(prepared: Path, tmp_path: Path) -> None:
    out = tmp_path / "cc.json"
    assert cascade.main(["--cityscapes_root", str(prepared), "--split", "val", "--semantic_subdir", "trainid", "--output", str(out)]) == 0
    assert sweep_cli.main(["--cityscapes_root", str(prepared), "--semantic_subdir", RAW, "--grad_thresholds", "0.1",
                           "--min_areas", "200", "--workers", "1", "--protocol", "reference",
                           "--output", str(tmp_path / "sweep.json")]) == 0
    cc = json.loads((tmp_path / "sweep.json").read_text())["results"][0]
    assert cc["mode"] == "cc_only"
    assert json.loads(out.read_text())["panoptic_reference"]["PQ"] == pytest.approx(cc["PQ"], abs=1e-9)


def test_raw_cluster_ids_are_refused(prepared: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cascade.main(["--cityscapes_root", str(prepared), "--split", "val", "--semantic_subdir", RAW])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "is not a trainId" in err


def test_confusion_and_miou_by_hand() -> None:
    gt = np.array([[0, 0, 1, 255]], np.uint8)
    pred = np.array([[0, 1, 1, 1]], np.uint8)
    scores = semantic_scores(confusion(pred, gt))
    assert scores["per_class_IoU"] == {"road": 50.0, "sidewalk": 50.0} and scores["mIoU"] == 50.0


def test_hybrid_without_masks_equals_connected_components(prepared: Path, tmp_path: Path) -> None:
    """Hybrid = masks, then components of uncovered thing pixels: with no masks at all it is the CC mode."""
    from pseudo_labels.data import cityscapes as cs
    from pseudo_labels.core.fileio import write_npz

    for key in cs.output_paths(prepared / "trainid", "val", ".png"):
        write_npz(cs.output_path(prepared / "empty", "val", key, ".npz"),
                  {"masks": np.zeros((0, 8), bool), "num_valid": np.int64(0), "h_patches": np.int64(2),
                   "w_patches": np.int64(4)})
    results = {}
    for mode, extra in (("connected_components", []), ("hybrid", ["--instance_subdir", "empty"]),
                        ("maskcut", ["--instance_subdir", "inst"]), ("hybrid_inst", ["--instance_subdir", "inst"])):
        out = tmp_path / f"{mode}.json"
        assert cascade.main(["--cityscapes_root", str(prepared), "--split", "val", "--semantic_subdir", "trainid", "--thing_mode",
                             mode.replace("_inst", ""), *extra, "--output", str(out)]) == 0
        results[mode] = json.loads(out.read_text())
    for protocol in ("reference", "official"):
        cc, hybrid = results["connected_components"][f"panoptic_{protocol}"], results["hybrid"][f"panoptic_{protocol}"]
        for metric in ("PQ", "PQ_stuff", "PQ_things", "SQ", "RQ"):
            assert hybrid[metric] == pytest.approx(cc[metric], abs=1e-12), (protocol, metric)
        assert hybrid["per_class"] == cc["per_class"]
        # the instance tool leaves thing pixels uncovered (small pieces); hybrid turns them into segments
        assert results["hybrid_inst"][f"panoptic_{protocol}"]["PQ"] != results["maskcut"][f"panoptic_{protocol}"]["PQ"]
    assert results["hybrid"]["instance"]["avg_pred_instances"] == 0


def test_original_defaults_and_skip_flags(prepared: Path, tmp_path: Path) -> None:
    """The original's defaults (train split, its folder names, output beside the root) and --skip_* flags."""
    args = cascade.build_parser().parse_args(["--cityscapes_root", "R"])
    assert (args.split, args.semantic_subdir, args.instance_subdir, list(args.eval_size)) == (
        "train", "pseudo_semantic_dinov3", "pseudo_instance", [512, 1024])
    base = ["--cityscapes_root", str(prepared), "--split", "val", "--semantic_subdir", "trainid"]
    assert cascade.main([*base, "--instance_subdir", "inst"]) == 0  # cc mode: the masks are scored too
    everything = json.loads((prepared / "eval_cascade_val.json").read_text())
    assert {"semantic", "panoptic_reference", "panoptic_official", "instance"} <= set(everything)
    for flag, gone in (("--skip_semantic", "semantic"), ("--skip_instance", "instance"),
                       ("--skip_panoptic", "panoptic_reference")):
        out = tmp_path / f"{flag}.json"
        assert cascade.main([*base, "--instance_subdir", "inst", "--thing_mode", "maskcut", flag,
                             "--output", str(out)]) == 0
        result = json.loads(out.read_text())
        assert gone not in result and len(set(result) & {"semantic", "instance", "panoptic_official"}) >= 1
    assert cascade.main([*base, "--output", str(tmp_path / "none.json")]) == 0  # no pseudo_instance folder: no scores
    assert "instance" not in json.loads((tmp_path / "none.json").read_text())
