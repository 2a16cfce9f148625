"""Command-line options several stages share: the numeric flag types, the split settings and ``--from_sweep``.

Every numeric flag parses through a :class:`Number`: a finite int or float in
the flag's range, else argparse's exit status 2 with a message naming the flag
and the range, before any work. The named ranges below are the rules;
``docs/reliability.md`` lists which flag takes which.

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
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.core.errors import InputError
from pseudo_labels.core.parallel import MAX_DEFAULT_WORKERS
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data.frames import LAYOUTS, FrameSource
from pseudo_labels.evaluation.panoptic import REFERENCE
from pseudo_labels.evaluation.sweep import PROTOCOLS as SWEEP_PROTOCOLS
from pseudo_labels.instances.settings import SplitSettings, from_sweep

_UNSET = object()


@dataclass(frozen=True)
class Number:
    """An argparse ``type``: ``kind`` (int or float) from the text, finite, ``low <= v``, ``v <= high``, ``v < below``.

    Anything else (not a number, NaN, inf, out of range) is an
    :class:`argparse.ArgumentTypeError`, which argparse reports as
    ``argument --flag: must be an integer >= 1, got -3`` with exit status 2.
    ``note`` says what a special value means (``0: all``).
    """

    kind: type = int
    low: float | None = None
    high: float | None = None
    below: float | None = None
    note: str = ""

    def describe(self) -> str:
        """The allowed values in words: ``an integer >= 1``, ``a number in [0, 1)``, ``a finite number``."""
        def show(bound: float) -> str:
            return str(int(bound)) if self.kind is int else f"{bound:g}"

        noun = "an integer" if self.kind is int else "a number"
        if self.low is not None and self.high is not None:
            text = f"{noun} in {show(self.low)}..{show(self.high)}" if self.kind is int else \
                f"{noun} in [{show(self.low)}, {show(self.high)}]"
        elif self.low is not None and self.below is not None:
            text = f"{noun} in [{show(self.low)}, {show(self.below)})"
        else:
            bounds = [f"{sign} {show(value)}" for sign, value in ((">=", self.low), ("<=", self.high),
                                                                  ("<", self.below)) if value is not None]
            text = f"{noun} {' and '.join(bounds)}" if bounds else f"a finite {noun.split()[-1]}"
        return f"{text} ({self.note})" if self.note else text

    def __call__(self, text: str) -> int | float:
        shown = text if len(text) <= 24 else f"{text[:20]}..."
        try:
            value = self.kind(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"must be {self.describe()}, got {shown!r}") from None
        if not ((self.kind is int or math.isfinite(value)) and (self.low is None or value >= self.low)
                and (self.high is None or value <= self.high) and (self.below is None or value < self.below)):
            raise argparse.ArgumentTypeError(f"must be {self.describe()}, got {shown}")
        return value

    def __repr__(self) -> str:
        return f"Number({self.describe()})"


POSITIVE_INT = Number(int, low=1)
"""Counts that must hold something: images (a None default: all), batch sizes, sizes in pixels, classes."""
NON_NEGATIVE_INT = Number(int, low=0)
"""Areas in pixels (A_min: 0 keeps every piece), dilation steps, processes where 0 means this process, device ids."""
FIRST_N_OR_ALL = Number(int, low=0, note="0: all")
"""``--limit`` / ``--max_images`` flags whose 0 means every image."""
NON_NEGATIVE = Number(float, low=0.0)
"""Thresholds on magnitudes (tau, fractions, ratios) and blur sigmas."""
FINITE = Number(float)
"""Thresholds of either sign (CUPS' ``DATA.THING_STUFF_THRESHOLD``)."""
RANDOM_SEED = Number(int, low=0, high=2**32 - 1)
"""Random seeds: what ``numpy.random.RandomState`` and scikit-learn accept."""
CLUSTERS = Number(int, low=2, high=cs.MAX_CLUSTERS)
"""k of k-means: at least 2, at most what a 16-bit cluster PNG holds."""


def add_layout_arguments(parser: argparse.ArgumentParser, effect: str) -> None:
    """``--layout`` and ``--image_root``: where a stage's images are when they are not Cityscapes. ``effect`` says
    what the layout changes in this stage."""
    parser.add_argument("--layout", choices=tuple(LAYOUTS), default="cityscapes",
                        help=f"how the images are laid out: Cityscapes, a plain folder (recursive png/jpg), KITTI raw, "
                             f"KITTI-STEP or BDD100K (docs/datasets.md); {effect}")
    parser.add_argument("--image_root", type=Path, default=None,
                        help="where the images are, in --layout (default: --cityscapes_root); outputs go under "
                             "--cityscapes_root, never inside this folder")


def frame_source(args: argparse.Namespace) -> FrameSource:
    """The :class:`FrameSource` of ``--layout`` and ``--image_root``."""
    return FrameSource(args.layout, args.image_root)


def add_workers_argument(parser: argparse.ArgumentParser) -> None:
    """``--workers``: processes on this machine (default, or 0: the usable CPUs, at most 8; 1: no pool)."""
    parser.add_argument("--workers", type=Number(int, low=0, note="0: the default"), default=None,
                        help=f"worker processes (default: CPUs, at most {MAX_DEFAULT_WORKERS}; 1 = no pool)")


def add_shard_arguments(parser: argparse.ArgumentParser) -> None:
    """``--num_shards`` / ``--shard_index``: run one deterministic slice of the images (for job arrays).

    The index is checked against the count after parsing (:func:`pseudo_labels.core.parallel.run_shard`).
    """
    parser.add_argument("--num_shards", type=POSITIVE_INT, default=1, help="split the images into this many shards")
    parser.add_argument("--shard_index", type=NON_NEGATIVE_INT, default=0,
                        help="which shard this run processes (0-based)")


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
