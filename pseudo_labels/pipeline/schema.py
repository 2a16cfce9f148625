"""The schema of a run's config file: one dataclass per stage, their defaults and the allowed range of each value.

Defaults are the published recipe (k=80, tau 0.20, A_min 1000) and come from the
library constants, never retyped. A range is field metadata (``low``, ``high``,
``below``), checked by :mod:`pseudo_labels.pipeline.config` after each source is
merged. ``docs/config.md`` lists every key, its meaning and its original flag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data.frames import LAYOUTS, FrameSource
from pseudo_labels.export.panoptic_export import DEFAULT_OUTPUT_SUBDIR as PANOPTIC_SUBDIR
from pseudo_labels.instances.label_free import TODAY_TAU
from pseudo_labels.instances.settings import DEFAULT_DILATION_ITERS, DEFAULT_SIGMA, PUBLISHED_MIN_AREA, PUBLISHED_TAU
from pseudo_labels.semantics.clustering import DEFAULT_N_INIT, DEFAULT_SEED

STAGES = ("semantics", "depth", "stuff_things", "sweep", "cups", "panoptic", "report")
"""Every stage, in the order a run takes them."""
DEFAULT_STAGES = ("semantics", "depth", "sweep", "cups", "panoptic", "report")
PUBLISHED_K = 80
CAUSE27_K = 27


LayoutName = Literal[tuple(LAYOUTS)]  # type: ignore[valid-type]
"""The ``layout`` key takes a layout's name (:data:`pseudo_labels.data.frames.LAYOUTS`)."""

def _key(default: Any = None, *, factory: Any = None, low: float | None = None, high: float | None = None,
         below: float | None = None) -> Any:
    """A schema field with its allowed range: ``low <= v``, ``v <= high``, ``v < below`` (each optional)."""
    limits = {name: value for name, value in (("low", low), ("high", high), ("below", below)) if value is not None}
    if factory is not None:
        return field(default_factory=factory, metadata=limits)
    return field(default=default, metadata=limits)


@dataclass
class SemanticsConfig:
    """Overclustered semantics: fit on val (or load centroids), then label each split."""

    features: Literal["cause", "stand_in", "cause27"] = "cause"
    k: int = _key(PUBLISHED_K, low=2, high=cs.MAX_CLUSTERS)
    centroids: str = "fit"
    label_free: bool = False
    splits: list[Literal["train", "val", "test"]] = _key(factory=lambda: ["val", "train"])
    subdir: Optional[str] = None
    skip_crf: bool = True
    checkpoint_dir: Optional[str] = None
    device: str = "auto"
    batch_size: int = _key(1, low=1)
    amp: bool = False
    kmeans: Literal["minibatch", "torch"] = "minibatch"
    n_init: int = _key(DEFAULT_N_INIT, low=1)
    seed: int = DEFAULT_SEED
    num_workers: int = _key(2, low=0)
    limit: int = _key(0, low=0)


@dataclass
class DepthConfig:
    """SPIdepth depth maps of the splits."""

    splits: list[Literal["train", "val"]] = _key(factory=lambda: ["val", "train"])
    subdir: str = cs.DEPTH_SUBDIR
    checkpoint_dir: Optional[str] = None
    device: Optional[str] = None
    batch_size: int = _key(2, low=1)
    amp: bool = False
    num_workers: int = _key(2, low=0)
    flip_augment: bool = True
    crop_bottom: float = _key(0.0, low=0.0, below=1.0)
    backbone: Optional[str] = None
    limit: Optional[int] = _key(None, low=1)


@dataclass
class StuffThingsConfig:
    """The label-free thing/stuff decision (``stuff_things.json`` beside the cluster maps)."""

    split: Literal["train", "val"] = "train"
    grad_threshold: float = _key(TODAY_TAU, low=0.0)


@dataclass
class SweepConfig:
    """The (tau, A_min) sweep, scored against ground truth (evaluation only)."""

    split: Literal["train", "val"] = "val"
    grad_thresholds: Optional[list[float]] = _key(None, low=0.0)
    min_areas: Optional[list[int]] = _key(None, low=0)
    cc_baseline: bool = True
    protocol: Literal["reference", "official", "cups", "both", "all"] = "both"
    thing_stuff_threshold: Optional[float] = None
    eval_size: list[int] = _key(factory=lambda: list(cs.WORKING_SIZE), low=1)
    max_images: Optional[int] = _key(None, low=1)
    skip_missing: bool = False
    output: Optional[str] = None


@dataclass
class InstancesConfig:
    """How the training labels' instances are cut (both exports), and which clusters are things."""

    tau: Optional[float] = _key(PUBLISHED_TAU, low=0.0)
    min_area: int = _key(PUBLISHED_MIN_AREA, low=0)
    sigma: float = _key(DEFAULT_SIGMA, low=0.0)
    dilation_iters: int = _key(DEFAULT_DILATION_ITERS, low=0)
    from_sweep: Optional[Literal["reference", "official", "cups"]] = None
    things: Literal["majority_vote", "label_free"] = "majority_vote"


@dataclass
class CupsConfig:
    """The CUPS export, one flat folder per split."""

    splits: list[Literal["train", "val"]] = _key(factory=lambda: ["train"])
    subdir: Optional[str] = None
    target: Optional[list[int]] = _key(None, low=1)
    num_classes: Optional[int] = _key(None, low=1)
    instance_png_bits: int = _key(8, low=8, high=16)
    skip_missing: bool = False
    limit: Optional[int] = _key(None, low=1)


@dataclass
class PanopticConfig:
    """The Cityscapes panoptic export (``{subdir}/{split}/`` + ``{subdir}/{split}.json``)."""

    splits: list[Literal["train", "val"]] = _key(factory=lambda: ["train"])
    subdir: str = PANOPTIC_SUBDIR
    target: list[int] = _key(factory=lambda: [1024, 2048], low=1)
    protocol: Literal["official", "reference"] = "official"
    limit: Optional[int] = _key(None, low=1)


@dataclass
class ReportConfig:
    """The sweep's report (Markdown + HTML) with pictures of the worst images."""

    out: Optional[str] = None
    html: bool = True
    pictures: int = _key(4, low=0)


@dataclass
class LaunchConfig:
    """Where the stages run: here, or as SLURM jobs through submitit."""

    launcher: Literal["local", "slurm"] = "local"
    shards: int = _key(1, low=1)
    folder: Optional[str] = None
    submitit_cluster: Literal["slurm", "local"] = "slurm"
    partition: Optional[str] = None
    account: Optional[str] = None
    timeout_min: int = _key(240, low=1)
    cpus_per_task: int = _key(8, low=1)
    mem_gb: int = _key(32, low=1)
    nodes: int = _key(1, low=1)
    gpus_per_node: int = _key(1, low=0)
    array_parallelism: int = _key(256, low=1)
    setup: list[str] = _key(factory=list)


@dataclass
class RunConfig:
    """One run of the pipeline: where, which stages, and each stage's settings."""

    name: str = "run"
    cityscapes_root: Optional[str] = None
    layout: LayoutName = "cityscapes"
    image_root: Optional[str] = None
    stages: list[str] = _key(factory=lambda: list(DEFAULT_STAGES))
    run_dir: Optional[str] = None
    workers: Optional[int] = _key(None, low=1)
    overwrite: bool = False
    semantics: SemanticsConfig = field(default_factory=SemanticsConfig)
    depth: DepthConfig = field(default_factory=DepthConfig)
    stuff_things: StuffThingsConfig = field(default_factory=StuffThingsConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    instances: InstancesConfig = field(default_factory=InstancesConfig)
    cups: CupsConfig = field(default_factory=CupsConfig)
    panoptic: PanopticConfig = field(default_factory=PanopticConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    launch: LaunchConfig = field(default_factory=LaunchConfig)

    @property
    def root(self) -> Path:
        """The Cityscapes root (set by :func:`load_config`)."""
        return Path(self.cityscapes_root or ".")

    @property
    def source(self) -> FrameSource:
        """Where the images are: ``layout`` below ``image_root`` (None: the root)."""
        return FrameSource(self.layout, Path(self.image_root) if self.image_root else None)
