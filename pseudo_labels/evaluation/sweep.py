"""The (tau, A_min) parameter sweep of depth-guided instances, scored under both protocols.

Per image, the expensive parts are shared: the depth gradient is computed once,
connected components once per tau (reused for every A_min), the ground truth
and the stuff part of the pixel-pair counts once per protocol. Each
configuration then only counts the pixels of thing classes. Per-image
statistics add up in image order, so the result does not depend on the number
of worker processes.

:class:`ImageEvaluator` is the per-(image, protocol) scorer; :func:`evaluate_image`
runs a whole grid on one image; :func:`run_sweep` runs it over a dataset.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.instances import splitting as inst
from pseudo_labels.instances.painting import paint_instances
from pseudo_labels.instances.settings import CC_MIN_AREA, DEFAULT_DILATION_ITERS, DEFAULT_SIGMA, SplitSettings
from pseudo_labels.evaluation import cups_protocol as cp
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.core.parallel import ordered_map
from pseudo_labels.formats.depth import load_depth
from pseudo_labels.formats.semantic import load_semantic, read_label_png
from pseudo_labels.instances.painting import one_class_per_instance

PROTOCOLS = (*pan.PROTOCOLS, cp.CUPS)
"""Every protocol a sweep scores: the reference and official ones of :mod:`panoptic`, and CUPS' (:mod:`cups_protocol`)."""

REFERENCE_GRID: tuple[tuple[float, int], ...] = (
    (0.05, 100), (0.08, 200), (0.08, 500), (0.12, 200), (0.12, 500), (0.20, 200), (0.20, 500),
    (0.30, 500), (0.30, 600), (0.30, 700), (0.30, 800), (0.30, 1000),
    (0.50, 500), (0.50, 600), (0.50, 700), (0.50, 800), (0.50, 1000),
    (0.60, 500), (0.60, 600), (0.60, 700), (0.60, 800), (0.70, 600), (0.70, 700), (0.70, 800),
    (0.80, 500), (0.80, 1000), (0.80, 2000), (0.90, 1000), (1.00, 500), (1.00, 1000), (1.00, 2000),
)
"""The 31 (tau, A_min) configurations the original sweep runs by default."""

PUBLISHED_TAUS = (0.05, 0.10, 0.15, 0.20, 0.30, 0.50)
PUBLISHED_MIN_AREAS = (500, 700, 1000)
"""The grid around the published best (tau 0.20, A_min 1000), which the reference grid lacks."""

FALLBACK_TAUS = (0.05, 0.08, 0.12, 0.20, 0.30, 0.50, 0.60, 0.70, 0.80, 0.90, 1.00)
FALLBACK_MIN_AREAS = (100, 200, 500, 800, 1000, 2000)
"""Lists the original uses for the missing axis when only one of the two is given."""



CC_BASELINE = SplitSettings(None, CC_MIN_AREA)
"""The connected-component baseline (no depth)."""


def build_grid(taus: Sequence[float] | None = None, min_areas: Sequence[int] | None = None,
               cc_baseline: bool = True, sigma: float = DEFAULT_SIGMA,
               dilation_iters: int = DEFAULT_DILATION_ITERS) -> list[SplitSettings]:
    """The configurations to run, CC-only first (when asked), then sorted by (tau, A_min).

    Default (neither list): the reference's 31 configurations plus
    ``PUBLISHED_TAUS x PUBLISHED_MIN_AREAS``. Both lists: their product. One
    list: its product with the fallback list of the other axis.
    """
    if taus is None and min_areas is None:
        pairs = set(REFERENCE_GRID) | {(t, a) for t in PUBLISHED_TAUS for a in PUBLISHED_MIN_AREAS}
    else:
        pairs = {(float(t), int(a)) for t in (taus or FALLBACK_TAUS) for a in (min_areas or FALLBACK_MIN_AREAS)}
    grid = [SplitSettings(t, a, sigma, dilation_iters) for t, a in sorted(pairs)]
    return ([replace(CC_BASELINE, sigma=sigma, dilation_iters=dilation_iters)] if cc_baseline else []) + grid


# --------------------------------------------------------------------------- one image, one protocol


@dataclass(frozen=True)
class PixelPairs:
    """(prediction pixel at the eval size, GT segment) pairs and how many GT-resolution pixels link them.

    When GT and prediction have the same size this is one pair per pixel with
    weight 1 (``weight`` None); at full GT resolution each eval pixel covers
    several GT pixels (Pillow NEAREST upsampling), grouped once per image.
    """

    pred_index: np.ndarray
    gt_id: np.ndarray
    weight: np.ndarray | None  # None: every pair weighs 1


@functools.lru_cache(maxsize=4)
def upsampling_source(pred_shape: tuple[int, int], gt_shape: tuple[int, int]) -> np.ndarray:
    """Flat prediction index that Pillow NEAREST upsampling puts at each GT pixel (flat, read-only)."""
    index = np.arange(pred_shape[0] * pred_shape[1], dtype=np.int64).reshape(pred_shape)
    source = cs.resize_nearest(index, gt_shape).ravel()
    source.setflags(write=False)
    return source


def pixel_pairs(gt_ids: np.ndarray, pred_shape: tuple[int, int], selected: np.ndarray) -> PixelPairs:
    """Pairs linking the ``selected`` prediction pixels (flat bool mask) to the GT segments they cover."""
    size = pred_shape[0] * pred_shape[1]
    if gt_ids.shape == tuple(pred_shape):
        index = np.flatnonzero(selected)
        return PixelPairs(index, gt_ids.ravel()[index].astype(np.int64), None)
    source = upsampling_source(tuple(pred_shape), gt_ids.shape)
    covered = selected[source]
    keys, weights = np.unique(gt_ids.ravel()[covered].astype(np.int64) * size + source[covered], return_counts=True)
    return PixelPairs(keys % size, keys // size, weights.astype(np.int64))


def _weighted_counts(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray | None,
                     shape: tuple[int, int]) -> np.ndarray:
    """``shape`` matrix of summed ``weights`` (or plain counts) per (row, col) pair."""
    flat = np.bincount(rows * shape[1] + cols, weights=weights, minlength=shape[0] * shape[1])
    if weights is not None:
        flat = np.rint(flat).astype(np.int64)  # integer sums below 2**53 are exact in float64
    return flat.reshape(shape)


class ImageEvaluator:
    """Scores any set of instances of one image against its GT under one protocol.

    Built once per (image, protocol): it fixes the predicted stuff segments,
    counts their pixel pairs, and keeps only the pairs on the other pixels
    (thing classes, located in the canonical :class:`~pseudo_labels.instances.splitting.ThingPixels`
    order, and void) for the per-configuration work in :meth:`stats`.
    """

    def __init__(self, semantic: np.ndarray, things: inst.ThingPixels, gt: pan.Segments, protocol: str) -> None:
        if protocol not in pan.PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r}")
        self.protocol = protocol
        self.gt = gt
        self.min_stuff_area, self.min_new_pixels = pan.area_rule(protocol)
        stuff = pan.predicted_segments(semantic, inst.Instances.empty(semantic.shape), self.min_stuff_area, 1)
        self.stuff_classes = stuff.classes
        # Stuff part, fixed for every configuration: counted once at the GT's resolution.
        stuff_ids = stuff.ids.ravel()
        if gt.ids.shape != semantic.shape:
            stuff_ids = stuff_ids[upsampling_source(semantic.shape, gt.ids.shape)]
        on_stuff = stuff_ids > 0
        self.stuff_counts = _weighted_counts(gt.ids.ravel()[on_stuff].astype(np.int64), stuff_ids[on_stuff], None,
                                             (gt.count + 1, stuff.count + 1))
        # Thing part: only these pairs are counted per configuration (void prediction pixels join column 0).
        self.thing_pairs = pixel_pairs(gt.ids, semantic.shape, stuff.ids.ravel() == 0)
        self.n_thing_pixels = len(things.pixels)
        position = np.full(semantic.size, -1, np.int64)
        position[things.pixels] = np.arange(len(things.pixels))
        self.thing_position = position[self.thing_pairs.pred_index]  # where each pair's pixel is listed, or -1

    def stats(self, instances: inst.Instances) -> pan.PanopticStats:
        """TP/FP/FN/IoU of this image when ``instances`` (built on the same ThingPixels) are the things."""
        if len(instances.pixels) not in (0, self.n_thing_pixels):
            raise ValueError("instances were not built on this image's ThingPixels")
        owner, painted = paint_instances(instances, self.min_new_pixels)
        painted_index = np.flatnonzero(painted)
        local = np.zeros(len(instances) + 1, np.int64)  # owner -1 -> 0 (void)
        local[painted_index] = np.arange(1, len(painted_index) + 1)
        if len(instances.pixels):
            owner = np.append(owner, -1)  # position -1 (a pixel of no thing class) -> no owner
            thing_ids = local[owner[self.thing_position]]
        else:
            thing_ids = np.zeros(len(self.thing_position), np.int64)
        n_things = len(painted_index)
        thing_counts = _weighted_counts(self.thing_pairs.gt_id, thing_ids, self.thing_pairs.weight,
                                        (self.gt.count + 1, n_things + 1))
        counts = np.concatenate([self.stuff_counts, thing_counts[:, 1:]], axis=1)
        counts[:, 0] += thing_counts[:, 0]
        pred_classes = np.concatenate([self.stuff_classes, instances.classes[painted_index]])
        return pan.match_counts(counts, self.gt.classes, self.gt.crowd, pred_classes, self.protocol)


# --------------------------------------------------------------------------- one image, whole grid


@dataclass(frozen=True)
class SweepParams:
    """Settings shared by every image of a sweep."""

    configs: tuple[SplitSettings, ...]
    protocols: tuple[str, ...]
    eval_size: tuple[int, int] = cs.WORKING_SIZE

    def __post_init__(self) -> None:
        shared = {(c.sigma, c.dilation_iters) for c in self.configs if c.uses_depth}
        if len(shared) > 1:  # the gradient and the reclaim are computed once per image for the whole grid
            raise ValueError(f"one sweep runs one blur sigma and one dilation, got {sorted(shared)}")

    @property
    def sigma(self) -> float:
        return next((c.sigma for c in self.configs if c.uses_depth), DEFAULT_SIGMA)

    @property
    def dilation_iters(self) -> int:
        return next((c.dilation_iters for c in self.configs if c.uses_depth), DEFAULT_DILATION_ITERS)


@dataclass
class ImageResult:
    """Per-config statistics of one image: ``stats[protocol][i]`` and ``instances[i]`` for config i.

    With the CUPS protocol, ``tables[i]`` is config i's :class:`~pseudo_labels.evaluation.cups_protocol.ImageTable`
    (CUPS matches pseudo-classes over the whole split, so images cannot be scored alone).
    """

    stats: dict[str, list[pan.PanopticStats]]
    instances: list[int]
    tables: list[cp.ImageTable | None] | None = None


@dataclass(frozen=True)
class CupsImage:
    """What the CUPS protocol needs of one sweep image: its raw pseudo-classes and GT segments at the eval size."""

    clusters: np.ndarray
    gt: tuple[np.ndarray, np.ndarray, np.ndarray]
    num_pseudo: int

    def table(self, found: inst.Instances) -> cp.ImageTable:
        """The table of the labels the CUPS export writes for ``found``: painted instances, each of one pseudo-class."""
        semantic, instance_map = one_class_per_instance(self.clusters, found, self.num_pseudo, pan.THING_MIN_AREA)
        return cp.image_table(semantic, instance_map, self.gt)


def evaluate_image(semantic: np.ndarray, depth: np.ndarray | None, gt_train_ids: np.ndarray,
                   gt_instance_ids: np.ndarray, params: SweepParams, cups: CupsImage | None = None) -> ImageResult:
    """Run every configuration on one image. ``semantic`` and ``depth`` at the eval size, GT at full size.

    ``cups`` (needed when the CUPS protocol is among ``params.protocols``): the
    image's raw pseudo-classes and CUPS GT, to keep each configuration's table.
    """
    things = inst.thing_pixels(semantic)
    evaluators = {}
    for protocol in params.protocols:
        if protocol == cp.CUPS:
            if cups is None:
                raise ValueError("the CUPS protocol needs the image's raw pseudo-classes (cups=CupsImage(...))")
            continue
        gt = pan.protocol_ground_truth(gt_train_ids, gt_instance_ids, protocol, params.eval_size)
        evaluators[protocol] = ImageEvaluator(semantic, things, gt, protocol)
    result = ImageResult({p: [pan.PanopticStats() for _ in params.configs] for p in evaluators},
                         [0] * len(params.configs), [None] * len(params.configs) if cp.CUPS in params.protocols else None)
    by_tau: dict[float | None, list[int]] = {}
    for index, config in enumerate(params.configs):
        by_tau.setdefault(config.tau, []).append(index)
    gradient = None
    for tau, indices in by_tau.items():
        if tau is None:
            components = inst.components_for_classes(things, None, 0)
        else:
            if gradient is None:
                if depth is None:
                    raise ValueError("depth configurations need a depth map")
                gradient = inst.depth_gradient(depth, params.sigma, things.region or (slice(0, 0), slice(0, 0)))
            components = inst.components_for_classes(things, inst.depth_edges(gradient, tau), params.dilation_iters)
        first_with: dict[tuple[int, ...], int] = {}  # kept counts -> first config that had them
        for index in indices:
            min_area = params.configs[index].min_area
            source = first_with.setdefault(inst.kept_counts(components, min_area), index)
            if source != index:  # same kept components, hence the same instances and statistics
                result.instances[index] = result.instances[source]
                for protocol in evaluators:
                    result.stats[protocol][index] = result.stats[protocol][source]
                if result.tables is not None:
                    result.tables[index] = result.tables[source]
                continue
            found = inst.instances_from_components(components, min_area, things)
            result.instances[index] = len(found)
            for protocol, evaluator in evaluators.items():
                result.stats[protocol][index] = evaluator.stats(found)
            if result.tables is not None:
                result.tables[index] = cups.table(found)
    return result


# --------------------------------------------------------------------------- dataset


@dataclass(frozen=True)
class ImageFiles:
    """The four files of one image in a sweep."""

    key: str
    semantic: Path
    depth: Path
    label_ids: Path
    instance_ids: Path








def _evaluate_files(job: tuple[ImageFiles, np.ndarray, SweepParams, bool]) -> ImageResult:
    files, cluster_to_class, params, needs_depth = job
    cups = None
    if cp.CUPS in params.protocols:
        clusters = cs.resize_nearest(read_label_png(files.semantic, len(cluster_to_class)), params.eval_size)
        semantic = cluster_to_class[clusters]
    else:
        semantic = load_semantic(files.semantic, cluster_to_class, params.eval_size)
    depth = load_depth(files.depth, params.eval_size) if needs_depth else None
    gt = cs.load_ground_truth(files.label_ids, files.instance_ids)
    if cp.CUPS in params.protocols:
        cups = CupsImage(clusters, cp.resized_ground_truth(gt.instance_ids, params.eval_size, str(files.instance_ids)),
                         len(cluster_to_class))
    return evaluate_image(semantic, depth, gt.train_ids, gt.instance_ids, params, cups)


@dataclass
class SweepTotals:
    """Statistics summed over images: ``stats[protocol][i]``, ``instances[i]``, images counted."""

    stats: dict[str, list[pan.PanopticStats]]
    instances: list[int]
    n_images: int = 0
    seconds: float = 0.0
    per_image: list[str] = field(default_factory=list)
    images: list[ImageResult] | None = None  # kept per image when sharding (merged later in image order)
    tables: list[list[cp.ImageTable]] | None = None  # CUPS protocol: tables[config][image]

    @classmethod
    def empty(cls, params: SweepParams, keep_images: bool = False) -> SweepTotals:
        return cls({p: [pan.PanopticStats() for _ in params.configs] for p in params.protocols if p != cp.CUPS},
                   [0] * len(params.configs), images=[] if keep_images else None,
                   tables=[[] for _ in params.configs] if cp.CUPS in params.protocols else None)

    def add(self, key: str, result: ImageResult) -> None:
        for protocol, values in result.stats.items():
            for total, value in zip(self.stats[protocol], values):
                total += value
        if self.tables is not None:
            for kept, table in zip(self.tables, result.tables or []):
                kept.append(table)
        self.instances = [a + b for a, b in zip(self.instances, result.instances)]
        self.n_images += 1
        self.per_image.append(key)
        if self.images is not None:
            self.images.append(result)


def run_sweep(files: Sequence[ImageFiles], cluster_to_class: np.ndarray, params: SweepParams,
              workers: int = 1, show_progress: bool = True, keep_images: bool = False) -> SweepTotals:
    """Evaluate every image (spread over ``workers`` processes) and sum the statistics in image order."""
    totals = SweepTotals.empty(params, keep_images)
    needs_depth = any(c.uses_depth for c in params.configs)
    jobs = [(f, cluster_to_class, params, needs_depth) for f in files]
    start = time.perf_counter()
    results = ordered_map(_evaluate_files, jobs, workers)
    for job, result in tqdm(zip(jobs, results), total=len(jobs), desc="sweep", unit="img", disable=not show_progress):
        totals.add(job[0].key, result)
    totals.seconds = time.perf_counter() - start
    return totals



# --------------------------------------------------------------------------- shards


def image_stats_array(results: Sequence[ImageResult], protocols: Sequence[str]) -> np.ndarray:
    """(images, protocols, configs, 4, 19) float64: TP, FP, FN and IoU sum per class (exact for the counts)."""
    return np.array([[[np.stack([s.tp, s.fp, s.fn, s.iou]).astype(np.float64) for s in r.stats[p]]
                      for p in protocols] for r in results]).reshape(len(results), len(protocols), -1, 4, cs.NUM_CLASSES)


def results_from_array(stats: np.ndarray, instances: np.ndarray, protocols: Sequence[str]) -> list[ImageResult]:
    """Inverse of :func:`image_stats_array` (with the per-image instance counts)."""
    results = []
    for image, counts in zip(stats, instances):
        per_protocol = {}
        for p_index, protocol in enumerate(protocols):
            per_protocol[protocol] = [pan.PanopticStats(c[0].astype(np.int64), c[1].astype(np.int64), c[2].astype(np.int64),
                                                        c[3].copy()) for c in image[p_index]]
        results.append(ImageResult(per_protocol, [int(n) for n in counts]))
    return results
