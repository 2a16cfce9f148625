"""``pseudo-labels evaluate-cups`` on a real export, the sweep's cups rows against it, and its bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pseudo_labels.cli import cups as convert
from pseudo_labels.cli import evaluate_cups
from pseudo_labels.cli import sweep as sweep_cli
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation import cups_protocol as cp
from pseudo_labels.evaluation.cups_reference import reference_score
from pseudo_labels.formats import cups_labels

SEMANTIC = "pseudo_semantic_raw_k24"
EXPORT = "cups_half"


@pytest.fixture(scope="module")
def exported(synthetic_val: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 256x512 synthetic val split exported for CUPS at 512x1024 (tau 0.20, A_min 1000), and its sweep row."""
    root = tmp_path_factory.mktemp("cups_eval") / "root"
    shutil.copytree(synthetic_val, root)
    assert convert.main(["--cityscapes_root", str(root), "--split", "val", "--semantic_subdir", SEMANTIC,
                         "--centroids_path", str(root / SEMANTIC / "kmeans_centroids.npz"), "--depth_instances",
                         "--grad_threshold", "0.20", "--min_instance_area", "1000", "--target_h", "512",
                         "--target_w", "1024", "--output_subdir", EXPORT, "--workers", "1"]) == 0
    assert sweep_cli.main(["--cityscapes_root", str(root), "--semantic_subdir", SEMANTIC, "--grad_thresholds", "0.20",
                           "--min_areas", "1000", "--protocol", "all", "--workers", "1",
                           "--output", str(root / "sweep.json")]) == 0
    return root


def _evaluate(root: Path, *extra: str, export: str = EXPORT) -> int:
    return evaluate_cups.main(["--cityscapes_root", str(root), "--export_dir", str(root / export), "--workers", "1",
                               *extra])


def test_the_sweeps_cups_row_is_what_the_evaluator_gives_for_the_export(exported: Path) -> None:
    record = json.loads((exported / "sweep.json").read_text())
    assert record["protocols"] == ["reference", "official", "cups"]
    row = next(e for e in record["results"] if e["protocol"] == "cups" and e["mode"] == "depth")
    stats = json.loads((exported / EXPORT / "stats.json").read_text())
    assert row["threshold_source"] == "suggested"
    assert row["thing_stuff_threshold"] == pytest.approx(stats["cups_thing_stuff_threshold"]["suggested"], rel=1e-6)
    assert _evaluate(exported, "--resolution", "512x1024", "--thing_stuff_threshold",
                     repr(row["thing_stuff_threshold"]), "--output", str(exported / "cups.json")) == 0
    result = json.loads((exported / "cups.json").read_text())
    assert result["protocol"] == "cups" and result["images"] == 3 and result["resolution"] == [512, 1024]
    assert row["things"] == result["things"] and row["assignment_pq"] == result["assignment_pq"]
    assert len(row["per_class"]) == len(result["per_class"]) == 27
    for name, counts in result["per_class"].items():
        assert [row["per_class"][name][k] for k in ("TP", "FP", "FN")] == [counts[k] for k in ("tp", "fp", "fn")]
    for ours, theirs in (("PQ", "pq"), ("SQ", "sq"), ("RQ", "rq"), ("PQ_things", "pq_things"), ("mIoU", "miou")):
        assert row[ours] == pytest.approx(result[theirs], abs=1e-9)


def test_the_evaluator_equals_the_literal_transcription_on_the_files(exported: Path) -> None:
    """Read the export and GT here the slow way (torch's nearest rule spelled out) and score with the transcription."""
    threshold = json.loads((exported / EXPORT / "stats.json").read_text())["cups_thing_stuff_threshold"]["suggested"]
    assert _evaluate(exported, "--thing_stuff_threshold", repr(threshold), "--resolution", "512x1024",
                     "--output", str(exported / "full.json")) == 0
    result = json.loads((exported / "full.json").read_text())
    images = []
    for key, path in sorted(cs.instance_ids_paths(exported, "val").items()):
        gt = np.array(Image.open(path)).astype(np.int64)
        gt = gt.repeat(2, axis=0).repeat(2, axis=1)  # 256x512 -> 512x1024: torch copies row i // 2
        stem = f"{exported / EXPORT / key.split('/')[1]}_leftImg8bit"
        pseudo = np.array(Image.open(f"{stem}_semantic.png"))
        instance = np.array(Image.open(f"{stem}_instance.png"))
        images.append((pseudo, instance, *cp.ground_truth(gt)))
    slow = reference_score(images, result["things"], result["stuffs"])
    assert slow["assignment_pq"] == result["assignment_pq"] and slow["assignment_miou"] == result["assignment_miou"]
    assert slow["pq"] == pytest.approx(result["pq"], abs=1e-9) and slow["acc"] == pytest.approx(result["acc"], abs=1e-6)
    assert [r["tp"] for r in slow["per_class"].values()] == [r["tp"] for r in result["per_class"].values()]


# --------------------------------------------------------------------------- bad input


@pytest.fixture
def damaged(exported: Path, tmp_path: Path) -> Path:
    """A private copy of the GT and the export, to break."""
    root = tmp_path / "root"
    shutil.copytree(exported / "gtFine", root / "gtFine")
    shutil.copytree(exported / EXPORT, root / EXPORT)
    return root


def _first(root: Path, pattern: str) -> Path:
    return sorted(root.rglob(pattern))[0]


def _fails(root: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    with pytest.raises(SystemExit) as stop:
        _evaluate(root, *extra)
    assert stop.value.code == 2
    message = capsys.readouterr().err
    assert "Traceback" not in message
    return message


def test_a_folder_without_pt_files_is_refused(damaged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for path in (damaged / EXPORT).glob("*.pt"):
        path.unlink()
    assert "no .pt files" in _fails(damaged, capsys)


def test_pt_vectors_of_different_lengths_are_refused(damaged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _first(damaged / EXPORT, "*.pt")
    torch.save({name: torch.zeros(7) for name in (cups_labels.INSIDE, cups_labels.EVERYWHERE)}, path)
    assert "24 classes where the folder's other .pt vectors have 7" in _fails(damaged, capsys)


def test_semantic_ids_beyond_the_pt_vectors_are_refused(damaged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _first(damaged / EXPORT, "*_semantic.png")
    labels = np.array(Image.open(path))
    labels[0, 0] = 200
    Image.fromarray(labels).save(path)
    message = _fails(damaged, capsys)
    assert path.name in message and "200 >= 24" in message


def test_an_image_without_export_and_an_export_without_image_are_refused(
        damaged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    semantic = _first(damaged / EXPORT, "*_semantic.png")
    semantic.rename(damaged / EXPORT / "zurich_000000_000019_leftImg8bit_semantic.png")
    message = _fails(damaged, capsys)
    assert semantic.name in message and "have no export" in message
    shutil.copy(damaged / EXPORT / "zurich_000000_000019_leftImg8bit_semantic.png", semantic)
    message = _fails(damaged, capsys)
    assert "zurich_000000_000019" in message and "no GT image" in message


def test_an_8bit_gt_file_is_refused(damaged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _first(damaged / "gtFine", "*_instanceIds.png")
    Image.fromarray((np.array(Image.open(path)) % 256).astype(np.uint8)).save(path)
    message = _fails(damaged, capsys)
    assert path.name in message and "16-bit instanceIds" in message


def test_a_threshold_that_leaves_no_thing_names_the_working_interval(
        damaged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = _fails(damaged, capsys, "--thing_stuff_threshold", "0.9")
    assert "leaves no thing pseudo-class" in message and "a threshold in [" in message


def test_a_sharded_sweep_refuses_the_cups_protocol(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        sweep_cli.main(["--cityscapes_root", str(exported), "--semantic_subdir", SEMANTIC, "--protocol", "cups",
                        "--num_shards", "2", "--shard_index", "0", "--output", str(exported / "shard.json")])
    assert stop.value.code == 2 and "whole split" in capsys.readouterr().err


# --------------------------------------------------------------------------- pictures


def test_cups_error_statuses_add_up_to_the_sweeps_cups_counts(exported: Path) -> None:
    from pseudo_labels.evaluation import segment_errors as se
    from pseudo_labels.evaluation.evaluate_cups_protocol import read_assignment
    from pseudo_labels.formats.depth import load_depth
    from pseudo_labels.formats.semantic import read_label_png
    from pseudo_labels.instances.settings import SplitSettings
    from pseudo_labels.report.picture_set import picture_units
    from pseudo_labels.report.pictures import Settings, analyse

    record = json.loads((exported / "sweep.json").read_text())
    row = next(e for e in record["results"] if e["protocol"] == "cups" and e["mode"] == "depth")
    centroids = exported / SEMANTIC / "kmeans_centroids.npz"
    settings = Settings(picture_units(exported, SEMANTIC, np.full((1, 1), 23, np.uint8), centroids, None), SplitSettings(0.20, 1000), "cups",
                        read_assignment(exported / "sweep.json", 0.20, 1000))
    tp = fp = fn = 0
    for key, path in cs.output_paths(exported / SEMANTIC, "val", ".png").items():
        raw = cs.resize_nearest(read_label_png(path), cs.WORKING_SIZE)
        depth = load_depth(exported / cs.DEPTH_SUBDIR / "val" / f"{key}.npy", cs.WORKING_SIZE)
        gt = cs.load_ground_truth(*(cs.label_ids_paths(exported, "val")[key], cs.instance_ids_paths(exported, "val")[key]))
        analysis = analyse(raw, depth, settings, gt.train_ids, gt.instance_ids)
        assert analysis.gt is not None and analysis.gt.space == cs.CAUSE27_CLASSES
        tp += int(np.count_nonzero(analysis.errors.pred == se.TP))
        fp += int(np.isin(analysis.errors.pred, se.COUNTED_FP).sum())
        fn += int(np.isin(analysis.errors.gt, se.COUNTED_FN).sum())
    totals = [sum(r[k] for r in row["per_class"].values()) for k in ("TP", "FP", "FN")]
    assert [tp, fp, fn] == totals and tp > 0


def test_cups_pictures_need_an_assignment(exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pseudo_labels.cli import visualize

    with pytest.raises(SystemExit) as stop:
        visualize.main(["--cityscapes_root", str(exported), "--semantic_subdir", SEMANTIC, "--protocol", "cups",
                        "--out", str(tmp_path / "pictures")])
    assert stop.value.code == 2 and "--cups_result" in capsys.readouterr().err
    assert visualize.main(["--cityscapes_root", str(exported), "--semantic_subdir", SEMANTIC, "--protocol", "cups",
                           "--cups_result", str(exported / "sweep.json"), "--limit", "1",
                           "--out", str(tmp_path / "pictures")]) == 0
    index = json.loads((tmp_path / "pictures" / "index.json").read_text())
    assert index["protocol"] == "cups" and index["images"][0]["picture"]
