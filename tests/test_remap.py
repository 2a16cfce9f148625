"""The two relabelling commands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pseudo_labels import cityscapes as cs
from pseudo_labels import remap_cause27_to_trainid, remap_raw_clusters_to_trainid


def test_cause27_to_train_ids(tmp_path: Path) -> None:
    ids = np.array([[0, 1, 2, 26], [13, 20, 255, 8]], np.uint8)  # road, sidewalk, parking, bicycle / ...
    (tmp_path / "in" / "lindau").mkdir(parents=True)
    Image.fromarray(ids).save(tmp_path / "in" / "lindau" / "lindau_000000_000019.png")
    assert remap_cause27_to_trainid.main(["--input_dir", str(tmp_path / "in"), "--output_dir", str(tmp_path / "out")]) == 0
    out = cs.read_png(tmp_path / "out" / "lindau" / "lindau_000000_000019.png")
    expected = cs.LABEL_ID_TO_TRAIN_ID[np.minimum(ids.astype(int) + 7, 255)]
    expected[ids == 255] = 255
    assert np.array_equal(out, expected) and out[0, 2] == 255 and out[0, 3] == 18


def test_raw_clusters_to_train_ids_and_bad_ids(synthetic_val: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    source = synthetic_val / "pseudo_semantic_raw_k24" / "val"
    centroids = synthetic_val / "pseudo_semantic_raw_k24" / "kmeans_centroids.npz"
    assert remap_raw_clusters_to_trainid.main(["--input_dir", str(source), "--output_dir", str(tmp_path / "out"),
                                               "--centroids_path", str(centroids)]) == 0
    with np.load(centroids) as npz:
        table = npz["cluster_to_class"]
    first = sorted(source.rglob("*.png"))[0]
    assert np.array_equal(cs.read_png(tmp_path / "out" / first.relative_to(source)), table[cs.read_png(first)])
    (tmp_path / "k80" / "lindau").mkdir(parents=True)  # raw ids of a k=80 run are no CAUSE-27 ids
    Image.fromarray(np.array([[3, 40]], np.uint8)).save(tmp_path / "k80" / "lindau" / "lindau_000000_000019.png")
    with pytest.raises(SystemExit) as info:
        remap_cause27_to_trainid.main(["--input_dir", str(tmp_path / "k80"), "--output_dir", str(tmp_path / "x")])
    assert info.value.code == 2 and "id 40 is not a CAUSE-27 class id" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
