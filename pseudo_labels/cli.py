"""``pseudo-labels <stage> ...``: one console entry point over every stage's command line.

Each stage is a module with a ``main(argv)``; this front end only picks the
module and hands it the remaining arguments, so ``pseudo-labels synthetic --help``
and ``python -m pseudo_labels.synthetic --help`` are the same command.
Modules are imported on demand, so a stage that needs torch costs nothing to the others.
"""

from __future__ import annotations

import importlib
import sys
from importlib import metadata
from collections.abc import Sequence

STAGES: dict[str, tuple[str, str]] = {
    "demo": ("pseudo_labels.demo", "the whole pipeline on synthetic data (no weights needed)"),
    "report": ("pseudo_labels.report", "Markdown report with figures from a sweep JSON"),
    "visualize": ("pseudo_labels.visualize", "side-by-side pictures of pseudo-labels (and errors vs GT)"),
    "synthetic": ("pseudo_labels.synthetic", "write a synthetic Cityscapes-format dataset (tests, demo)"),
    "semantics": ("pseudo_labels.generate_overclustered_semantics",
                  "CAUSE features -> k-means overclustering -> cluster or class PNGs"),
    "restore-centroids": ("pseudo_labels.restore_centroids_k80",
                          "write the published k=80 centroids (PQ 26.74) under the Cityscapes root"),
    "depth": ("pseudo_labels.generate_depth_spidepth", "SPIdepth depth maps (official checkpoint) for a split"),
    "instances": ("pseudo_labels.generate_depth_guided_instances", "depth-guided instances per image (.npz + PNG)"),
    "stuff-things": ("pseudo_labels.classify_stuff_things", "label-free thing/stuff decision per cluster"),
    "evaluate-cascade": ("pseudo_labels.evaluation.evaluate_cascade_pseudolabels",
                         "mIoU, PQ (both protocols) and instance recall/AP of semantic + instance folders"),
    "dinov2-features": ("pseudo_labels.extract_dinov2_features", "raw DINOv2 ViT-B/14 patch tokens per image"),
    "overclustering": ("pseudo_labels.overclustering_cause", "mIoU over k for CAUSE and DINOv2 features"),
    "cause27": ("pseudo_labels.generate_semantic_pseudolabels_cause", "CAUSE-27 baseline: probe clusters, Hungarian"),
    "remap-cause27": ("pseudo_labels.remap_cause27_to_trainid", "CAUSE 27-class PNGs -> trainId PNGs"),
    "remap-clusters": ("pseudo_labels.remap_raw_clusters_to_trainid", "raw cluster PNGs -> trainId PNGs"),
    "panoptic": ("pseudo_labels.generate_panoptic_pseudolabels", "panoptic pseudo-labels in Cityscapes panoptic format"),
    "cups": ("pseudo_labels.convert_to_cups_format", "export CUPS training pseudo-labels (flat folder)"),
    "sweep": ("pseudo_labels.sweep_k50_spidepth", "(tau, A_min) sweep of depth-guided instances, both PQ protocols"),
    "checkpoints": ("pseudo_labels.checkpoints", "verify a checkpoint folder, or download the SPIdepth files"),
    "evaluate-panoptic": ("pseudo_labels.evaluation.evaluate_panoptic",
                          "official Cityscapes PQ of predictions in Cityscapes panoptic format"),
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


if __name__ == "__main__":
    raise SystemExit(main())
