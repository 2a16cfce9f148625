"""Paired bootstrap intervals: the vectorised path against the plain loop, pairing, verdicts, the per-image file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pseudo_labels.core.errors import InputError
from pseudo_labels.evaluation import bootstrap as bs
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.evaluation.sweep_images import image_stats_path, read_image_stats
from pseudo_labels.evaluation.sweep_run import run_sweep_split


def _random_stats(rng: np.random.Generator, images: int, configs: int, protocol: str) -> np.ndarray:
    """(images, configs, 4, C): small counts, some classes never present, IoU sums below TP."""
    classes = bs.num_classes(protocol)
    shape = (images, configs, classes)
    present = rng.random(classes) < 0.7
    tp, fp, fn = (rng.integers(0, 3, shape) * present for _ in range(3))
    iou = tp * rng.uniform(0.5, 1.0, shape)
    return np.stack([tp, fp, fn, iou], axis=2).astype(np.float64)


@pytest.mark.parametrize("protocol", ["reference", "official", "cups"])
def test_vectorised_bootstrap_equals_the_plain_loop(protocol: str) -> None:
    stats = _random_stats(np.random.default_rng(3), 7, 3, protocol)
    fast = bs.paired_bootstrap(stats, protocol, best=1, resamples=25, seed=5)
    slow = bs.paired_bootstrap_reference(stats, protocol, best=1, resamples=25, seed=5)
    for metric in bs.METRICS:
        np.testing.assert_allclose(fast.low[metric], slow.low[metric], atol=1e-9)
        np.testing.assert_allclose(fast.high[metric], slow.high[metric], atol=1e-9)
    for a, b in ((fast.diff_low, slow.diff_low), (fast.diff_high, slow.diff_high), (fast.class_low, slow.class_low),
                 (fast.class_high, slow.class_high)):
        np.testing.assert_allclose(a, b, atol=1e-9)
    assert np.isnan(fast.class_low).any() and not np.isnan(fast.class_low).all()  # never-present classes: no interval
    # the whole split through the vectorised scores equals the protocol's own summary
    whole, _ = bs._summary_scores(stats.sum(axis=0)[0], protocol)
    np.testing.assert_allclose([bs.scores(stats.sum(axis=0), protocol)[m][0] for m in bs.METRICS], whole, atol=1e-9)


def test_pairing_verdicts_and_degenerate_cases() -> None:
    rng = np.random.default_rng(0)
    base = _random_stats(rng, 12, 1, "official")[:, 0]
    worse = base.copy()
    worse[:, 1] += worse[:, 0]  # every true positive becomes a false positive as well as ...
    worse[:, 2] += worse[:, 0]  # ... a false negative: lower PQ on every resample
    worse[:, 0] = 0
    worse[:, 3] = 0
    stats = np.stack([base, base, worse], axis=1)
    found = bs.paired_bootstrap(stats, "official", best=0, resamples=200)
    assert found.diff_low[1] == found.diff_high[1] == 0.0  # the same resamples for every configuration
    assert found.tied_with_best().tolist() == [True, True, False] and found.diff_low[2] > 0
    alone = bs.paired_bootstrap(stats[:, :1], "official", best=0, resamples=200)
    assert alone.low["PQ"][0] == found.low["PQ"][0]  # the draws depend on the images and seed only
    assert found.low["PQ"][0] <= bs.scores(base.sum(axis=0), "official")["PQ"] <= found.high["PQ"][0]
    single = bs.paired_bootstrap(stats[:1], "official", best=0, resamples=20)  # one image: every resample is it
    assert single.low["PQ"][0] == single.high["PQ"][0] == pytest.approx(bs.scores(base[0], "official")["PQ"])
    counts = bs.draw_counts(bs.draws(12, 50, 1))
    assert counts.shape == (50, 12) and (counts.sum(axis=1) == 12).all()
    with pytest.raises(ValueError):
        bs.draws(0, 10)


def test_sweep_writes_per_image_statistics_that_add_up(synthetic_val: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(synthetic_val, root)
    run = run_sweep_split(root, "val", semantic_subdir="pseudo_semantic_raw_k24", eval_size=(128, 256),
                          grad_thresholds=[0.1], min_areas=[20, 50], protocols=("reference", "official", "cups"),
                          workers=1, output=tmp_path / "s.json")
    arrays = read_image_stats(run.output, run.record)  # checks the sums against every per-class count
    assert arrays is not None and set(arrays) == {"reference", "official", "cups"}
    assert arrays["reference"].shape == (3, 3, 4, 19) and arrays["cups"].shape == (3, 3, 4, 27)
    manifest = json.loads((tmp_path / "s.manifest.json").read_text())
    assert manifest["image_stats"]["path"] == str(image_stats_path(run.output))
    whole = bs.scores(arrays["reference"].sum(axis=0), pan.REFERENCE)["PQ"]
    np.testing.assert_allclose(whole, [e["PQ"] for e in run.record["results"] if e["protocol"] == "reference"],
                               atol=1e-9)
    cups = bs.scores(arrays["cups"].sum(axis=0), "cups")["PQ"]  # under each configuration's own assignment
    np.testing.assert_allclose(cups, [e["PQ"] for e in run.record["results"] if e["protocol"] == "cups"], atol=1e-9)
    tampered = json.loads(run.output.read_text())
    tampered["results"][1]["per_class"]["car"]["TP"] += 1
    with pytest.raises(InputError, match="do not add up"):
        read_image_stats(run.output, tampered)
    image_stats_path(run.output).unlink()
    assert read_image_stats(run.output, run.record) is None
