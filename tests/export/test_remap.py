"""The two relabelling commands."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.cli import remap_cause27 as remap_cause27_to_trainid, remap_clusters as remap_raw_clusters_to_trainid
from pseudo_labels.data.synthetic import write_dataset


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


# --------------------------------------------------------------------------- the original scripts' flags and commands

ORIGINAL_TABLE = {  # the reference's CAUSE-27 -> trainId table (remap script and cascade evaluation)
    0: 0, 1: 1, 2: 255, 3: 255, 4: 2, 5: 3, 6: 4, 7: 255, 8: 255, 9: 255, 10: 5, 11: 5, 12: 6, 13: 7,
    14: 8, 15: 9, 16: 10, 17: 11, 18: 12, 19: 13, 20: 14, 21: 15, 22: 13, 23: 14, 24: 16, 25: 17, 26: 18,
}
ORIGINAL_FLAGS = {  # flag -> (required, default, choices), as original_cli.json lists them
    "remap_raw_clusters_to_trainid.py": {
        "--cityscapes_root": (True, None, None), "--semantic_subdir": (True, None, None),
        "--centroids_path": (True, None, None), "--output_subdir": (False, None, None),
        "--split": (False, "train", None)},
    "remap_cause27_to_trainid.py": {
        "--input_dir": (True, None, None), "--output_dir": (True, None, None),
        "--split": (False, "both", ["train", "val", "both"])},
}
MODULES = {"remap_raw_clusters_to_trainid.py": remap_raw_clusters_to_trainid,
           "remap_cause27_to_trainid.py": remap_cause27_to_trainid}
FULL_ARGV = {  # every required flag of the original, with a value
    "remap_raw_clusters_to_trainid.py": ["--cityscapes_root", "R", "--semantic_subdir", "S", "--centroids_path", "C"],
    "remap_cause27_to_trainid.py": ["--input_dir", "I", "--output_dir", "O"],
}
DOCUMENTED = [  # original_cli.json's commands whose script is one of the two (the docstring's usage)
    {"script": "remap_raw_clusters_to_trainid.py",
     "argv": ["--cityscapes_root", "{ROOT}", "--semantic_subdir", "pseudo_semantic_raw_k100", "--centroids_path",
              "{ROOT}/pseudo_semantic_raw_k100/kmeans_centroids.npz", "--split", "train"],
     "writes": ["pseudo_semantic_mapped_k100/train/*/*.png"]},
]


def test_cause27_table_is_the_originals() -> None:
    from pseudo_labels.export.relabel import cause27_table

    table = cause27_table()
    assert table.dtype == np.uint8 and table.shape == (256,)
    assert table[:27].tolist() == [ORIGINAL_TABLE[i] for i in range(27)]
    assert (table[27:] == 255).all()
    assert table[cs.CAUSE27_NAMES.index("caravan")] == cs.CLASS_NAMES.index("car")  # not void, as in the original


@pytest.mark.parametrize("script", sorted(ORIGINAL_FLAGS))
def test_original_flags_parse_with_their_defaults_and_required_ness(script: str,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    parse = getattr(MODULES[script], "parse_args", MODULES[script].build_parser().parse_args)  # what main parses with
    full = FULL_ARGV[script]
    args = vars(parse(full))
    for flag, (required, default, choices) in ORIGINAL_FLAGS[script].items():
        dest = flag.lstrip("-")
        if required:
            position = full.index(flag)
            with pytest.raises(SystemExit) as info:
                parse(full[:position] + full[position + 2:])
            assert info.value.code == 2 and flag in capsys.readouterr().err
        else:
            assert args[dest] == default
            assert vars(parse([*full, flag, "x" if choices is None else choices[0]]))[dest] is not None
        for choice in choices or ():
            assert vars(parse([*full, flag, choice]))[dest] == choice
        if choices:
            with pytest.raises(SystemExit) as info:
                parse([*full, flag, "test"])
            assert info.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_flags_match_original_cli_json(shared_dir: Path) -> None:
    spec = json.loads((shared_dir / "original_cli.json").read_text())["scripts"]
    for script, flags in ORIGINAL_FLAGS.items():
        assert {f["flag"]: (f["required"], f["default"], f["choices"]) for f in spec[script]["flags"]} == flags
    commands = [c for c in json.loads((shared_dir / "original_cli.json").read_text())["commands"]
                if c["script"] in ORIGINAL_FLAGS]
    assert [{k: c[k] for k in ("script", "argv", "writes")} for c in commands] == DOCUMENTED


def _k100_root(root: Path) -> Path:
    """The layout of the documented command: raw k=100 cluster PNGs of train and their centroid file."""
    write_dataset(root, "train", num_images=2, seed=1, size=(64, 128), num_clusters=100, show_progress=False)
    return root


def _original_remap(raw: np.ndarray, cluster_to_class: np.ndarray) -> np.ndarray:
    """The original script's lookup: 256 entries of 255, the first K from cluster_to_class."""
    lut = np.full(256, 255, np.uint8)
    lut[: len(cluster_to_class)] = cluster_to_class
    return lut[raw]


@pytest.mark.parametrize("command", DOCUMENTED, ids=lambda c: c["script"])
def test_documented_commands_write_what_the_original_writes(command: dict, tmp_path: Path) -> None:
    root = _k100_root(tmp_path / "root")
    argv = [arg.replace("{ROOT}", str(root)) for arg in command["argv"]]
    assert MODULES[command["script"]].main(argv) == 0
    with np.load(root / "pseudo_semantic_raw_k100" / "kmeans_centroids.npz") as npz:
        table = npz["cluster_to_class"]
    raw = sorted((root / "pseudo_semantic_raw_k100" / "train").rglob("*.png"))
    for pattern in command["writes"]:
        written = sorted(root.glob(pattern))
        assert [p.relative_to(root / "pseudo_semantic_mapped_k100") for p in written] == \
            [p.relative_to(root / "pseudo_semantic_raw_k100") for p in raw]  # same names, same cities
        for source, target in zip(raw, written):
            with Image.open(target) as image:
                assert image.mode == "L"  # 8-bit grey, as Image.fromarray(uint8) saves it
            assert np.array_equal(np.asarray(Image.open(target)), _original_remap(np.asarray(Image.open(source)), table))


def test_raw_clusters_original_interface_defaults_and_output_subdir(tmp_path: Path) -> None:
    root = _k100_root(tmp_path)
    raw, centroids = "pseudo_semantic_raw_k100", str(tmp_path / "pseudo_semantic_raw_k100" / "kmeans_centroids.npz")
    base = ["--cityscapes_root", str(root), "--semantic_subdir", raw, "--centroids_path", centroids]
    assert remap_raw_clusters_to_trainid.main(base) == 0  # --split train by default
    assert len(list((root / "pseudo_semantic_mapped_k100" / "train").rglob("*.png"))) == 2
    assert remap_raw_clusters_to_trainid.main([*base, "--output_subdir", "mine"]) == 0
    first = sorted((root / "mine" / "train").rglob("*.png"))
    assert [p.read_bytes() for p in first] == \
        [p.read_bytes() for p in sorted((root / "pseudo_semantic_mapped_k100" / "train").rglob("*.png"))]


@pytest.mark.parametrize("extra, message", [
    (["--split", "val"], "pseudo_semantic_raw_k100/val: input folder not found"),  # the original printed and exited 0
    (["--output_dir", "x"], "--output_dir goes with --input_dir"),
])
def test_raw_clusters_original_interface_bad_input_exits_2(extra: list[str], message: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    root = _k100_root(tmp_path)
    argv = ["--cityscapes_root", str(root), "--semantic_subdir", "pseudo_semantic_raw_k100", "--centroids_path",
            str(root / "pseudo_semantic_raw_k100" / "kmeans_centroids.npz"), *extra]
    with pytest.raises(SystemExit) as info:
        remap_raw_clusters_to_trainid.main(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err
    assert not (root / "pseudo_semantic_mapped_k100").exists()


def test_raw_clusters_interfaces_do_not_mix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in [
        (["--cityscapes_root", "R", "--input_dir", "I", "--centroids_path", "C"], "not allowed with argument"),
        (["--input_dir", "I", "--centroids_path", "C"], "--output_dir is required with --input_dir"),
        (["--input_dir", "I", "--output_dir", "O", "--semantic_subdir", "S", "--centroids_path", "C"],
         "go with --cityscapes_root"),
        (["--centroids_path", "C"], "one of the arguments --cityscapes_root --input_dir is required"),
    ]:
        with pytest.raises(SystemExit) as info:
            remap_raw_clusters_to_trainid.main(argv)
        assert info.value.code == 2 and message in capsys.readouterr().err, argv


def _cause27_splits(root: Path) -> dict[str, np.ndarray]:
    """IN/train and IN/val with one 27-class PNG each (every id 0..26 and void)."""
    ids = {"train": np.arange(28, dtype=np.uint8).reshape(4, 7), "val": np.arange(28, dtype=np.uint8)[::-1].reshape(4, 7)}
    for split, array in ids.items():
        array = np.where(array == 27, 255, array).astype(np.uint8)
        ids[split] = array
        (root / split / "lindau").mkdir(parents=True)
        Image.fromarray(array).save(root / split / "lindau" / f"lindau_00000{len(split)}_000019.png")
    return ids


@pytest.mark.parametrize("split", ["train", "val", "both", None])
def test_cause27_split_choices(split: str | None, tmp_path: Path) -> None:
    ids = _cause27_splits(tmp_path / "in")
    argv = ["--input_dir", str(tmp_path / "in"), "--output_dir", str(tmp_path / "out")]
    assert remap_cause27_to_trainid.main(argv + ([] if split is None else ["--split", split])) == 0
    expected = ["train", "val"] if split in ("both", None) else [split]  # the default is both
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == expected
    lut = np.full(256, 255, np.uint8)
    for c27, t19 in ORIGINAL_TABLE.items():
        lut[c27] = t19
    for name in expected:
        (source,) = sorted((tmp_path / "in" / name).rglob("*.png"))
        target = tmp_path / "out" / source.relative_to(tmp_path / "in")
        assert np.array_equal(cs.read_png(target), lut[ids[name]]) and cs.read_png(target).dtype == np.uint8


def test_cause27_both_skips_a_missing_split_and_a_named_missing_split_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _cause27_splits(tmp_path / "in")
    shutil.rmtree(tmp_path / "in" / "val")
    argv = ["--input_dir", str(tmp_path / "in"), "--output_dir", str(tmp_path / "out")]
    assert remap_cause27_to_trainid.main(argv) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["train"]
    with pytest.raises(SystemExit) as info:
        remap_cause27_to_trainid.main([*argv, "--split", "val"])
    assert info.value.code == 2 and "in/val: input folder not found" in capsys.readouterr().err
