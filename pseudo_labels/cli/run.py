"""One command per published recipe: a config file's stages, in order, here or as SLURM jobs.

    pseudo-labels run --config k80_depth --cityscapes_root R
    pseudo-labels run --config k80_depth --cityscapes_root R --stages sweep,cups instances.min_area=500
    pseudo-labels run --config R/runs/k80_depth/config.yaml          # replays a run

``--config`` is a YAML file or the name of a shipped config (``pseudo_labels/configs/``:
k80_depth, k60_depth, k50_depth, k300_cc_only, cause27_depth, k80_label_free, demo).
The stages (semantics, depth, stuff_things, sweep, cups, panoptic, report) run in
that order through the same library functions as their own commands, each
resuming from its manifest; a stage left out of ``--stages`` is skipped, and
then its outputs must already be there. Overrides are dotted ``key=value``
pairs (docs/config.md lists every key). The resolved config, every value
included, is written to ``{run_dir}/config.yaml`` before the first stage.
``--launcher slurm`` submits the stages as SLURM jobs through submitit (job
arrays of ``launch.shards`` shards, dependent merges, ``torchrun`` per node).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.core.errors import InputError, exit_on_input_error
from pseudo_labels.pipeline.config import dump, load_config, resolve, shipped_configs, write_config
from pseudo_labels.pipeline.schema import STAGES
from pseudo_labels.pipeline.slurm import is_rank_zero, submit
from pseudo_labels.pipeline.stages import check_inputs, run_stage

log = logging.getLogger("run")

VALUE_OPTIONS = ("--config", "--cityscapes_root", "--stages", "--launcher")
"""The options that take a value (the token after one is its value, never an override)."""
CONFIG_NAME = "config.yaml"
"""The resolved config's name in the run folder."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    parser.add_argument("--config", required=True,
                        help="a YAML config file, or a shipped config's name (" + ", ".join(shipped_configs()) + ")")
    parser.add_argument("--cityscapes_root", type=Path, default=None,
                        help="Cityscapes root (sets cityscapes_root; required unless the config sets it)")
    parser.add_argument("--stages", default=None,
                        help="comma-separated stages to run (default: the config's stages); from " + ",".join(STAGES))
    parser.add_argument("--launcher", choices=("local", "slurm"), default=None,
                        help="run here, or submit SLURM jobs through submitit (sets launch.launcher)")
    parser.add_argument("--print_config", action="store_true", help="print the resolved config and stop")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="dotted overrides, e.g. instances.tau=0.3 semantics.k=60")
    return parser


def overrides_last(argv: Sequence[str]) -> list[str]:
    """``argv`` with the ``key=value`` overrides moved after the options, so they may stand anywhere."""
    options, overrides, previous = [], [], ""
    for token in argv:
        if "=" in token and not token.startswith("-") and previous not in VALUE_OPTIONS:
            overrides.append(token)
        else:
            options.append(token)
        previous = token
    return options + overrides


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(overrides_last(argv))
    overrides = list(args.overrides)
    if args.stages is not None:
        chosen = [s.strip() for s in args.stages.split(",") if s.strip()]
        unknown = [s for s in chosen if s not in STAGES]
        if unknown or not chosen:
            raise InputError(f"--stages {args.stages}: {unknown or 'no stage'} not among the stages "
                             f"{', '.join(STAGES)}.")
        overrides.append(f"stages=[{','.join(chosen)}]")
    if args.launcher is not None:
        overrides.append(f"launch.launcher={args.launcher}")
    config = resolve(load_config(args.config, overrides, args.cityscapes_root))
    config.stages = [s for s in STAGES if s in config.stages]  # the pipeline's order, whatever the list's
    if args.print_config:
        print(dump(config), end="")
        return 0
    check_inputs(config)
    path = Path(config.run_dir) / CONFIG_NAME
    if is_rank_zero():
        write_config(config, path)
        log.info("resolved config: %s (replay: pseudo-labels run --config %s)", path, path)
    if config.launch.launcher == "slurm":
        for line in submit(config, path):
            print(line)
        return 0
    for stage in config.stages:
        line = run_stage(config, stage)
        if is_rank_zero():
            print(line, flush=True)
    return 0
