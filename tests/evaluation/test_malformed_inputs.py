"""Malformed shard files of the sweep and panoptic merges: exit 2 with one message naming the file, nothing written.

The shards are tiny synthetic files in the writers' formats (no image is
processed), so every case runs in milliseconds; the merges of real shards are
in tests/evaluation/test_shard_merge.py and tests/export/test_export.py.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pseudo_labels.cli import panoptic as panoptic_cli
from pseudo_labels.cli import sweep as sweep_cli
from pseudo_labels.data import cityscapes as cs

KEYS = ["aachen/aachen_000000_000019", "aachen/aachen_000001_000019", "bremen/bremen_000000_000019"]
PROTOCOLS = ["reference", "official"]
GRID = [[None, 10], [0.1, 30]]
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6)


def run_main(main: Callable[[list[str]], object], argv: Sequence[str]) -> tuple[int, str]:
    """(exit status, stderr) of a command's ``main``; any other exception (a traceback) fails the test."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code
    return int(code or 0), err.getvalue()


def assert_refused(result: tuple[int, str], output: Path, named: Path) -> str:
    """Exit 2 with one ``error:`` line naming ``named``, no traceback, and ``output`` not written."""
    code, err = result
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 2 and len(lines) == 1 and str(named) in lines[0], err
    assert "Traceback" not in err and not output.exists()
    return lines[0]


# --------------------------------------------------------------------------- sweep shards


def sweep_meta() -> dict:
    """The settings a sharded sweep run records (as sweep_run writes them), for two shards."""
    return {"split": "val", "k": 24, "eval_resolution": [64, 128], "depth_subdir": "depth_spidepth",
            "semantic_subdir": "pseudo_semantic_raw_k24", "protocols": PROTOCOLS, "grid": GRID,
            "depth_blur_sigma": 1.0, "dilation_iters": 3, "needs_depth": True, "num_shards": 2,
            "centroids": {"path": "c/kmeans_centroids.npz", "sha256": "ab" * 32},
            "image_list": {"count": len(KEYS), "sha256": "cd" * 32}}


def sweep_arrays(index: int, meta: dict | None = None) -> dict[str, np.ndarray]:
    """Shard ``index`` of 2 over :data:`KEYS`, with the members, dtypes and shapes ``write_shard`` writes."""
    keys = KEYS[index::2]
    rng = np.random.default_rng(index)
    counts = rng.integers(0, 3, (len(keys), len(PROTOCOLS), len(GRID), 3, cs.NUM_CLASSES)).astype(np.float64)
    stats = np.concatenate([counts, 0.7 * counts[:, :, :, :1]], axis=3)  # TP, FP, FN, IoU sum
    return {"meta": np.str_(json.dumps(meta or sweep_meta(), sort_keys=True)), "shard_index": np.int64(index),
            "keys": np.array(keys, dtype=np.str_), "stats": stats,
            "instances": rng.integers(0, 9, (len(keys), len(GRID))).astype(np.int64),
            "semantic_lines": np.array([f"{k}.png\0{'0' * 64}\n" for k in keys], dtype=np.str_),
            "depth_lines": np.array([f"{k}.npy\0{'1' * 64}\n" for k in keys], dtype=np.str_)}


def sweep_shards(folder: Path, first: dict[str, np.ndarray] | None = None) -> list[Path]:
    """Write both shards (shard 0's arrays replaced by ``first``) under ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"sweep.shard-{i}-of-2.npz" for i in range(2)]
    for i, path in enumerate(paths):
        np.savez(path, **(first if i == 0 and first is not None else sweep_arrays(i)))
    return paths


def sweep_merge(paths: list[Path]) -> tuple[tuple[int, str], Path]:
    output = paths[0].parent / "merged.json"
    return run_main(sweep_cli.main, ["merge", *map(str, paths), "--output", str(output)]), output


def test_synthetic_sweep_shards_merge(tmp_path: Path) -> None:
    (code, err), output = sweep_merge(sweep_shards(tmp_path))
    assert code == 0, err
    record = json.loads(output.read_text())
    assert record["n_images"] == len(KEYS) and record["protocols"] == PROTOCOLS


def _meta_text(text: str) -> Callable[[dict], None]:
    return lambda a: a.update(meta=np.str_(text))


SWEEP_DEFECTS: dict[str, tuple[Callable[[dict], None], str]] = {
    "meta truncated": (_meta_text(json.dumps(sweep_meta())[:40]), "'meta' is not JSON"),
    "meta a list": (_meta_text(json.dumps([sweep_meta()])), "'meta' is JSON list"),
    "meta a number array": (lambda a: a.update(meta=np.float64(1.0)), "'meta'"),
    "no stats": (lambda a: a.pop("stats"), "no ['stats']"),
    "no keys": (lambda a: a.pop("keys"), "no ['keys']"),
    "stats of strings": (lambda a: a.update(stats=np.array(["x"])), "'stats'"),
    "stats of another shape": (lambda a: a.update(stats=a["stats"][..., :5]), "'stats'"),
    "stats negative": (lambda a: a.update(stats=-a["stats"] - 1), "not counts"),
    "shard_index a string": (lambda a: a.update(shard_index=np.str_("0")), "'shard_index'"),
    "shard_index out of range": (lambda a: a.update(shard_index=np.int64(2)), "shard_index 2"),
    "instances float": (lambda a: a.update(instances=a["instances"].astype(np.float64)), "'instances'"),
    "keys integers": (lambda a: a.update(keys=np.arange(len(a["keys"]))), "'keys'"),
    "semantic_lines short": (lambda a: a.update(semantic_lines=a["semantic_lines"][:1]), "'semantic_lines'"),
    "depth_lines missing rows": (lambda a: a.update(depth_lines=np.array([], dtype=np.str_)), "'depth_lines'"),
}


@pytest.mark.parametrize("defect", list(SWEEP_DEFECTS))
def test_malformed_sweep_shard_exit_2(tmp_path: Path, defect: str) -> None:
    change, expected = SWEEP_DEFECTS[defect]
    arrays = sweep_arrays(0)
    change(arrays)
    paths = sweep_shards(tmp_path, arrays)
    line = assert_refused(*sweep_merge(paths), paths[0])
    assert expected in line and "Re-run that shard" in line


REQUIRED_META = ["split", "k", "eval_resolution", "depth_subdir", "semantic_subdir", "protocols", "grid",
                 "depth_blur_sigma", "dilation_iters", "needs_depth", "num_shards", "centroids"]


@FAST
@given(key=st.sampled_from(sorted(sweep_meta())))
def test_sweep_meta_without_a_key_exit_2(tmp_path_factory: pytest.TempPathFactory, key: str) -> None:
    meta = sweep_meta()
    del meta[key]
    paths = sweep_shards(tmp_path_factory.mktemp("nokey"), sweep_arrays(0, meta))
    line = assert_refused(*sweep_merge(paths), paths[0])
    assert (f"has no {key!r}" in line) if key in REQUIRED_META else "different sweep settings" in line


@FAST
@given(key=st.sampled_from(sorted(sweep_meta())), value=json_values)
def test_sweep_meta_field_replaced_merges_or_exit_2(tmp_path_factory: pytest.TempPathFactory, key: str,
                                                    value: object) -> None:
    meta = sweep_meta()
    original = meta[key]
    meta[key] = value
    paths = sweep_shards(tmp_path_factory.mktemp("field"), sweep_arrays(0, meta))
    result, output = sweep_merge(paths)
    if result[0] == 0:  # only a value equal to the recorded one (1.0 for 1) merges; true is no 1, nor 1 true
        assert value == original and isinstance(value, bool) == isinstance(original, bool)
    else:
        assert_refused(result, output, paths[0])


@FAST
@given(member=st.sampled_from(sorted(sweep_arrays(0))),
       replacement=st.sampled_from([np.int64(0), np.float64(0.5), np.str_("x"), np.zeros((1, 2)),
                                    np.array(["a", "b", "c"]), np.zeros(0, np.int64), np.ones((1, 2, 2, 4, 19))]))
def test_sweep_member_replaced_exit_2(tmp_path_factory: pytest.TempPathFactory, member: str,
                                      replacement: np.ndarray) -> None:
    arrays = sweep_arrays(0)
    if member == "shard_index" and replacement.dtype.kind == "i":
        replacement = np.int64(1)  # 0 is the right value; 1 is another shard's
    arrays[member] = replacement
    paths = sweep_shards(tmp_path_factory.mktemp("member"), arrays)
    assert_refused(*sweep_merge(paths), paths[0])


# --------------------------------------------------------------------------- panoptic shards


def panoptic_shard(index: int) -> dict:
    """Shard ``index`` of 2 over :data:`KEYS` as write_panoptic_split writes it (annotations in key order)."""
    keys = KEYS[index::2]
    annotations = [{"image_id": key.split("/")[1], "file_name": f"{key.split('/')[1]}_panoptic.png",
                    "segments_info": [{"id": 1, "category_id": 7, "area": 10, "bbox": [0, 0, 2, 5], "iscrowd": 0},
                                      {"id": 2, "category_id": 26, "area": 4, "bbox": [2, 0, 2, 2], "iscrowd": 0}]}
                   for key in keys]
    settings_ = {"semantic_subdir": "pseudo_semantic_raw_k24", "centroids": "ab" * 32, "cc_instances": False,
                 "grad_threshold": 0.2, "min_area": 100, "dilation_iters": 3, "depth_blur_sigma": 1.0,
                 "target": [256, 512], "min_stuff_area": 1, "min_new_pixels": 1}
    return {"annotations": annotations, "categories": [{"id": 7, "name": "road", "isthing": 0}],
            "shard": {"index": index, "count": 2, "keys": keys, "settings": settings_,
                      "depth_subdir": "depth_spidepth"}}


def panoptic_merge(folder: Path, first: object) -> tuple[tuple[int, str], Path, Path]:
    """Merge shard 0 (given as parsed JSON ``first``, or text) with a good shard 1; (result, shard 0, output)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"val.shard-{i}-of-2.json" for i in range(2)]
    paths[0].write_text(first if isinstance(first, str) else json.dumps(first))
    paths[1].write_text(json.dumps(panoptic_shard(1)))
    output = folder / "merged.json"
    return run_main(panoptic_cli.main, ["merge", *map(str, paths), "--output", str(output)]), paths[0], output


def test_synthetic_panoptic_shards_merge(tmp_path: Path) -> None:
    (code, err), _, output = panoptic_merge(tmp_path, panoptic_shard(0))
    assert code == 0, err
    assert [a["image_id"] for a in json.loads(output.read_text())["annotations"]] == [k.split("/")[1] for k in KEYS]


def _set(path: tuple, value: object) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        *parents, last = path
        for part in parents:
            data = data[part]
        data[last] = value
    return change


def _delete(path: tuple) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        *parents, last = path
        for part in parents:
            data = data[part]
        del data[last]
    return change


PANOPTIC_DEFECTS: dict[str, tuple[Callable[[dict], None], str]] = {
    "no shard.keys": (_delete(("shard", "keys")), "has no ['keys']"),
    "shard.index a string": (_set(("shard", "index"), "0"), "shard.index is '0'"),
    "shard.index out of range": (_set(("shard", "index"), 2), "shard.index is 2"),
    "shard.count a float": (_set(("shard", "count"), 2.5), "shard.count is 2.5"),
    "shard.settings null": (_set(("shard", "settings"), None), "shard.settings is null"),
    "shard.keys a string": (_set(("shard", "keys"), "frankfurt"), "shard.keys is not a list"),
    "shard.depth_subdir a number": (_set(("shard", "depth_subdir"), 3), "shard.depth_subdir is 3"),
    "annotations a dict": (_set(("annotations",), {"a": 1}), "'annotations' list, got an object"),
    "no annotations": (_delete(("annotations",)), "'annotations' list, got none"),
    "segments_info a string": (_set(("annotations", 0, "segments_info"), "x"), "'segments_info' list"),
    "segment id a string": (_set(("annotations", 0, "segments_info", 0, "id"), "1"), "integer 'id'"),
    "no file_name": (_delete(("annotations", 0, "file_name")), "'file_name' string"),
    "annotation of another image": (_set(("annotations", 0, "image_id"), "x"), "names image 'x'"),
    "one annotation too many": (lambda d: d["annotations"].append(copy.deepcopy(d["annotations"][0])), "listed twice"),
    "keys and annotations differ in number": (lambda d: d["shard"]["keys"].append("zz/zz_1"), "annotations for 3"),
}


@pytest.mark.parametrize("defect", list(PANOPTIC_DEFECTS))
def test_malformed_panoptic_shard_exit_2(tmp_path: Path, defect: str) -> None:
    change, expected = PANOPTIC_DEFECTS[defect]
    data = panoptic_shard(0)
    change(data)
    line = assert_refused(*panoptic_merge(tmp_path, data)[::2], tmp_path / "val.shard-0-of-2.json")
    assert expected in line and "Re-run that shard" in line


@pytest.mark.parametrize("text", ["", "{\"annotations\": [", "[1, 2]", "null"])
def test_panoptic_shard_not_json_or_not_an_object_exit_2(tmp_path: Path, text: str) -> None:
    (result, shard, output) = panoptic_merge(tmp_path, text)
    assert_refused(result, output, shard)


REQUIRED_PATHS = [("annotations",), ("shard",), ("shard", "index"), ("shard", "count"), ("shard", "keys"),
                  ("shard", "settings"), ("annotations", 0), ("annotations", 0, "image_id"),
                  ("annotations", 0, "file_name"), ("annotations", 0, "segments_info"),
                  ("annotations", 0, "segments_info", 0, "id"), ("annotations", 0, "segments_info", 0, "category_id"),
                  ("shard", "keys", 0)]


@FAST
@given(path=st.sampled_from(REQUIRED_PATHS))
def test_panoptic_shard_without_a_required_entry_exit_2(tmp_path_factory: pytest.TempPathFactory,
                                                        path: tuple) -> None:
    data = panoptic_shard(0)
    _delete(path)(data)
    folder = tmp_path_factory.mktemp("nokey")
    assert_refused(*panoptic_merge(folder, data)[::2], folder / "val.shard-0-of-2.json")


def _entries(data: object, prefix: tuple = ()) -> list[tuple]:
    """Every path into ``data`` (dict keys and list indices)."""
    children = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else []
    return [path for key, value in children for path in [(*prefix, key), *_entries(value, (*prefix, key))]]


@FAST
@given(path=st.sampled_from(_entries(panoptic_shard(0))), value=json_values)
def test_panoptic_shard_entry_replaced_merges_or_exit_2(tmp_path_factory: pytest.TempPathFactory, path: tuple,
                                                        value: object) -> None:
    data = panoptic_shard(0)
    _set(path, value)(data)
    folder = tmp_path_factory.mktemp("entry")
    result, shard, output = panoptic_merge(folder, data)
    if result[0] != 0:
        assert_refused(result, output, shard)
    else:  # a value the merge does not read or check (a segment's area, a category), or an equal one
        assert json.loads(output.read_text())["annotations"][0]["image_id"] == KEYS[0].split("/")[1]
