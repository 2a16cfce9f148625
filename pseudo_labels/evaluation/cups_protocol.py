"""Panoptic quality the way CUPS scores its PQ 27.8: 27 classes, pseudo-classes matched to classes over the dataset.

The rules are CUPS' (visinf/cups ``cups/metrics/panoptic_quality.py`` on
torchmetrics 1.3.1; written down in ``../shared/cups_protocol.md`` and in
docs/evaluation.md). The arithmetic is ours and needs no cache of predictions:

1. per image, :func:`image_table` counts the pixels of every predicted *atom*
   (pseudo-class, instance id) against every GT segment (class, instance): a
   few hundred numbers that are all the later steps read;
2. over the dataset, :func:`batched_float32_sum` adds the per-image K x 27
   cost matrices as CUPS' float32 state does, and :func:`pq_assignment` /
   :func:`miou_assignment` match pseudo-classes to classes (Hungarian, then
   argmax for the rows it leaves; things and stuff apart for PQ);
3. :func:`image_stats` scores each table under the PQ assignment with
   torchmetrics' segment rules (:func:`match_segments`), and
   :mod:`pseudo_labels.evaluation.cups_scores` averages as CUPS does.

Pseudo-class ids are the raw ids of the label maps (0..K-1, 255 = void).
CUPS' model numbers them in its *label space* (stuff pseudo-classes first, in
the ``.pt`` split order, then things); the matching runs there, because the
row order decides ties, and its result is reported per raw id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from pseudo_labels.core.errors import InputError
from pseudo_labels.data import cityscapes as cs

CUPS = "cups"
"""The protocol's name in sweep records, pictures and command lines."""
NUM_CLASSES = cs.NUM_CAUSE27
CLASS_NAMES = cs.CAUSE27_NAMES
"""The 27 classes CUPS evaluates: Cityscapes labelIds 7..33 in order (road .. bicycle)."""
THING_CLASSES = cs.CAUSE27_THING_IDS
STUFF_CLASSES = tuple(c for c in range(NUM_CLASSES) if c not in THING_CLASSES)
VOID = cs.IGNORE_ID
IS_THING_CLASS = np.zeros(256, bool)
IS_THING_CLASS[list(THING_CLASSES)] = True
BATCH_SIZE = 4
"""CUPS' validation batch: its float32 matrices grow by one batch's integer counts at a time."""
RESOLUTIONS = {"1024x2048": (1024, 2048), "512x1024": (512, 1024), "640x1280": (640, 1280)}
"""``val.py`` with ``configs/val_cityscapes.yaml`` (the published numbers), ``train.py``'s validation, ``cups/config.py``'s default."""
FIRST_INSTANCE_VALUE = 24000
"""CUPS keeps instanceIds >= 24000 (labelId 24, person, onwards) as instances."""
LABEL_ID_COUNT = 34
"""CUPS' labelId -> class table has 34 rows (labelIds 0..33)."""


# --------------------------------------------------------------------------- ground truth


def ground_truth(instance_ids: np.ndarray, source: str = "instanceIds map") -> tuple[np.ndarray, np.ndarray]:
    """(class 0..26 or 255, instance) of every pixel of a gtFine instanceIds map, by CUPS' rules.

    labelId = v // 1000 for v > 1000, else v; class = labelId - 7 (void for
    labelIds 0..6); instance = v - 23999 for v >= 24000, else 0. Crowd regions
    (a thing labelId without instance) are therefore one ordinary segment
    ``(class, 0)``. labelIds above 33 crash CUPS' table: an error naming ``source``.
    """
    values = instance_ids.astype(np.int64)
    label_ids = np.where(values > cs.INSTANCE_OFFSET, values // cs.INSTANCE_OFFSET, values)
    top = int(label_ids.max()) if label_ids.size else 0
    if top >= LABEL_ID_COUNT or (label_ids.size and int(label_ids.min()) < 0):
        raise InputError(f"{source}: labelId {top} is not a Cityscapes labelId (0..33); is this a gtFine "
                         f"*_instanceIds.png?")
    classes = cs.LABEL_ID_TO_CAUSE27[label_ids]
    instances = np.where(values >= FIRST_INSTANCE_VALUE, values - (FIRST_INSTANCE_VALUE - 1), 0)
    return classes, instances


def scale_factor(shape: tuple[int, int], size: tuple[int, int], source: str) -> float:
    """The one factor that takes ``shape`` to ``size`` (floor of shape x factor, as ``F.interpolate``); else an error."""
    scale = size[0] / shape[0]
    if (int(np.floor(shape[0] * scale)), int(np.floor(shape[1] * scale))) != tuple(size):
        raise InputError(f"{source}: {shape[0]}x{shape[1]} does not scale to {size[0]}x{size[1]} by one factor "
                         f"(another aspect ratio?); CUPS resizes by one factor.")
    return scale


def resized_ground_truth(instance_ids: np.ndarray, size: tuple[int, int], source: str
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`gt_segments` of an instanceIds map brought to ``size`` as CUPS does (one factor, torch's nearest rule)."""
    classes, instances = ground_truth(instance_ids, source)
    scale = scale_factor(instance_ids.shape, size, source)
    return gt_segments(cs.resize_nearest_scaled(classes, scale), cs.resize_nearest_scaled(instances, scale))


# --------------------------------------------------------------------------- step 1: one image's table


def _compact(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compact ids 0..n-1 of a non-negative integer map (ascending values) and the value of each id."""
    present = np.flatnonzero(np.bincount(values.ravel()))
    lookup = np.zeros(int(present[-1]) + 1 if len(present) else 1, np.int64)
    lookup[present] = np.arange(len(present))
    return lookup[values], present


@dataclass(frozen=True)
class ImageTable:
    """Pixel counts of one image's predicted atoms against its GT segments: all the protocol reads of it.

    Atom ``a`` is pseudo-class ``atom_class[a]`` (255 = void) with instance
    ``atom_instance[a]`` (0 = none); GT segment ``g`` is class ``gt_class[g]``
    (255 = void) with instance ``gt_instance[g]`` (0 for stuff, void and
    crowd). Entry ``i`` says that ``pixels[i]`` pixels are atom ``atom[i]`` and
    GT segment ``gt[i]``; every pixel is in exactly one entry.
    """

    atom_class: np.ndarray
    atom_instance: np.ndarray
    gt_class: np.ndarray
    gt_instance: np.ndarray
    atom: np.ndarray
    gt: np.ndarray
    pixels: np.ndarray

    def cost_matrix(self, num_pseudo: int) -> np.ndarray:
        """(K, 27) int64 pixels of each pseudo-class on each GT class (void on either side left out)."""
        rows, cols = self.atom_class[self.atom], self.gt_class[self.gt]
        valid = (rows < num_pseudo) & (cols < NUM_CLASSES)
        flat = np.bincount(rows[valid] * NUM_CLASSES + cols[valid], weights=self.pixels[valid],
                           minlength=num_pseudo * NUM_CLASSES)
        return np.rint(flat).astype(np.int64).reshape(num_pseudo, NUM_CLASSES)

    def distributions(self, num_pseudo: int) -> tuple[np.ndarray, np.ndarray]:
        """(inside instances, everywhere) int64 pixels per pseudo-class: the image's ``.pt`` content."""
        rows, weights = self.atom_class[self.atom], self.pixels
        valid = rows < num_pseudo
        inside = valid & (self.atom_instance[self.atom] > 0)
        return (np.rint(np.bincount(rows[inside], weights=weights[inside], minlength=num_pseudo)).astype(np.int64),
                np.rint(np.bincount(rows[valid], weights=weights[valid], minlength=num_pseudo)).astype(np.int64))

    def gt_class_pixels(self) -> np.ndarray:
        """(27,) int64 GT pixels of each class."""
        cols = self.gt_class[self.gt]
        valid = cols < NUM_CLASSES
        return np.rint(np.bincount(cols[valid], weights=self.pixels[valid], minlength=NUM_CLASSES)).astype(np.int64)


def gt_segments(gt_class: np.ndarray, gt_instance: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compact GT segment index per pixel, and each segment's (class, instance), after torchmetrics' preprocessing.

    Stuff pixels lose their instance and void is the single segment (255, 0).
    Shared by every configuration of a sweep image.
    """
    instance = np.where(IS_THING_CLASS[gt_class], gt_instance, 0)
    compact, values = _compact(instance)
    index, keys = _compact(gt_class.astype(np.int64) * len(values) + compact)
    return index, keys // len(values), values[keys % len(values)]


def image_table(pseudo: np.ndarray, instance: np.ndarray, gt: tuple[np.ndarray, np.ndarray, np.ndarray]) -> ImageTable:
    """:class:`ImageTable` of a prediction (raw pseudo-class ids, 255 void; instance ids) and :func:`gt_segments`."""
    gt_index, gt_class, gt_instance = gt
    if pseudo.shape != gt_index.shape or instance.shape != gt_index.shape:
        raise ValueError(f"prediction {pseudo.shape}/{instance.shape} and GT {gt_index.shape} differ in size")
    compact, values = _compact(instance)
    atom_index, keys = _compact(pseudo.astype(np.int64) * len(values) + compact)
    pairs = np.bincount(atom_index.ravel() * len(gt_class) + gt_index.ravel())
    present = np.flatnonzero(pairs)
    return ImageTable(atom_class=keys // len(values), atom_instance=values[keys % len(values)], gt_class=gt_class,
                      gt_instance=gt_instance, atom=(present // len(gt_class)).astype(np.int32),
                      gt=(present % len(gt_class)).astype(np.int32), pixels=pairs[present].astype(np.int64))


# --------------------------------------------------------------------------- step 2: matching


def cups_image_order(keys: Sequence[str], cities: Sequence[str]) -> list[int]:
    """Indices of ``city/stem`` keys in CUPS' dataset order: cities as ``cities`` lists them (``os.listdir`` of
    gtFine/{split}; unknown cities last), files sorted within a city. The order of CUPS' float32 batch sums."""
    rank = {city: i for i, city in enumerate(cities)}
    return sorted(range(len(keys)), key=lambda i: (rank.get(keys[i].split("/")[0], len(rank)), keys[i]))


def batched_float32_sum(matrices: Iterable[np.ndarray], batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Sum per-image int64 matrices as CUPS' float32 metric state does: exact within a batch, float32 across.

    Equal to the exact sum while every cell stays below 2**24; beyond that it
    rounds as CUPS rounds, given images in CUPS' order.
    """
    total: np.ndarray | None = None
    batch: np.ndarray | None = None
    for count, matrix in enumerate(matrices, 1):
        batch = matrix.astype(np.int64) if batch is None else batch + matrix
        if count % batch_size == 0:
            total = batch.astype(np.float32) if total is None else total + batch.astype(np.float32)
            batch = None
    if batch is not None:
        total = batch.astype(np.float32) if total is None else total + batch.astype(np.float32)
    if total is None:
        raise ValueError("no images")
    return total


def match_rows(matrix: np.ndarray) -> np.ndarray:
    """CUPS' matching core: the column given to each row of ``matrix`` (rows: pseudo-classes, columns: classes).

    Square: Hungarian (maximising). Otherwise many-to-one: Hungarian on the
    rectangle, and every row it leaves takes its row's argmax (first maximum;
    an all-zero row takes the first column). With more rows than columns the
    Hungarian gives every column a row, even a column that is all zero.
    """
    rows, columns = linear_sum_assignment(matrix, maximize=True)
    assignment = np.full(matrix.shape[0], -1, np.int64)
    assignment[rows] = columns
    left = assignment < 0
    assignment[left] = np.argmax(matrix[left], axis=1) if left.any() else []
    return assignment


def label_space(things: Sequence[int], stuffs: Sequence[int]) -> np.ndarray:
    """Raw pseudo-class id of each label-space id: ``stuffs[i] -> i``, ``things[j] -> S + j`` (CUPS' model numbering)."""
    return np.array([*stuffs, *things], np.int64)


def pq_assignment(cost: np.ndarray, things: Sequence[int], stuffs: Sequence[int]) -> np.ndarray:
    """Class of each raw pseudo-class for PQ: thing pseudo-classes to thing classes, stuff to stuff, apart.

    ``cost`` is the (K, 27) float32 matrix over raw ids. The rows go to the
    Hungarian in the order CUPS lists them: ``list()`` of the label-space
    ids' set, built as CUPS builds it (a set of a range tuple, then copied). That
    order is ascending for small ids but not in general, and it decides ties.
    """
    raw = label_space(things, stuffs)
    in_label_space = cost[raw]
    stuff_count, thing_count = len(stuffs), len(things)
    assignment = np.empty(len(raw), np.int64)
    for ids, classes in ((range(stuff_count, stuff_count + thing_count), THING_CLASSES),
                         (range(stuff_count), STUFF_CLASSES)):
        rows = list(set(tuple(ids)).copy())  # CUPS: set(tuple_of_range) in the model, .copy() in the metric
        if not rows:
            continue
        chosen = match_rows(in_label_space[rows][:, list(classes)])
        assignment[rows] = np.asarray(classes)[chosen]
    by_raw = np.empty(len(raw), np.int64)
    by_raw[raw] = assignment
    return by_raw


def miou_assignment(cost: np.ndarray, things: Sequence[int], stuffs: Sequence[int]) -> np.ndarray:
    """Class of each raw pseudo-class for mIoU: one matching over all pseudo-classes and classes, in label-space row order."""
    raw = label_space(things, stuffs)
    by_raw = np.empty(len(raw), np.int64)
    by_raw[raw] = match_rows(cost[raw])
    return by_raw


def class_lookup(assignment: np.ndarray) -> np.ndarray:
    """(256,) class of each raw pseudo-class id; 255 (void) and ids without a class map to void."""
    lookup = np.full(256, VOID, np.int64)
    lookup[: len(assignment)] = assignment
    return lookup


# --------------------------------------------------------------------------- step 3: segments


@dataclass
class CupsStats:
    """Per-class TP, FP, FN and summed TP IoU over the 27 classes; adds across images."""

    tp: np.ndarray = field(default_factory=lambda: np.zeros(NUM_CLASSES, np.int64))
    fp: np.ndarray = field(default_factory=lambda: np.zeros(NUM_CLASSES, np.int64))
    fn: np.ndarray = field(default_factory=lambda: np.zeros(NUM_CLASSES, np.int64))
    iou: np.ndarray = field(default_factory=lambda: np.zeros(NUM_CLASSES, np.float64))

    def __iadd__(self, other: CupsStats) -> CupsStats:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.iou += other.iou
        return self


def _per_class(classes: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(classes, weights=weights, minlength=NUM_CLASSES)[:NUM_CLASSES]


@dataclass(frozen=True)
class SegmentMatch:
    """torchmetrics' verdict on one image's segments (indices into the count matrix's rows and columns)."""

    pred: np.ndarray
    gt: np.ndarray
    iou: np.ndarray
    """float32 IoU of each matched pair (``pred[i]``, ``gt[i]``)."""
    false_negative: np.ndarray
    """(n_gt,) bool: unmatched GT segments that count (not void, not mostly predicted void)."""
    false_positive: np.ndarray
    """(n_pred,) bool: unmatched predicted segments that count (not void, not mostly on GT void)."""
    predicted_void: np.ndarray
    """(n_gt,) bool: unmatched GT segments excused because more than half of them is predicted void."""
    on_gt_void: np.ndarray
    """(n_pred,) bool: unmatched predictions excused because more than half of them lies on GT void."""


def match_segments(counts: np.ndarray, pred_class: np.ndarray, gt_class: np.ndarray) -> SegmentMatch:
    """torchmetrics 1.3.1's segment rules on a (predicted segment, GT segment) pixel-count matrix.

    A segment of class 255 is void (at most one per side). The union leaves
    out prediction pixels on GT void and GT pixels predicted void; IoU is a
    float32 division and a same-class pair matches when IoU > 0.5 (at most one
    partner each, since segments do not overlap); an unmatched GT segment is a
    false negative unless more than half of it is predicted void, an unmatched
    prediction a false positive unless more than half of it lies on GT void.
    No area threshold, no crowd rule.
    """
    pred_area, gt_area = counts.sum(axis=1), counts.sum(axis=0)
    gt_void = np.flatnonzero(gt_class == VOID)
    pred_void = np.flatnonzero(pred_class == VOID)
    on_gt_void = counts[:, gt_void[0]] if len(gt_void) else np.zeros(len(pred_class), np.int64)
    predicted_void = counts[pred_void[0]] if len(pred_void) else np.zeros(len(gt_class), np.int64)
    p, g = np.nonzero(counts)
    same = (pred_class[p] == gt_class[g]) & (gt_class[g] != VOID)
    p, g = p[same], g[same]
    inter = counts[p, g]
    union = pred_area[p] - on_gt_void[p] + gt_area[g] - predicted_void[g] - inter
    iou = inter.astype(np.float32) / union.astype(np.float32)
    hit = iou > np.float32(0.5)
    gt_matched = np.zeros(len(gt_class), bool)
    gt_matched[g[hit]] = True
    pred_matched = np.zeros(len(pred_class), bool)
    pred_matched[p[hit]] = True
    with np.errstate(divide="ignore", invalid="ignore"):
        mostly_predicted_void = predicted_void.astype(np.float32) / gt_area.astype(np.float32) > np.float32(0.5)
        mostly_on_gt_void = on_gt_void.astype(np.float32) / pred_area.astype(np.float32) > np.float32(0.5)
    missed = ~gt_matched & (gt_class != VOID)
    spurious = ~pred_matched & (pred_class != VOID)
    return SegmentMatch(p[hit], g[hit], iou[hit], missed & ~mostly_predicted_void, spurious & ~mostly_on_gt_void,
                        missed & mostly_predicted_void, spurious & mostly_on_gt_void)


def image_stats(table: ImageTable, classes: np.ndarray) -> CupsStats:
    """TP/FP/FN/IoU of one image when raw pseudo-class ``k`` means class ``classes[k]`` (a :func:`class_lookup`).

    A predicted segment is (class, instance), instance 0 for stuff classes,
    void (255, 0) for pixels of no class; then :func:`match_segments`.
    """
    category = classes[table.atom_class]
    instance = np.where(IS_THING_CLASS[category], table.atom_instance, 0)
    segment, keys = _compact(category * (int(instance.max()) + 1) + instance)
    segment_class = keys // (int(instance.max()) + 1)
    shape = (len(keys), len(table.gt_class))
    counts = np.rint(np.bincount(segment[table.atom] * shape[1] + table.gt, weights=table.pixels,
                                 minlength=shape[0] * shape[1])).astype(np.int64).reshape(shape)
    return segment_stats(counts, segment_class, table.gt_class)


def segment_stats(counts: np.ndarray, pred_class: np.ndarray, gt_class: np.ndarray) -> CupsStats:
    """Per-class TP/FP/FN/IoU of one image from its (predicted segment, GT segment) counts (:func:`match_segments`)."""
    found = match_segments(counts, pred_class, gt_class)
    stats = CupsStats()
    matched_class = gt_class[found.gt]
    stats.tp = _per_class(matched_class).astype(np.int64)
    stats.iou = _per_class(matched_class, found.iou.astype(np.float64))
    stats.fn = _per_class(gt_class[found.false_negative]).astype(np.int64)
    stats.fp = _per_class(pred_class[found.false_positive]).astype(np.int64)
    return stats
