"""The config schema: shipped configs load, bad keys, types and ranges are exit 2 naming key, source and what is allowed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pseudo_labels.cli import run
from pseudo_labels.core.errors import InputError
from pseudo_labels.pipeline.config import dump, load_config, resolve, schema_keys, shipped_configs, write_config
from pseudo_labels.pipeline.schema import STAGES

REPO = Path(__file__).resolve().parents[2]


def test_every_published_row_is_shipped() -> None:
    assert set(shipped_configs()) == {"k80_depth", "k60_depth", "k50_depth", "k300_cc_only", "cause27_depth",
                                      "k80_label_free", "demo"}


@pytest.mark.parametrize("name", sorted(shipped_configs()))
def test_shipped_config_loads_and_replays(name: str, tmp_path: Path) -> None:
    config = resolve(load_config(name, [], tmp_path))
    path = write_config(config, tmp_path / "config.yaml")
    assert resolve(load_config(path)) == config  # the resolved file replays the same run
    assert dump(resolve(load_config(path))) == path.read_text()


def test_the_published_recipe(tmp_path: Path) -> None:
    config = resolve(load_config("k80_depth", [], tmp_path))
    assert (config.semantics.k, config.semantics.centroids, config.instances.tau, config.instances.min_area) == \
        (80, "published", 0.20, 1000)
    assert config.semantics.subdir == "pseudo_semantic_raw_k80" and config.cups.subdir == "cups_pseudo_labels_k80"
    assert config.sweep.output == str(tmp_path / "sweep_k80_spidepth_val.json")
    assert resolve(load_config("k50_depth", [], tmp_path)).instances.tau == 0.30
    free = resolve(load_config("k80_label_free", [], tmp_path))
    assert free.semantics.label_free and free.instances.things == "label_free"
    assert not {"sweep", "panoptic", "report"} & set(free.stages)  # no ground truth anywhere


def test_overrides_are_dotted_and_typed(tmp_path: Path) -> None:
    config = load_config("k80_depth", ["instances.min_area=500", "semantics.splits=[val]", "instances.tau=null",
                                       "semantics.centroids=fit", "semantics.k=60"], tmp_path)
    assert (config.instances.min_area, config.semantics.splits, config.instances.tau, config.semantics.k) == \
        (500, ["val"], None, 60)
    assert resolve(config).semantics.subdir == "pseudo_semantic_raw_k60"


@pytest.mark.parametrize(("text", "expected"), [
    ("semantics:\n  kk: 3\n", r"unknown key 'semantics\.kk'.*Keys under semantics: features, k,"),
    ("semantics:\n  k: many\n", r"semantics\.k: .*'many'.*semantics\.k takes an integer \(>= 2 and <= 65535\)"),
    ("semantics:\n  k: 1\n", r"semantics\.k = 1 is out of range; semantics\.k takes an integer \(>= 2"),
    ("instances:\n  things: gt\n", r"instances\.things: .*takes one of majority_vote, label_free"),
    ("depth:\n  crop_bottom: 1.0\n", r"depth\.crop_bottom = 1\.0 is out of range.*< 1\.0"),
    ("stages: [sweep, train]\n", r"stages: \['train'\] are not stages"),
    ("- a list\n", r"a config file is a mapping"),
])
def test_bad_file_names_key_file_and_allowed(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_config(path, [], tmp_path)
    assert str(path) in str(info.value) and re.search(expected, str(info.value)), str(info.value)


def test_bad_override_names_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"override 'sweep\.protocol=best'.*one of reference, official, cups, both, all"):
        load_config("k80_depth", ["sweep.protocol=best"], tmp_path)
    with pytest.raises(InputError, match=r"override 'instances\.taus=0\.3': unknown key"):
        load_config("k80_depth", ["instances.taus=0.3"], tmp_path)


def test_settings_that_cannot_run_together(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="semantics.centroids published holds k = 80"):
        load_config("k80_depth", ["semantics.k=60"], tmp_path)
    with pytest.raises(InputError, match=r"label_free leaves clusters without classes.*\['sweep', 'report'\]"):
        load_config("k80_depth", ["semantics.centroids=fit", "semantics.label_free=true",
                                  "instances.things=label_free"], tmp_path)
    # label-free clusters are exported for panoptic too, each cluster its own category
    assert load_config("k80_label_free", ["stages=[semantics,depth,stuff_things,cups,panoptic]"], tmp_path)


def test_other_layouts_never_need_cityscapes_ground_truth(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"layout folder has no Cityscapes ground truth.*\['sweep', 'report'\]"):
        load_config("k80_depth", ["layout=folder"], tmp_path)
    transfer = load_config("k80_depth", ["layout=kitti_raw", "stages=[semantics,depth,cups,panoptic]"], tmp_path)
    assert transfer.source.layout == "kitti_raw" and transfer.source.root is None  # the published clusters, named
    with pytest.raises(InputError, match="no ground truth to name clusters by"):
        load_config("k60_depth", ["layout=folder", "stages=[semantics,depth,cups]"], tmp_path)


def test_command_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        run.main(["--config", "k80_depth", "--cityscapes_root", str(tmp_path), "cups.instance_png_bits=12"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and "cups.instance_png_bits takes 8 or 16" in err
    with pytest.raises(SystemExit) as info:
        run.main(["--config", "k80_depth"])
    assert info.value.code == 2 and "pass --cityscapes_root" in capsys.readouterr().err


def test_docs_list_every_key_and_stage() -> None:
    text = (REPO / "docs" / "config.md").read_text()
    missing = [key for key in schema_keys() if f"`{key}`" not in text]
    assert not missing, f"docs/config.md does not list {missing}"
    assert all(f"`{stage}`" in text for stage in STAGES)


@pytest.mark.parametrize("override", ["instances.tau=nan", "instances.sigma=inf", "sweep.thing_stuff_threshold=-inf"])
def test_non_finite_numbers_are_refused(override: str, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=f"override '{override}'.*out of range"):
        load_config("k80_depth", [override], tmp_path)
