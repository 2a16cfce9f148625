"""``pseudo-labels <stage> ...``: one console entry point over every stage's command line.

Each stage is a module with a ``main(argv)``; this front end only picks the
module and hands it the remaining arguments, so ``pseudo-labels synthetic --help``
and ``python -m pseudo_labels synthetic --help`` are the same command.
Modules are imported on demand, so a stage that needs torch costs nothing to the others.
"""

from __future__ import annotations

import importlib
import sys
from importlib import metadata
from collections.abc import Sequence

STAGES: dict[str, tuple[str, str]] = {
    "demo": ("pseudo_labels.cli.demo", "the whole pipeline on synthetic data (no weights needed)"),
    "run": ("pseudo_labels.cli.run", "run a config file's stages (a published recipe), here or on SLURM"),
    "report": ("pseudo_labels.cli.report", "Markdown report with figures from a sweep JSON"),
    "visualize": ("pseudo_labels.cli.visualize", "side-by-side pictures of pseudo-labels (and errors vs GT)"),
    "synthetic": ("pseudo_labels.cli.synthetic", "write a synthetic Cityscapes-format dataset (tests, demo)"),
    "semantics": ("pseudo_labels.cli.semantics",
                  "CAUSE features -> k-means overclustering -> cluster or class PNGs"),
    "restore-centroids": ("pseudo_labels.cli.restore_centroids",
                          "write the published k=80 centroids (PQ 26.74) under the Cityscapes root"),
    "depth": ("pseudo_labels.cli.depth", "SPIdepth depth maps (official checkpoint) for a split"),
    "instances": ("pseudo_labels.cli.instances", "depth-guided instances per image (.npz + PNG)"),
    "stuff-things": ("pseudo_labels.cli.stuff_things", "label-free thing/stuff decision per cluster"),
    "evaluate-cascade": ("pseudo_labels.cli.evaluate_cascade",
                         "mIoU, PQ (both protocols) and instance recall/AP of semantic + instance folders"),
    "dinov2-features": ("pseudo_labels.cli.dinov2_features", "raw DINOv2 ViT-B/14 patch tokens per image"),
    "overclustering": ("pseudo_labels.cli.overclustering", "mIoU over k for CAUSE and DINOv2 features"),
    "cause27": ("pseudo_labels.cli.cause27", "CAUSE-27 baseline: probe clusters, Hungarian"),
    "remap-cause27": ("pseudo_labels.cli.remap_cause27", "CAUSE 27-class PNGs -> trainId PNGs"),
    "remap-clusters": ("pseudo_labels.cli.remap_clusters", "raw cluster PNGs -> trainId PNGs"),
    "panoptic": ("pseudo_labels.cli.panoptic", "panoptic pseudo-labels in Cityscapes panoptic format"),
    "cups": ("pseudo_labels.cli.cups", "export CUPS training pseudo-labels (flat folder)"),
    "sweep": ("pseudo_labels.cli.sweep", "(tau, A_min) sweep of depth-guided instances, both PQ protocols"),
    "checkpoints": ("pseudo_labels.cli.checkpoints", "verify a checkpoint folder, or download the SPIdepth files"),
    "evaluate-panoptic": ("pseudo_labels.cli.evaluate_panoptic",
                          "official Cityscapes PQ of predictions in Cityscapes panoptic format"),
    "evaluate-cups": ("pseudo_labels.cli.evaluate_cups",
                      "PQ of a CUPS label folder as CUPS scores its 27.8 (27 classes, matched pseudo-classes)"),
}
"""Stage name -> (module with ``main(argv)``, one-line description)."""


def usage() -> str:
    """The help text listing every stage."""
    width = max(len(name) for name in STAGES)
    lines = ["usage: pseudo-labels <stage> [options]   (pseudo-labels <stage> --help for a stage's options)",
             "       pseudo-labels --version", "", "stages:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in STAGES.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``argv[0]`` to its stage's ``main``; unknown stages exit with status 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] in ("-V", "--version"):
        print(f"pseudo-labels {version()}")
        return 0
    stage, rest = argv[0], argv[1:]
    if stage not in STAGES:
        print(f"error: unknown stage {stage!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(STAGES[stage][0])
    program = sys.argv[0]
    sys.argv[0] = f"pseudo-labels {stage}"  # argparse names the program after it: usage lines name the stage
    try:
        return int(module.main(rest) or 0)
    finally:
        sys.argv[0] = program


def version() -> str:
    """The installed package's version (the source tree's when not installed)."""
    try:
        return metadata.version("pseudo-labels")
    except metadata.PackageNotFoundError:
        from pseudo_labels import __version__

        return __version__
