"""One SplitSettings everywhere: what the sweep scores is what the exports write and the pictures draw."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pseudo_labels.core.errors import InputError
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.evaluation.panoptic import THING_MIN_AREA
from pseudo_labels.instances import painting
from pseudo_labels.formats.depth import load_depth
from pseudo_labels.instances.settings import SplitSettings, from_sweep
from pseudo_labels.instances.splitting import split

RAW = "pseudo_semantic_raw_k24"
SETTINGS = SplitSettings(tau=0.1, min_area=100, sigma=2.0, dilation_iters=1)
"""Not the defaults in blur and dilation, so a stage that drops them draws other instances."""


def test_settings_check_their_values() -> None:
    assert SplitSettings().describe() == "tau 0.20, A_min 1000"
    assert SETTINGS.describe() == "tau 0.10, A_min 100, sigma 2, dilation 1"
    assert SplitSettings(None, 10).describe() == "CC-only, A_min 10" and not SplitSettings(None, 10).uses_depth
    for bad in ({"tau": -0.1}, {"min_area": -1}, {"sigma": float("nan")}, {"dilation_iters": -2}):
        with pytest.raises(InputError):
            SplitSettings(**bad)


def test_from_sweep_reads_the_best_entry(synthetic_val: Path, tmp_path: Path) -> None:
    from pseudo_labels.cli import sweep as sweep_cli

    out = tmp_path / "sweep.json"
    assert sweep_cli.main(["--cityscapes_root", str(synthetic_val), "--semantic_subdir", RAW, "--eval_size", "64",
                           "128", "--grad_thresholds", "0.1", "--min_areas", "20", "--protocol", "both",
                           "--workers", "1", "--output", str(out)]) == 0
    record = json.loads(out.read_text())
    for protocol in ("reference", "official"):
        best = record["best"][protocol]
        expected = SplitSettings(None if best["mode"] == "cc_only" else best["grad_threshold"], best["min_area"],
                                 record["depth_blur_sigma"], record["dilation_iters"])
        assert from_sweep(out, protocol) == expected
    with pytest.raises(InputError, match="no best 'cups' entry"):
        from_sweep(out, "cups")
    (tmp_path / "other.json").write_text(json.dumps({"best": {}}))
    for path in (tmp_path / "other.json", tmp_path / "missing.json"):
        with pytest.raises(InputError, match=path.name):
            from_sweep(path)


def _truth(root: Path, settings: SplitSettings) -> dict[str, tuple[np.ndarray, object]]:
    """Per image: the trainId map at the working size and ``split`` under ``settings`` (the library's one split)."""
    with np.load(root / RAW / "kmeans_centroids.npz") as npz:
        table = npz["cluster_to_class"]
    found = {}
    for key, path in cs.output_paths(root / RAW, "val", ".png").items():
        semantic = table[cs.resize_nearest(cs.read_png(path), cs.WORKING_SIZE)]
        depth = load_depth(cs.output_path(root / cs.DEPTH_SUBDIR, "val", key, ".npy"), cs.WORKING_SIZE)
        found[key] = (semantic, split(semantic, cs.THING_TRAIN_IDS, depth, settings))
    return found


def test_sweep_exports_and_pictures_agree_on_blur_and_dilation(synthetic_val: Path, tmp_path: Path) -> None:
    from pseudo_labels.cli import cups as cups_cli
    from pseudo_labels.cli import panoptic as panoptic_cli
    from pseudo_labels.cli import sweep as sweep_cli
    from pseudo_labels.cli import visualize as visualize_cli
    from pseudo_labels.cli.evaluate_panoptic import evaluate

    root = tmp_path / "data"
    shutil.copytree(synthetic_val, root)
    sweep_json = tmp_path / "sweep.json"
    assert sweep_cli.main(["--cityscapes_root", str(root), "--semantic_subdir", RAW, "--grad_thresholds", "0.1",
                           "--min_areas", "100", "--depth_blur_sigma", "2.0", "--dilation_iters", "1",
                           "--no_cc_baseline", "--workers", "1", "--output", str(sweep_json)]) == 0
    record = json.loads(sweep_json.read_text())
    assert from_sweep(sweep_json) == SETTINGS
    truth = _truth(root, SETTINGS)
    default = _truth(root, SplitSettings(0.1, 100))
    assert any(not np.array_equal(painting.instance_id_map(truth[k][1], THING_MIN_AREA)[0], painting.instance_id_map(default[k][1], THING_MIN_AREA)[0])
               for k in truth)  # blur and dilation change the instances: the checks below can fail

    # the sweep's row: its instance count is the split's
    row = {e["protocol"]: e for e in record["results"]}
    assert row[pan.REFERENCE]["avg_instances"] * len(truth) == sum(len(found) for _, found in truth.values())

    # the CUPS export writes the split's instances, painted as the reference protocol paints them
    assert cups_cli.main(["--cityscapes_root", str(root), "--split", "val", "--semantic_subdir", RAW,
                          "--centroids_path", str(root / RAW / "kmeans_centroids.npz"), "--num_classes", "24",
                          "--depth_instances", "--from_sweep", str(sweep_json), "--workers", "1",
                          "--output_subdir", "cups"]) == 0
    for key, (_, found) in truth.items():
        written = cs.read_png(next((root / "cups").glob(f"{key.split('/')[1]}*_instance.png")))
        assert np.array_equal(written, cs.resize_nearest(painting.instance_id_map(found, THING_MIN_AREA)[0], written.shape))

    # the pictures draw the same instances: the official prediction's thing segments per image
    assert visualize_cli.main(["--cityscapes_root", str(root), "--split", "val", "--semantic_subdir", RAW,
                               "--from_sweep", str(sweep_json), "--protocol", "official", "--select", "first",
                               "--limit", "3", "--out", str(tmp_path / "pictures")]) == 0
    index = json.loads((tmp_path / "pictures" / "index.json").read_text())
    assert SplitSettings.from_record(index) == SETTINGS
    for entry in index["images"]:
        semantic, found = truth[entry["key"]]
        prediction = pan.protocol_prediction(semantic, found, pan.OFFICIAL)
        assert entry["instances"] == int(cs.IS_THING[prediction.classes[1:]].sum())

    # the panoptic export scores exactly the sweep's official row
    assert panoptic_cli.main(["--cityscapes_root", str(root), "--split", "val", "--semantic_subdir", RAW,
                              "--centroids_path", str(root / RAW / "kmeans_centroids.npz"), "--from_sweep",
                              str(sweep_json), "--sweep_protocol", "official", "--target_h", "256", "--target_w",
                              "512", "--workers", "1", "--output_subdir", "panoptic"]) == 0
    scores = evaluate(root, "val", root / "panoptic" / "val.json", root / "panoptic" / "val", workers=1,
                      show_progress=False)
    assert abs(scores["PQ"] - row[pan.OFFICIAL]["PQ"]) < 1e-9


def test_from_sweep_with_a_split_flag_exits_2(synthetic_val: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from pseudo_labels.cli import visualize as visualize_cli

    (tmp_path / "sweep.json").write_text(json.dumps({"depth_blur_sigma": 1.0, "dilation_iters": 3, "best": {
        "reference": {"mode": "depth", "grad_threshold": 0.2, "min_area": 100}}}))
    with pytest.raises(SystemExit) as info:
        visualize_cli.main(["--cityscapes_root", str(synthetic_val), "--semantic_subdir", RAW, "--from_sweep",
                            str(tmp_path / "sweep.json"), "--dilation", "2", "--out", str(tmp_path / "p")])
    assert info.value.code == 2 and "drop --dilation_iters" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
