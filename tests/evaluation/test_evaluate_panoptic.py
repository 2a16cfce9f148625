"""The standalone official evaluator against cityscapesscripts' own evaluatePanoptic."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.instances import splitting as inst
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.export.cityscapes_panoptic import id_to_rgb, write_predictions
from pseudo_labels.cli import evaluate_panoptic
from pseudo_labels.core.fileio import write_png
from pseudo_labels.formats.centroids import load_cluster_to_class
from pseudo_labels.formats.depth import load_depth
from pseudo_labels.formats.semantic import load_semantic


@pytest.fixture(scope="module")
def predictions(synthetic_val: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Depth-guided panoptic predictions of the synthetic images, half resolution, in Cityscapes panoptic format."""
    out = tmp_path_factory.mktemp("pred")
    table = load_cluster_to_class(synthetic_val / "pseudo_semantic_raw_k24" / "kmeans_centroids.npz")
    items = []
    for key in cs.label_ids_paths(synthetic_val, "val"):
        semantic = load_semantic(synthetic_val / "pseudo_semantic_raw_k24" / "val" / f"{key}.png", table, (128, 256))
        depth = load_depth(synthetic_val / cs.DEPTH_SUBDIR / "val" / f"{key}.npy", (128, 256))
        found = inst.split_instances(semantic, inst.depth_gradient(depth), 0.1, 20)
        items.append((key.split("/")[1], pan.predicted_segments(semantic, found, 1, 1)))
    write_predictions(out / "png", out / "pred.json", items)
    return out / "pred.json", out / "png"


def _cityscapesscripts(root: Path, pred_json: Path, pred_dir: Path, out: Path) -> dict:
    """GT by createPanopticImgs, then evaluatePanoptic: the official tools, untouched."""
    from cityscapesscripts.evaluation.evalPanopticSemanticLabeling import evaluatePanoptic
    from cityscapesscripts.preparation.createPanopticImgs import convert2panoptic

    with contextlib.redirect_stdout(io.StringIO()):  # both print progress
        convert2panoptic(str(root / "gtFine"), str(out), setNames=["val"])
        return evaluatePanoptic(str(out / "cityscapes_panoptic_val.json"), str(out / "cityscapes_panoptic_val"),
                                str(pred_json), str(pred_dir), str(out / "results.json"))


def test_equals_cityscapesscripts_to_1e9(synthetic_val: Path, predictions: tuple[Path, Path], tmp_path: Path) -> None:
    pred_json, pred_dir = predictions
    # cityscapesscripts needs predictions at GT size: upsample ours (Pillow NEAREST) for it
    full_dir = tmp_path / "full"
    for png in pred_dir.iterdir():
        ids = cs.read_png(png).astype(np.int64)
        ids = ids[..., 0] + 256 * ids[..., 1] + 65536 * ids[..., 2]
        write_png(full_dir / png.name, id_to_rgb(cs.resize_nearest(ids, (256, 512))))
    theirs = _cityscapesscripts(synthetic_val, pred_json, full_dir, tmp_path)
    code = evaluate_panoptic.main(["--cityscapes_root", str(synthetic_val), "--pred_json", str(pred_json),
                                   "--pred_dir", str(pred_dir), "--output", str(tmp_path / "ours.json"), "--workers", "2"])
    assert code == 0
    ours = json.loads((tmp_path / "ours.json").read_text())
    assert ours["n_images"] == 3 and ours["n_classes"] == theirs["All"]["n"] >= 10
    for name, suffix in (("All", ""), ("Things", "_things"), ("Stuff", "_stuff")):
        for metric in ("pq", "sq", "rq"):
            assert abs(ours[metric.upper() + suffix] / 100 - theirs[name][metric]) < 1e-9, (name, metric)
    for label_id, values in theirs["per_class"].items():
        name = cs.CLASS_NAMES[cs.LABEL_ID_TO_TRAIN_ID[int(label_id)]]
        for metric in ("pq", "sq", "rq"):
            assert abs(ours["per_class"][name][metric.upper()] / 100 - values[metric]) < 1e-9, (name, metric)
    assert 0 < ours["PQ"] < 100 and sum(ours["stats"]["fp"]) > 0


def test_png_ids_not_in_json_exit_2(synthetic_val: Path, predictions: tuple[Path, Path], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    pred_json, pred_dir = predictions
    data = json.loads(pred_json.read_text())
    data["annotations"][1]["segments_info"].pop()  # the PNG still holds that segment
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data))
    with pytest.raises(SystemExit) as info:
        evaluate_panoptic.main(["--cityscapes_root", str(synthetic_val), "--pred_json", str(broken),
                                "--pred_dir", str(pred_dir), "--workers", "1"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert data["annotations"][1]["file_name"] in err and "not in the JSON" in err


def test_missing_prediction_exit_2(synthetic_val: Path, predictions: tuple[Path, Path], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    pred_json, pred_dir = predictions
    data = json.loads(pred_json.read_text())
    dropped = data["annotations"].pop(0)["image_id"]
    (tmp_path / "short.json").write_text(json.dumps(data))
    with pytest.raises(SystemExit) as info:
        evaluate_panoptic.main(["--cityscapes_root", str(synthetic_val), "--pred_json", str(tmp_path / "short.json"),
                                "--pred_dir", str(pred_dir), "--workers", "1"])
    assert info.value.code == 2 and dropped in capsys.readouterr().err
