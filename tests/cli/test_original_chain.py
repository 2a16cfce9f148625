"""The original label-free chain: classify -> per-cluster instances -> class*1000+instance panoptic maps.

The golden files under ``tests/data/original`` were written by the original
scripts (qbit-glitch/monocular_ups@064d182) on the ``synthetic_val`` fixture;
each says how in its ``made_by``. Arrays are compared by the sha256 of their
bytes, so "equal" means bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.cli import instances as gen
from pseudo_labels.cli import panoptic as gp
from pseudo_labels.export import original_panoptic as op
from pseudo_labels.formats.instance_npz import InstanceMasks

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "original"
SEMANTIC = "pseudo_semantic_raw_k24"


def _sha(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _instances(root: Path, out: Path, *extra: str) -> int:
    return gen.main(["--semantic_dir", str(root / SEMANTIC / "val"), "--depth_dir", str(root / cs.DEPTH_SUBDIR / "val"),
                     "--output_dir", str(out), "--min_area", "50", "--grad_threshold", "0.1", *extra])


@pytest.fixture(scope="module")
def original_instances(synthetic_val: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("instances")
    assert _instances(synthetic_val, out, "--stuff_things", str(GOLDEN / "stuff_things_k24.json")) == 0
    return out


def test_stuff_things_instances_split_per_cluster_as_the_original(original_instances: Path) -> None:
    golden = json.loads((GOLDEN / "instances_k24.json").read_text())
    for key, expected in golden["images"].items():
        with np.load(original_instances / f"{key}.npz") as npz:
            assert _sha(npz["masks"]) == expected["masks"] and _sha(npz["scores"]) == expected["scores"]
            assert int(npz["num_valid"]) == expected["num_valid"] and npz["masks"].dtype == bool
            assert set(npz["classes"].tolist()) <= {4, 5, 15, 17, 19, 23}  # the thing clusters themselves
        assert _sha(cs.read_png(original_instances / f"{key}_instance.png")) == expected["instance_png"]
    stats = json.loads((original_instances / "stats.json").read_text())
    assert stats["per_class_counts"] == golden["per_class_counts"]  # {"fence": 16, ..., "class_23": 24}


def test_merge_thing_clusters_is_the_opt_in_label_free_split(synthetic_val: Path, original_instances: Path,
                                                              tmp_path: Path) -> None:
    assert _instances(synthetic_val, tmp_path, "--stuff_things", str(GOLDEN / "stuff_things_k24.json"),
                      "--merge_thing_clusters") == 0
    merged = json.loads((tmp_path / "stats.json").read_text())
    per_cluster = json.loads((original_instances / "stats.json").read_text())
    assert merged["units"].startswith("stuff_things:") and per_cluster["units"].startswith("stuff_things (per cluster)")
    assert merged["total_instances"] < per_cluster["total_instances"]  # touching thing clusters stay one object


def test_raw_clusters_without_a_thing_set_stop_naming_the_flags(synthetic_val: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Raw clusters, neither flag, no centroid file beside the maps: the original split clusters 11..18; we stop."""
    bare = tmp_path / "bare"
    shutil.copytree(synthetic_val / SEMANTIC / "val", bare / SEMANTIC / "val")
    shutil.copytree(synthetic_val / cs.DEPTH_SUBDIR / "val", bare / cs.DEPTH_SUBDIR / "val")
    for root, extra in ((bare, []), (synthetic_val, ["--merge_thing_clusters"])):
        with pytest.raises(SystemExit) as info:
            _instances(root, tmp_path / "x", *extra)
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert "--stuff_things" in err and ("--centroids_path" in err or "needs --stuff_things" in err)
    assert not (tmp_path / "x").exists()


def test_raw_clusters_use_the_centroid_file_the_semantics_stage_wrote(synthetic_val: Path, tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    """The original README's command (raw clusters, no flag): {semantic_dir}/../kmeans_centroids.npz is used."""
    centroids = synthetic_val / SEMANTIC / "kmeans_centroids.npz"
    with caplog.at_level(logging.INFO):
        assert _instances(synthetic_val, tmp_path / "found") == 0
    assert [r.message for r in caplog.records if "where the semantics stage writes" in r.message] == [
        f"{synthetic_val / SEMANTIC / 'val'} holds raw cluster ids and no --centroids_path was given: using "
        f"{centroids}, where the semantics stage writes the centroids (split per class of its cluster_to_class)"]
    manifest = json.loads((tmp_path / "found" / "manifest.json").read_text())
    assert manifest["centroids_found_beside_semantics"] == str(centroids)
    assert json.loads((tmp_path / "found" / "stats.json").read_text())["units"] == f"cluster_to_class: {centroids}"
    assert _instances(synthetic_val, tmp_path / "given", "--centroids_path", str(centroids)) == 0
    for name in ("stats.json", *(str(p.relative_to(tmp_path / "given")) for p in (tmp_path / "given").rglob("*.np*"))):
        assert (tmp_path / "found" / name).read_bytes() == (tmp_path / "given" / name).read_bytes(), name


def test_trainid_maps_without_flags_split_trainids_11_to_18(tmp_path: Path) -> None:
    from pseudo_labels.core.fileio import write_npy, write_png

    semantic = np.zeros((64, 128), np.uint8)
    semantic[10:30, 10:40], semantic[40:60, 60:100], semantic[5:15, 100:120] = 13, 11, 5  # car, person, pole
    key = "aachen/aachen_000000_000019"
    write_png(tmp_path / "sem" / f"{key}.png", semantic)
    write_npy(tmp_path / "depth" / f"{key}.npy", np.full((64, 128), 0.5, np.float32))
    assert gen.main(["--semantic_dir", str(tmp_path / "sem"), "--depth_dir", str(tmp_path / "depth"),
                     "--output_dir", str(tmp_path / "out")]) == 0
    with np.load(tmp_path / "out" / f"{key}.npz") as npz:
        assert npz["classes"].tolist() == [11, 13] and npz["masks"].shape == (2, 512 * 1024)
        assert npz["scores"].tolist() == [1.0, 0.75]  # area / largest area: 800 vs 600 px, x16 at 512x1024
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["per_class_counts"]["car"] == 1 and stats["per_class_counts"]["person"] == 1


def test_original_instance_png_draws_later_masks_over_earlier_ones() -> None:
    from pseudo_labels.instances.painting import drawn_instance_map
    from pseudo_labels.instances.splitting import Instances

    first = np.full((2, 3), -1, np.int64)
    first[0, :] = 0
    second = np.full((2, 3), -1, np.int64)
    second[0, 2] = 1  # mask 1 reclaimed a pixel of mask 0
    first[1, 2] = 1
    found = Instances.from_maps(np.array([13, 13]), np.array([3, 2]), first, second)
    assert drawn_instance_map(found).tolist() == [[1, 1, 2], [0, 0, 2]]


# --------------------------------------------------------------------------- panoptic maps


def test_panoptic_maps_equal_the_original(synthetic_val: Path, original_instances: Path, tmp_path: Path) -> None:
    golden = json.loads((GOLDEN / "panoptic_k24.json").read_text())
    out = tmp_path / "pan"
    assert gp.main(["--semantic_dir", str(synthetic_val / SEMANTIC / "val"), "--instance_dir", str(original_instances),
                    "--stuff_things", str(GOLDEN / "stuff_things_k24.json"), "--output_dir", str(out)]) == 0
    for key, expected in golden["images"].items():
        array = np.load(out / f"{key}.npy")
        assert array.dtype == np.int32 and list(array.shape) == expected["shape"] and _sha(array) == expected["npy"]
        assert _sha(cs.read_png(out / f"{key}_panoptic.png")) == expected["png"]
    assert json.loads((out / "stats.json").read_text()) == golden["stats"]
    assert gp.main(["--semantic_dir", str(synthetic_val / SEMANTIC / "val"), "--stuff_things",
                    str(GOLDEN / "stuff_things_k24.json"), "--output_dir", str(tmp_path / "cc"), "--limit", "2"]) == 0
    assert len(list((tmp_path / "cc").rglob("*.npy"))) == 2


def test_panoptic_map_on_a_hand_made_scene() -> None:
    semantic = np.zeros((20, 20), np.uint8)  # 0 road (stuff), 13 car (thing), 2 building (stuff, 4 px: too small)
    semantic[2:8, 2:8] = 13
    semantic[12:16, 12:16] = 13  # a car no mask covers: connected components, numbered after the masks
    semantic[0, 18:20], semantic[1, 18:20] = 2, 2
    masks = np.zeros((2, 20, 20), bool)
    masks[0, 2:8, 2:8] = True
    masks[1, 0:2, 0:2] = True  # majority road: not a thing, skipped
    panoptic, segments = op.panoptic_map(semantic, InstanceMasks(masks, np.array([0.5, 0.9], np.float32)),
                                         [0, 2], [13])
    assert panoptic[4, 4] == 13001 and panoptic[13, 13] == 13002 and panoptic[0, 19] == 0
    assert [(s["id"], s["isthing"], s["area"]) for s in segments] == [(13001, True, 36), (0, False, 344),
                                                                     (13002, True, 16)]
    assert segments[-1]["score"] == op.FALLBACK_SCORE and segments[0]["category_name"] == "car"
    vis = op.visualisation(panoptic, segments)
    assert vis[4, 4] == 13 * 256 + 1 and vis[13, 13] == 13 * 256 + 2 and vis[0, 0] == 0


def test_panoptic_original_interface_errors(synthetic_val: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--semantic_dir", str(synthetic_val / SEMANTIC / "val"), "--output_dir", str(tmp_path / "o")]
    for argv, message in ((base, "--stuff_things and --output_dir"),
                          ([*base, "--stuff_things", str(GOLDEN / "stuff_things_k24.json"), "--instance_dir",
                            str(tmp_path / "none")], "3 instance file(s) missing"),
                          ([*base, "--cityscapes_root", "R"], "not both")):
        with pytest.raises(SystemExit) as info:
            gp.main(argv)
        assert info.value.code == 2 and message in capsys.readouterr().err
    assert gp.main([*base, "--stuff_things", str(GOLDEN / "stuff_things_k24.json"), "--instance_dir",
                    str(tmp_path / "none"), "--skip_missing"]) == 0
