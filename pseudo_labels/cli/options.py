"""Command-line options several stages share: the split settings and ``--from_sweep``.

The original scripts name the split's numbers differently (``--min_area`` or
``--min_instance_area``, ``--depth_blur`` or ``--depth_blur_sigma``) and keep
their own defaults, so each stage names its flags in a :class:`SplitFlags`;
:func:`split_settings` turns them into the one
:class:`~pseudo_labels.instances.settings.SplitSettings` the library takes.
``--from_sweep SWEEP.json`` takes all four from a sweep's best configuration
instead, so a picture or an export uses exactly what the sweep scored.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.core.errors import InputError
from pseudo_labels.evaluation.panoptic import REFERENCE
from pseudo_labels.evaluation.sweep import PROTOCOLS as SWEEP_PROTOCOLS
from pseudo_labels.instances.settings import SplitSettings, from_sweep

_UNSET = object()


@dataclass(frozen=True)
class SplitFlags:
    """The ``dest`` names of a stage's split flags (argparse attribute names)."""

    tau: str = "grad_threshold"
    min_area: str = "min_area"
    sigma: str = "depth_blur_sigma"
    dilation_iters: str = "dilation_iters"

    def dests(self) -> tuple[str, str, str, str]:
        return self.tau, self.min_area, self.sigma, self.dilation_iters


def merge_parser(what: str, shard_files: str) -> argparse.ArgumentParser:
    """The parser of a stage's ``merge`` sub-command: the shard files and an optional ``--output``."""
    parser = argparse.ArgumentParser(prog=f"{Path(sys.argv[0]).name} merge", formatter_class=HelpFormatter,
                                     description=f"merge {what}")
    parser.add_argument("shards", nargs="+", type=Path, help=f"the {shard_files} files")
    parser.add_argument("--output", type=Path, default=None, help="default: the shards' name without the shard suffix")
    return parser


def add_from_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """``--from_sweep JSON`` and ``--sweep_protocol``: take tau, A_min, sigma and dilation from a sweep's best."""
    parser.add_argument("--from_sweep", type=Path, default=None, metavar="SWEEP_JSON",
                        help="take tau, A_min, blur sigma and dilation from this sweep's best configuration "
                             "(instead of the split flags)")
    parser.add_argument("--sweep_protocol", choices=SWEEP_PROTOCOLS, default=REFERENCE,
                        help="whose best configuration --from_sweep takes")


def explicitly_given(parser: argparse.ArgumentParser, argv: Sequence[str] | None, dests: Sequence[str]) -> list[str]:
    """Which of ``dests`` the command line sets (abbreviations included), as opposed to their defaults."""
    saved = {dest: parser.get_default(dest) for dest in dests}
    parser.set_defaults(**{dest: _UNSET for dest in dests})
    try:
        parsed, _ = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    finally:
        parser.set_defaults(**saved)
    return [dest for dest in dests if getattr(parsed, dest, _UNSET) is not _UNSET]


def split_settings(parser: argparse.ArgumentParser, argv: Sequence[str] | None, args: argparse.Namespace,
                   flags: SplitFlags = SplitFlags(), uses_depth: bool = True) -> SplitSettings:
    """The stage's :class:`SplitSettings`: from ``--from_sweep`` when given (then no split flag may be), else its flags.

    ``uses_depth=False`` (a stage run without its depth switch) gives the
    connected-component split: tau None.
    """
    sweep = getattr(args, "from_sweep", None)
    if sweep is not None:
        given = explicitly_given(parser, argv, [d for d in flags.dests() if hasattr(args, d)])
        if given:
            raise InputError(f"--from_sweep sets tau, A_min, sigma and dilation from {sweep}; drop "
                             f"{', '.join('--' + d for d in given)} (or drop --from_sweep).")
        settings = from_sweep(sweep, args.sweep_protocol)
        for dest, value in zip(flags.dests(), (settings.tau, settings.min_area, settings.sigma,
                                               settings.dilation_iters)):
            if hasattr(args, dest):
                setattr(args, dest, value)  # the manifest and outputs then record what ran
        return settings
    return SplitSettings(getattr(args, flags.tau) if uses_depth else None, getattr(args, flags.min_area),
                         getattr(args, flags.sigma), getattr(args, flags.dilation_iters))
