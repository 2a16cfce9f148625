"""The stages' option dataclasses mirror their command lines: same fields, order and defaults.

The manifest records the options as the command's arguments, so a library
caller (the demo) and the command line must describe a run identically.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path
from types import ModuleType

import pytest

from pseudo_labels.cli import cause27, dinov2_features, semantics
from pseudo_labels.semantics.cause27_labels import Cause27Options
from pseudo_labels.semantics.dinov2_tokens import TokenOptions
from pseudo_labels.semantics.overclustered import SemanticsOptions


@pytest.mark.parametrize("cli, options", [(semantics, SemanticsOptions), (cause27, Cause27Options),
                                          (dinov2_features, TokenOptions)])
def test_options_mirror_the_flags(cli: ModuleType, options: type) -> None:
    args = cli.build_parser().parse_args(["--cityscapes_root", "R"])
    assert [f.name for f in fields(options)] == list(vars(args))
    assert asdict(options(cityscapes_root=Path("R"))) == vars(args)


def test_default_output_folder_is_named_for_k_and_the_label_kind() -> None:
    assert SemanticsOptions(cityscapes_root=Path("R"), k=80, raw_clusters=True).output_dir == Path(
        "R/pseudo_semantic_raw_k80")
    assert SemanticsOptions(cityscapes_root=Path("R"), k=80).output_dir == Path("R/pseudo_semantic_overclustered_k80")
    assert SemanticsOptions(cityscapes_root=Path("R"), output_subdir="x").output_dir == Path("R/x")


def test_cause27_folders() -> None:
    options = Cause27Options(cityscapes_root=Path("R"))
    assert options.mapping_dir == options.labels_dir == Path("R/pseudo_semantic_cause")
    options = Cause27Options(cityscapes_root=Path("R"), output_dir=Path("M"), output_subdir="S", scales="0.5,1")
    assert (options.mapping_dir, options.labels_dir, options.scale_values) == (Path("M"), Path("R/S"), (0.5, 1.0))
