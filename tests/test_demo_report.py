"""Demo, report and pictures: files exist, numbers come from the sweep JSON, figures are real PNGs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pseudo_labels import cityscapes as cs
from pseudo_labels import demo, drawing, report, segment_errors, visualize
from pseudo_labels import panoptic as pan
from pseudo_labels import sweep_k50_spidepth as sweep_cli


@pytest.fixture(scope="module")
def sweep_json(synthetic_val: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sweep") / "sweep.json"
    assert sweep_cli.main(["--cityscapes_root", str(synthetic_val), "--semantic_subdir", "pseudo_semantic_raw_k24",
                           "--eval_size", "128", "256", "--grad_thresholds", "0.05", "0.2", "--min_areas", "20", "50",
                           "--workers", "1", "--output", str(out)]) == 0
    return out


def test_report_numbers_and_figures(sweep_json: Path, tmp_path: Path) -> None:
    path = report.write_report(sweep_json, tmp_path / "r.md")
    text = path.read_text()
    record = json.loads(sweep_json.read_text())
    for protocol in record["protocols"]:
        best = record["best"][protocol]
        assert f"PQ {best['PQ']:.2f}, PQ_stuff {best['PQ_stuff']:.2f}" in text
        for entry in (e for e in record["results"] if e["protocol"] == protocol):
            assert f"| {entry['PQ']:.2f} | {entry['PQ_stuff']:.2f} | {entry['PQ_things']:.2f} |" in text
        for name, size in ((f"r_{protocol}_heatmap.png", (1000, 400)), (f"r_{protocol}_stuff_things.png", (600, 500))):
            image = Image.open(tmp_path / name)
            assert image.size == size and np.asarray(image).std() > 0
            assert f"]({name})" in text
    assert record["inputs"]["semantic"]["sha256"] in text
    rows = [float(m) for m in re.findall(r"^\| (?:CC-only|[\d.]+ / \d+) \| [\d.]+ \| ([\d.]+) \|", text, re.M)]
    half = len(rows) // 2
    assert rows[:half] == sorted(rows[:half], reverse=True)  # best first


def test_report_of_a_wrong_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(SystemExit) as info:
        report.main(["--sweep", str(tmp_path / "x.json"), "--out", str(tmp_path / "r.md")])
    assert info.value.code == 2 and "not a sweep result" in capsys.readouterr().err


def _visualize(root: Path, out: Path, *extra: str) -> dict:
    assert visualize.main(["--cityscapes_root", str(root), "--semantic_subdir", "pseudo_semantic_raw_k24",
                           "--min_area", "100", "--out", str(out), *extra]) == 0
    return json.loads((out / visualize.INDEX_NAME).read_text())


def test_visualize_draws_the_worst_image_with_legends(synthetic_val: Path, tmp_path: Path) -> None:
    index = _visualize(synthetic_val, tmp_path, "--select", "worst", "--limit", "1")
    assert len(index["images"]) == 3 and index["protocol"] == "reference"  # every image scored, one drawn
    drawn = [e for e in index["images"] if e["picture"]]
    assert len(drawn) == 1 and drawn[0]["PQ_things"] == min(e["PQ_things"] for e in index["images"])
    picture = np.asarray(Image.open(tmp_path / drawn[0]["picture"]))
    panels_height = 4 * (visualize.PANEL[0] + visualize.LABEL_BAR)
    assert picture.shape[1:] == (2 * visualize.PANEL[1], 3) and picture.shape[0] > panels_height + 60  # + legends
    things = picture[3 * (visualize.PANEL[0] + visualize.LABEL_BAR) + visualize.LABEL_BAR: panels_height,
                     : visualize.PANEL[1]].astype(int)
    greenish = (things[..., 1] > things[..., 0] + 40) & (things[..., 1] > things[..., 2] + 40)
    assert greenish.sum() > 100  # matched things are filled green
    counts = drawn[0]["things"]
    assert counts["FP"] + counts["split"] + counts["merge"] > 0  # the synthetic prediction does err


def test_error_overlay_shows_false_positives_and_keeps_misses_visible() -> None:
    gt = pan.segments_from_ids(np.array([[1] * 8 + [0] * 8] * 8, np.int32), [13])  # a car, left half
    pred = pan.segments_from_ids(np.array([[0] * 8 + [1] * 8] * 8, np.int32), [13])  # a car, right half: FP
    errors = segment_errors.classify(gt, pred, pan.REFERENCE)
    base = np.full((8, 16, 3), 50, np.uint8)
    shown = np.array([False, True])
    out = drawing.error_overlay(base, gt.ids, pred.ids, errors, shown, shown).astype(int)
    right = out[:, 8:]
    assert (right[..., 0] > 150).all() and (right[..., 1] > 130).all() and (right[..., 2] < 60).all()  # yellow
    left = out[:, :8]
    assert (left[..., 0] > 150).sum() > 16 and (left[..., 1] < 60)[left[..., 0] > 150].all()  # red outline + hatch
    assert (left == 50).all(axis=-1).any()  # hatching, not a solid fill: the image shows through


def test_select_first_random_worst() -> None:
    keys = ["a", "b", "c", "d"]
    assert visualize.select_keys(keys, "first", 2) == ["a", "b"]
    assert visualize.select_keys(keys, "random", 2, seed=3) == visualize.select_keys(keys, "random", 2, seed=3)
    assert len(set(visualize.select_keys(keys, "random", 9))) == 4
    assert visualize.select_keys(keys, "worst", 2, {"a": 5.0, "b": 1.0, "c": float("nan"), "d": 3.0}) == ["b", "d"]


def test_visualize_label_free_ignores_cluster_to_class(synthetic_val: Path, tmp_path: Path) -> None:
    subdir = synthetic_val / "pseudo_semantic_raw_k24"
    table = np.load(subdir / "kmeans_centroids.npz")["cluster_to_class"]
    stuff_things = tmp_path / "stuff_things.json"
    stuff_things.write_text(json.dumps({"thing_ids": np.flatnonzero(cs.IS_THING[table]).tolist()}))
    copy = tmp_path / "copy"
    shutil.copytree(synthetic_val, copy)
    scrambled = dict(np.load(subdir / "kmeans_centroids.npz"))
    scrambled["cluster_to_class"] = np.roll(table, 5)  # a different GT vote: must not change label-free pictures
    np.savez(copy / "pseudo_semantic_raw_k24" / "kmeans_centroids.npz", **scrambled)
    args = ("--stems", "frankfurt_000000_000019", "--stuff_things", str(stuff_things))
    first = _visualize(synthetic_val, tmp_path / "a", *args)
    second = _visualize(copy, tmp_path / "b", *args)
    assert first["label_free"] and first["images"] == second["images"]
    name = first["images"][0]["picture"]
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert "stuff" not in first["images"][0] and first["images"][0]["PQ_stuff"] is None
    mapped = _visualize(copy, tmp_path / "c", "--stems", "frankfurt_000000_000019")
    assert not mapped["label_free"] and mapped["images"] != first["images"]


def test_visualize_raw_clusters_without_mapping_names_the_flags(synthetic_val: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(synthetic_val, copy)
    (copy / "pseudo_semantic_raw_k24" / "kmeans_centroids.npz").unlink()
    with pytest.raises(SystemExit) as info:
        _visualize(copy, tmp_path / "out")
    message = capsys.readouterr().err
    assert info.value.code == 2 and "--stuff_things" in message and "--centroids_path" in message


def test_visualize_worst_without_gt_exit_2(synthetic_val: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(synthetic_val, copy, ignore=shutil.ignore_patterns("gtFine"))
    with pytest.raises(SystemExit) as info:
        _visualize(copy, tmp_path / "out", "--select", "worst")
    assert info.value.code == 2 and "--select worst needs ground truth" in capsys.readouterr().err


def test_demo_end_to_end_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert demo.main(["--out", str(out), "--num_images", "2", "--size", "256", "512", "--k", "24"]) == 0
    sweep = json.loads((out / "sweep_k24_spidepth_val.json").read_text())
    text = (out / "report.md").read_text()
    best = sweep["best"]["reference"]
    assert f"PQ {best['PQ']:.2f}" in text and "best (reference protocol)" in capsys.readouterr().out
    for expected in ("pseudo_semantic_raw_k24/kmeans_centroids.npz", "pseudo_semantic_raw_k24/stuff_things.json",
                     "cups_pseudo_labels/stats.json", "report_reference_heatmap.png", "pictures"):
        assert (out / expected).exists(), expected
    assert len(list((out / "cups_pseudo_labels").glob("*.pt"))) == 2
    assert len(list((out / "pseudo_semantic_raw_k24" / "train").rglob("*.png"))) == 2
