"""The sweep: grid, per-image scorer against direct evaluation and the oracle, CLI contract and bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.instances import splitting as inst
from pseudo_labels.instances.settings import SplitSettings
from pseudo_labels.evaluation import oracle
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.evaluation import sweep
from pseudo_labels.cli import sweep as cli
from pseudo_labels.core.fileio import write_npz
from pseudo_labels.formats.semantic import load_semantic
from pseudo_labels.formats.depth import load_depth
from pseudo_labels.formats.centroids import load_cluster_to_class
from pseudo_labels.instances.reference import split_instances_reference

SEMANTIC = "pseudo_semantic_raw_k24"


def test_default_grid_holds_reference_grid_and_published_best() -> None:
    grid = sweep.build_grid()
    assert not grid[0].uses_depth and grid[0].min_area == 10
    pairs = [(c.tau, c.min_area) for c in grid[1:]]
    assert len(sweep.REFERENCE_GRID) == 31 and set(sweep.REFERENCE_GRID) <= set(pairs)
    assert (0.20, 1000) in pairs and (0.15, 700) in pairs
    assert len(pairs) == len(set(pairs)) == 42 and pairs == sorted(pairs)
    assert len(sweep.build_grid([0.1, 0.2], [5, 6, 7], cc_baseline=False)) == 6
    assert len(sweep.build_grid([0.1])) == 1 + len(sweep.FALLBACK_MIN_AREAS)
    assert len(sweep.build_grid(None, [100])) == 1 + len(sweep.FALLBACK_TAUS)


def _load(root: Path, key: str, eval_size: tuple[int, int]) -> tuple[np.ndarray, ...]:
    table = load_cluster_to_class(root / SEMANTIC / "kmeans_centroids.npz")
    semantic = load_semantic(root / SEMANTIC / "val" / f"{key}.png", table, eval_size)
    depth = load_depth(root / cs.DEPTH_SUBDIR / "val" / f"{key}.npy", eval_size)
    gt = cs.load_ground_truth(cs.label_ids_paths(root, "val")[key], cs.instance_ids_paths(root, "val")[key])
    return semantic, depth, gt.train_ids, gt.instance_ids


@pytest.mark.parametrize("eval_size", [(128, 256), (96, 200)])
def test_image_evaluator_equals_direct_evaluation(synthetic_val: Path, eval_size: tuple[int, int]) -> None:
    key = next(iter(cs.label_ids_paths(synthetic_val, "val")))
    semantic, depth, gt_train, gt_instance = _load(synthetic_val, key, eval_size)
    found = inst.split_instances(semantic, inst.depth_gradient(depth), 0.1, 15)
    assert len(found) >= 2
    ref_gt = pan.reference_gt_segments(cs.resize_nearest(gt_train, eval_size), cs.resize_nearest(gt_instance, eval_size))
    ref_pred = pan.predicted_segments(semantic, found, pan.STUFF_MIN_AREA, pan.THING_MIN_AREA)
    direct = pan.match(ref_gt, ref_pred, pan.REFERENCE)
    shared = sweep.ImageEvaluator(semantic, inst.thing_pixels(semantic), ref_gt, pan.REFERENCE).stats(found)
    assert shared.counts_equal(direct) and np.allclose(shared.iou, direct.iou, rtol=0, atol=1e-12)
    off_gt = pan.official_gt_segments(gt_instance)
    off_pred = pan.predicted_segments(semantic, found, 1, 1)
    full = off_pred.resized(off_gt.ids.shape)
    direct = pan.match(off_gt, full, pan.OFFICIAL)
    shared = sweep.ImageEvaluator(semantic, inst.thing_pixels(semantic), off_gt, pan.OFFICIAL).stats(found)
    assert shared.counts_equal(direct) and np.allclose(shared.iou, direct.iou, rtol=0, atol=1e-12)


def test_sweep_equals_oracle_and_is_independent_of_workers(synthetic_val: Path) -> None:
    configs = (sweep.CC_BASELINE, SplitSettings(0.05, 20), SplitSettings(0.2, 20), SplitSettings(0.2, 21),
               SplitSettings(0.2, 300))
    params = sweep.SweepParams(configs, pan.PROTOCOLS, eval_size=(128, 256))
    labels = cs.label_ids_paths(synthetic_val, "val")
    files = [sweep.ImageFiles(k, synthetic_val / SEMANTIC / "val" / f"{k}.png",
                              synthetic_val / cs.DEPTH_SUBDIR / "val" / f"{k}.npy", p,
                              cs.instance_ids_paths(synthetic_val, "val")[k]) for k, p in labels.items()]
    table = load_cluster_to_class(synthetic_val / SEMANTIC / "kmeans_centroids.npz")
    one = sweep.run_sweep(files, table, params, workers=1, show_progress=False)
    two = sweep.run_sweep(files, table, params, workers=2, show_progress=False)
    for protocol in pan.PROTOCOLS:
        for a, b in zip(one.stats[protocol], two.stats[protocol]):
            assert a.counts_equal(b) and np.array_equal(a.iou, b.iou)
    for index, config in enumerate(configs):
        expected = pan.PanopticStats()
        for f in files:
            semantic, depth, gt_train, gt_instance = _load(synthetic_val, f.key, (128, 256))
            masks = split_instances_reference(semantic, depth if config.uses_depth else None, config.tau, config.min_area)
            expected += oracle.evaluate_image(semantic, masks, cs.resize_nearest(gt_train, (128, 256)),
                                              cs.resize_nearest(gt_instance, (128, 256)))
        got = one.stats[pan.REFERENCE][index]
        assert got.counts_equal(expected), config
        assert np.allclose(got.iou, expected.iou, rtol=0, atol=1e-9)
        assert got.tp.sum() > 0


# --------------------------------------------------------------------------- command line


def _run(root: Path, *extra: str) -> dict:
    output = root / "out.json"
    code = cli.main(["--cityscapes_root", str(root), "--semantic_subdir", SEMANTIC, "--eval_size", "128", "256",
                     "--output", str(output), "--workers", "1", *extra])
    assert code == 0
    return json.loads(output.read_text())


def test_cli_writes_reference_keys_cc_mode_and_both_protocols(synthetic_val: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record = _run(synthetic_val, "--grad_thresholds", "0.1", "0.2", "--min_areas", "50")
    assert record["k"] == 24 and record["eval_resolution"] == [128, 256] and record["n_images"] == 3
    assert record["protocols"] == ["reference", "official"]
    assert len(record["results"]) == 2 * 3
    cc = record["results"][0]
    assert cc["mode"] == "cc_only" and cc["grad_threshold"] is None and cc["min_area"] == 10
    for key in ("grad_threshold", "min_area", "PQ", "PQ_stuff", "PQ_things", "SQ", "RQ", "avg_instances", "n_images"):
        assert all(key in e for e in record["results"])
    assert all(isinstance(e["PQ"], float) for e in record["results"])
    assert set(record["best"]) == {"reference", "official"}
    assert record["inputs"]["semantic"]["count"] == 3 and len(record["inputs"]["depth"]["sha256"]) == 64
    assert (synthetic_val / "out.manifest.json").is_file()
    out = capsys.readouterr().out
    assert "| grad_thresh | min_area | inst/img | PQ | PQ_stuff | PQ_things | SQ | RQ |" in out
    assert "|    CC-only |       10 |" in out and "Best (official):" in out


def test_blur_and_dilation_flags_take_effect(synthetic_val: Path) -> None:
    base = _run(synthetic_val, "--grad_thresholds", "0.05", "--min_areas", "20", "--no_cc_baseline", "--protocol", "reference")
    blur = _run(synthetic_val, "--grad_thresholds", "0.05", "--min_areas", "20", "--no_cc_baseline", "--protocol",
                "reference", "--depth_blur_sigma", "0", "--dilation_iters", "0")
    assert len(base["results"]) == 1 and base["results"][0]["protocol"] == "reference"
    assert base["results"][0]["per_class"] != blur["results"][0]["per_class"]


def _copy(synthetic_val: Path, tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(synthetic_val, root)
    return root


def _expect_exit_2(root: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    with pytest.raises(SystemExit) as info:
        cli.main(["--cityscapes_root", str(root), "--semantic_subdir", SEMANTIC, "--eval_size", "128", "256",
                  "--workers", "1", "--grad_thresholds", "0.1", "--min_areas", "50", *extra])
    assert info.value.code == 2
    return capsys.readouterr().err


def test_missing_depth_is_listed_unless_skipped(synthetic_val: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy(synthetic_val, tmp_path)
    victim = next((root / cs.DEPTH_SUBDIR / "val").rglob("*.npy"))
    victim.unlink()
    err = _expect_exit_2(root, capsys)
    assert "1 input file(s) missing" in err and victim.name in err and "--skip_missing" in err
    record = _run(root, "--grad_thresholds", "0.1", "--min_areas", "50", "--skip_missing")
    assert record["n_images"] == 2
    # --max_images keeps the first images only
    record = _run(root, "--grad_thresholds", "0.1", "--min_areas", "50", "--skip_missing", "--max_images", "1")
    assert record["n_images"] == 1


def test_bad_inputs_exit_2_naming_the_file(synthetic_val: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy(synthetic_val, tmp_path)
    depth_path = next((root / cs.DEPTH_SUBDIR / "val").rglob("*.npy"))
    depth = np.load(depth_path)
    depth[3, 3] = np.nan
    np.save(depth_path, depth)
    err = _expect_exit_2(root, capsys)
    assert depth_path.name in err and "NaN" in err
    np.save(depth_path, np.nan_to_num(depth))

    centroids = root / SEMANTIC / "kmeans_centroids.npz"
    with np.load(centroids) as npz:
        arrays = dict(npz)
    write_npz(centroids, {"centroids": arrays["centroids"], "cluster_to_class": arrays["cluster_to_class"][:10]})
    err = _expect_exit_2(root, capsys)
    assert ">= 10 ids of the centroid file" in err and "different runs" in err
    write_npz(centroids, {"centroids": arrays["centroids"]})
    err = _expect_exit_2(root, capsys)
    assert "kmeans_centroids.npz" in err and "cluster_to_class" in err

    err = _expect_exit_2(tmp_path / "nowhere", capsys)
    assert "nowhere" in err


def test_shards_merge_into_the_single_run_json(synthetic_val: Path, tmp_path: Path) -> None:
    grid = ["--grad_thresholds", "0.1", "0.2", "--min_areas", "30", "--eval_size", "128", "256", "--workers", "1"]
    base = ["--cityscapes_root", str(synthetic_val), "--semantic_subdir", SEMANTIC, *grid]
    assert cli.main([*base, "--output", str(tmp_path / "single.json")]) == 0
    for index in range(2):
        assert cli.main([*base, "--output", str(tmp_path / "sharded.json"), "--num_shards", "2",
                         "--shard_index", str(index)]) == 0
    assert not (tmp_path / "sharded.json").exists()  # shards alone write no result
    shards = sorted(tmp_path.glob("sharded.shard-*-of-2.npz"))
    assert len(shards) == 2
    assert cli.main(["merge", *map(str, shards)]) == 0
    assert (tmp_path / "single.json").read_bytes() == (tmp_path / "sharded.json").read_bytes()
    single = json.loads((tmp_path / "single.json").read_text())
    merged = json.loads((tmp_path / "sharded.json").read_text())
    assert merged == single  # bit for bit: images are summed in the same order
    per_image = [path.with_name(f"{path.stem}.images.npz").read_bytes() for path in (tmp_path / "single.json",
                                                                                     tmp_path / "sharded.json")]
    assert per_image[0] == per_image[1]  # and the per-image statistics the report resamples


def test_merge_needs_every_shard(synthetic_val: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--cityscapes_root", str(synthetic_val), "--semantic_subdir", SEMANTIC, "--grad_thresholds", "0.1",
            "--min_areas", "30", "--eval_size", "128", "256", "--workers", "1", "--output", str(tmp_path / "s.json")]
    assert cli.main([*base, "--num_shards", "3", "--shard_index", "1"]) == 0
    with pytest.raises(SystemExit) as info:
        cli.main(["merge", str(tmp_path / "s.shard-1-of-3.npz")])
    assert info.value.code == 2 and "expected shards 0..2, got [1]" in capsys.readouterr().err
