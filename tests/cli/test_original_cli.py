"""The original command lines: every flag of the data-side scripts parses with its default, type and choices,
and every documented command of those scripts runs on synthetic data and writes what it documents.

Table-driven over ``tests/data/original_cli_data_side.json``, a copy of the
entries of ``../shared/original_cli.json`` these tests need (checked against
it when ``../shared`` is there). Covered here: ``classify_stuff_things.py``,
``generate_depth_guided_instances.py``, ``generate_panoptic_pseudolabels.py``,
``sweep_k50_spidepth.py``, ``evaluation/evaluate_cascade_pseudolabels.py``,
``restore_centroids_k80.py`` (flags and commands) and
``generate_overclustered_semantics.py`` (flags only).

Left out, and why:

* the commands of ``generate_overclustered_semantics.py``, and all of
  ``generate_semantic_pseudolabels_cause.py``, ``overclustering_cause.py``,
  ``extract_dinov2_features.py`` and ``generate_depth_spidepth.py``: they run
  the CAUSE / DINOv2 / SPIdepth networks, which need the checkpoints (their own
  tests run them on random full-size weights: test_semantics.py, test_cause.py,
  test_dinov2_features.py, test_spidepth.py);
* ``convert_to_cups_format.py`` and the remap scripts: tests/test_cups.py and
  tests/test_remap.py hold the same tables for them.

Where a command deliberately does something else than the original (README,
"Differences from the original scripts"), :data:`EXPECTED_EXIT` says so.
"""

from __future__ import annotations

import contextlib
import glob
import importlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.core.fileio import write_png
from pseudo_labels.data.synthetic import write_dataset

COPY = Path(__file__).resolve().parents[1] / "fixtures" / "original_cli_data_side.json"
ORIGINAL = json.loads(COPY.read_text())
MODULES = {
    "classify_stuff_things.py": "pseudo_labels.cli.stuff_things",
    "generate_depth_guided_instances.py": "pseudo_labels.cli.instances",
    "generate_panoptic_pseudolabels.py": "pseudo_labels.cli.panoptic",
    "sweep_k50_spidepth.py": "pseudo_labels.cli.sweep",
    "evaluation/evaluate_cascade_pseudolabels.py": "pseudo_labels.cli.evaluate_cascade",
    "restore_centroids_k80.py": "pseudo_labels.cli.restore_centroids",
    "generate_overclustered_semantics.py": "pseudo_labels.cli.semantics",
}
NETWORK_COMMANDS = {"generate_overclustered_semantics.py"}
"""Scripts whose commands need network checkpoints (their flags are still checked)."""
MINIMAL_ARGS = {
    "classify_stuff_things.py": ["--semantic_dir", "S", "--depth_dir", "D", "--output_path", "o.json"],
    "generate_depth_guided_instances.py": ["--semantic_dir", "S", "--depth_dir", "D", "--output_dir", "O"],
    "generate_panoptic_pseudolabels.py": ["--semantic_dir", "S", "--stuff_things", "s.json", "--output_dir", "O"],
}
"""The original's required flags, for parsing one more flag; the other scripts need --cityscapes_root."""
TWO_INTERFACES = {"classify_stuff_things.py", "generate_panoptic_pseudolabels.py"}
"""Scripts where the original's required flags select the original interface beside --cityscapes_root:
argparse cannot require them, so main() does (exit 2), tested below."""
COMPUTED_DEFAULTS = {
    ("classify_stuff_things.py", "--grad_threshold"): (None, "0.05 with --semantic_dir, 0.20 with --cityscapes_root"),
    ("generate_overclustered_semantics.py", "--checkpoint_dir"): (
        Path("checkpoints"), "the original's None meant its checkout's checkpoints/ folder"),
}
EXPECTED_EXIT: dict[tuple[str, str], tuple[int, str, str]] = {}
"""Documented commands that stop on purpose: (script, source) -> (status, text of the message, why). The original
README's generate_depth_guided_instances.py command (raw k=80 clusters, no flag) used to stop here; it now takes
the centroid file beside the cluster maps (tests/cli/test_original_chain.py)."""


def _command_id(command: dict) -> str:
    return f"{command['script']}[{command['source'].split()[0]}]:{' '.join(command['argv'][2:6])}"


def _parser(script: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(MODULES[script]).build_parser()


def _base(script: str) -> list[str]:
    return MINIMAL_ARGS.get(script, ["--cityscapes_root", "R"])


FLAGS = [(script, flag) for script, entry in ORIGINAL["scripts"].items() for flag in entry["flags"]]


@pytest.mark.parametrize("script, flag", FLAGS, ids=[f"{s}:{f['flag']}" for s, f in FLAGS])
def test_every_original_flag_parses_with_its_default_type_and_choices(script: str, flag: dict) -> None:
    parser = _parser(script)
    action = next((a for a in parser._actions if flag["flag"] in a.option_strings), None)
    assert action is not None, f"{script} lacks {flag['flag']}"
    assert action.required == flag["required"] or (script in TWO_INTERFACES and flag["required"])
    if flag["action"] == "store_true":
        assert action.const is True and not action.default
        assert getattr(parser.parse_args([*_base(script), flag["flag"]]), action.dest) is True
        return
    if (script, flag["flag"]) in COMPUTED_DEFAULTS:
        assert action.default == COMPUTED_DEFAULTS[(script, flag["flag"])][0]
    else:
        default = list(action.default) if isinstance(action.default, tuple) else action.default
        assert default == flag["default"] or str(default) == str(flag["default"])  # paths are Path objects here
    for choice in flag["choices"] or []:
        assert str(getattr(parser.parse_args([*_base(script), flag["flag"], str(choice)]), action.dest)) == str(choice)
    python_type = {"int": int, "float": float, "str": str, None: str}[flag["type"]]  # None: argparse's str
    sample = str(list(action.choices)[0]) if action.choices else "3"  # --split here: train, val or test
    values = [sample] * (2 if flag["nargs"] in (2, "+") else 1)
    parsed = getattr(parser.parse_args([*_base(script), flag["flag"], *values]), action.dest)
    for value in parsed if flag["nargs"] in (2, "+") else [parsed]:
        assert isinstance(value, python_type) or (python_type is str and isinstance(value, Path))


@pytest.mark.parametrize("script", sorted(TWO_INTERFACES))
def test_the_original_required_flags_are_required_in_the_original_interface(
        script: str, capsys: pytest.CaptureFixture[str]) -> None:
    module = importlib.import_module(MODULES[script])
    required = [f["flag"] for f in ORIGINAL["scripts"][script]["flags"] if f["required"]]
    for left_out in required:
        argv = MINIMAL_ARGS[script]
        index = argv.index(left_out)
        with pytest.raises(SystemExit) as info:
            module.main(argv[:index] + argv[index + 2:])
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert "--semantic_dir" in err and (left_out == "--semantic_dir" or left_out in err)


# --------------------------------------------------------------------------- the documented commands


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One train and one val image (128x256): raw clusters k=80 and k=50, trainId maps, depth under both names."""
    root = tmp_path_factory.mktemp("original_cli")
    for split, k in (("train", 80), ("val", 80), ("val", 50)):  # same seed: same scenes, one k=80 table
        write_dataset(root, split, num_images=1, seed=3, size=(128, 256), num_clusters=k, show_progress=False)
    with np.load(root / "pseudo_semantic_raw_k80" / "kmeans_centroids.npz") as npz:
        table = npz["cluster_to_class"]
    for split in ("train", "val"):  # "DINOv3 linear-probe" trainIds: the clusters through their classes
        for key, path in cs.output_paths(root / "pseudo_semantic_raw_k80", split, ".png").items():
            write_png(cs.output_path(root / "pseudo_semantic_dinov3", split, key, ".png"), table[cs.read_png(path)])
    shutil.copytree(root / cs.DEPTH_SUBDIR / "train", root / "depth_dav3" / "train")
    return root


@pytest.fixture(scope="module")
def results(root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, Path]]:
    """Run every documented data-side command in documented order: (exit status, stderr, root) per command."""
    fresh = tmp_path_factory.mktemp("fresh_root")  # restore_centroids_k80 wants a root without other k=80 centroids
    done = {}
    for command in ORIGINAL["commands"]:
        if command["script"] in NETWORK_COMMANDS:
            continue
        where = fresh if command["script"] == "restore_centroids_k80.py" else root
        argv = [a.replace("{ROOT}", str(where)) for a in command["argv"]]
        main = importlib.import_module(MODULES[command["script"]]).main
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code
        done[_command_id(command)] = (code, err.getvalue(), where)
    return done


DATA_COMMANDS = [c for c in ORIGINAL["commands"] if c["script"] not in NETWORK_COMMANDS]


@pytest.mark.parametrize("command", DATA_COMMANDS, ids=[_command_id(c) for c in DATA_COMMANDS])
def test_every_documented_command_runs_and_writes_what_it_documents(command: dict, results: dict) -> None:
    code, err, where = results[_command_id(command)]
    expected = EXPECTED_EXIT.get((command["script"], command["source"].split()[0]))
    if expected is not None:
        assert code == expected[0] and expected[1] in err, err
        return
    assert code == 0, err
    for pattern in command["writes"]:
        assert glob.glob(str(where / pattern)), f"{pattern} not written"


def test_the_documented_chain_writes_the_original_files(results: dict, root: Path) -> None:
    """classify -> instances -> panoptic as documented: the original's keys, dtypes and layouts."""
    record = json.loads((root / "pseudo_semantic_dinov3" / "stuff_things.json").read_text())
    assert list(record) == ["classification", "statistics", "stuff_ids", "thing_ids"] and len(record["thing_ids"]) == 8
    npz_path = next((root / "pseudo_instance_depth" / "train").rglob("*.npz"))
    with np.load(npz_path) as npz:
        assert {"masks", "scores", "num_valid", "h_patches", "w_patches"} <= set(npz.files)
        assert npz["masks"].dtype == bool and npz["scores"].dtype == np.float32
        assert set(npz["classes"].tolist()) <= set(record["thing_ids"])
    panoptic_path = next((root / "pseudo_panoptic" / "train").rglob("*.npy"))
    panoptic = np.load(panoptic_path)
    semantic = cs.read_png(root / "pseudo_semantic_dinov3" / "train" / panoptic_path.parent.name /
                           f"{panoptic_path.stem}.png")
    assert panoptic.dtype == np.int32 and panoptic.shape == semantic.shape  # at the semantic map's size
    assert set(np.unique(panoptic // 1000).tolist()) <= set(record["thing_ids"]) | set(record["stuff_ids"])
    assert json.loads((root / "pseudo_panoptic" / "train" / "stats.json").read_text())["total_images"] == 1
    assert (root / "eval_cascade_val.json").is_file()  # the cascade evaluator's default output
