"""k > 255: raw cluster maps are 16-bit PNGs and every stage reads them (the CUPS export refuses them clearly)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data.synthetic import write_dataset

K = 300
SEMANTIC = f"pseudo_semantic_raw_k{K}"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two synthetic val images (128x256) with depth and a k=300 raw-cluster prediction."""
    root = tmp_path_factory.mktemp("k300")
    write_dataset(root, "val", num_images=2, seed=1, size=(128, 256), num_clusters=K, show_progress=False)
    return root


def _centroids(root: Path) -> str:
    return str(root / SEMANTIC / "kmeans_centroids.npz")


def _maps(root: Path) -> dict[str, np.ndarray]:
    return {k: cs.read_png(p) for k, p in cs.output_paths(root / SEMANTIC, "val", ".png").items()}


def _exit_2(function, argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as info:
        function(argv)
    assert info.value.code == 2
    return capsys.readouterr().err


def test_maps_are_16_bit_and_hold_ids_above_255(root: Path) -> None:
    maps = _maps(root)
    assert all(m.dtype == np.uint16 for m in maps.values())
    assert max(int(m.max()) for m in maps.values()) >= 256
    assert cs.cluster_map_dtype(255) == np.uint8 and cs.cluster_map_dtype(256) == np.uint16


def test_sweep_and_cluster_to_class_read_k300(root: Path) -> None:
    from pseudo_labels.cli import sweep as sweep_cli
    from pseudo_labels.formats.centroids import load_cluster_to_class
    from pseudo_labels.formats.semantic import load_semantic

    table = load_cluster_to_class(_centroids(root))
    assert table.shape == (K,)
    key, clusters = next(iter(_maps(root).items()))
    semantic = load_semantic(root / SEMANTIC / "val" / f"{key}.png", table, clusters.shape)
    assert np.array_equal(semantic, table[clusters])
    output = root / "sweep.json"
    with contextlib.redirect_stdout(io.StringIO()):
        assert sweep_cli.main(["--cityscapes_root", str(root), "--semantic_subdir", SEMANTIC, "--eval_size", "64",
                               "128", "--grad_thresholds", "0.2", "--min_areas", "20", "--workers", "1",
                               "--output", str(output)]) == 0
    assert "cc_only" in output.read_text()


def test_remap_writes_8_bit_trainids(root: Path, tmp_path: Path) -> None:
    from pseudo_labels.cli import remap_clusters as remap
    from pseudo_labels.formats.centroids import load_cluster_to_class

    with contextlib.redirect_stdout(io.StringIO()):
        assert remap.main(["--input_dir", str(root / SEMANTIC / "val"), "--output_dir", str(tmp_path),
                           "--centroids_path", _centroids(root)]) == 0
    table = load_cluster_to_class(_centroids(root))
    for key, clusters in _maps(root).items():
        mapped = cs.read_png(tmp_path / f"{key}.png")
        assert mapped.dtype == np.uint8 and np.array_equal(mapped, table[clusters])


def test_instances_per_class_and_per_cluster_above_255(root: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from pseudo_labels.cli import instances as gen

    base = ["--semantic_dir", str(root / SEMANTIC / "val"), "--depth_dir", str(root / cs.DEPTH_SUBDIR / "val"),
            "--min_area", "20", "--grad_threshold", "0.2"]
    assert gen.main([*base, "--output_dir", str(tmp_path / "mapped"), "--centroids_path", _centroids(root)]) == 0
    present = np.unique(np.concatenate([m.ravel() for m in _maps(root).values()]))
    things = [int(c) for c in present if c >= 256][:6]
    (tmp_path / "st.json").write_text(json.dumps({"thing_ids": things, "stuff_ids": []}))
    assert gen.main([*base, "--output_dir", str(tmp_path / "clusters"), "--stuff_things", str(tmp_path / "st.json")]) == 0
    classes = np.concatenate([np.load(p)["classes"] for p in (tmp_path / "clusters").rglob("*.npz")])
    assert classes.dtype == np.uint16 and len(classes) and set(classes.tolist()) <= set(things)
    err = _exit_2(gen.main, [*base, "--output_dir", str(tmp_path / "m"), "--stuff_things", str(tmp_path / "st.json"),
                             "--merge_thing_clusters"], capsys)
    assert "16-bit cluster map" in err and "k <= 255" in err


def test_stuff_things_both_rules_and_panoptic(root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pseudo_labels.cli import stuff_things as classify
    from pseudo_labels.cli import panoptic as gp

    original = tmp_path / "original.json"
    with contextlib.redirect_stdout(io.StringIO()):
        assert classify.main(["--semantic_dir", str(root / SEMANTIC / "val"), "--depth_dir",
                              str(root / cs.DEPTH_SUBDIR / "val"), "--output_path", str(original), "--num_classes",
                              str(K), "--n_things", "30"]) == 0
    record = json.loads(original.read_text())
    assert len(record["classification"]) == K and len(record["thing_ids"]) == 30
    assert classify.main(["--cityscapes_root", str(root), "--split", "val", "--semantic_subdir", SEMANTIC,
                          "--num_clusters", str(K), "--output", str(tmp_path / "today.json")]) == 0
    assert gp.main(["--cityscapes_root", str(root), "--split", "val", "--semantic_subdir", SEMANTIC, "--centroids_path",
                    _centroids(root), "--min_area", "20", "--target_h", "128", "--target_w", "256"]) == 0
    assert len(list((root / "panoptic_pseudolabels" / "val").rglob("*_panoptic.npy"))) == 2
    err = _exit_2(gp.main, ["--semantic_dir", str(root / SEMANTIC / "val"), "--stuff_things", str(original),
                            "--output_dir", str(tmp_path / "pan")], capsys)
    assert "original.json: ids must lie in 0..255" in err


def test_cups_export_refuses_16_bit_maps_clearly(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pseudo_labels.cli import cups

    err = _exit_2(cups.main, ["--cityscapes_root", str(root), "--split", "val", "--semantic_subdir", SEMANTIC,
                              "--num_classes", str(K), "--centroids_path", _centroids(root), "--depth_instances",
                              "--target_h", "80", "--target_w", "160"], capsys)
    assert "16-bit semantic map" in err and "8-bit" in err


def test_visualize_draws_k300_through_its_centroids(root: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from pseudo_labels.cli import visualize

    base = ["--cityscapes_root", str(root), "--split", "val", "--semantic_subdir", SEMANTIC, "--min_area", "20",
            "--limit", "1"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert visualize.main([*base, "--centroids_path", _centroids(root), "--out", str(tmp_path / "v")]) == 0
    assert len(list((tmp_path / "v").glob("*.png"))) == 1
    (tmp_path / "st.json").write_text(json.dumps({"thing_ids": [3], "stuff_ids": []}))
    err = _exit_2(visualize.main, [*base, "--stuff_things", str(tmp_path / "st.json"), "--out", str(tmp_path / "w")],
                  capsys)
    assert "16-bit cluster map" in err and "--centroids_path" in err
