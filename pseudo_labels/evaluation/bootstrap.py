"""Paired bootstrap intervals over images for a sweep's configurations, vectorised over resamples.

Panoptic statistics add over images, so a resampled data set is a weighted sum
of per-image statistics: one (resamples x images) matrix of draw counts times
the (images x everything) statistics gives every resample's totals for every
configuration at once (one matrix product; integer counts stay exact in
float64). The same draws serve every configuration and protocol (paired
resampling), so the difference between two configurations is resampled with
the images they share. Intervals are percentile intervals; a configuration is
*tied with the best* when the interval of its paired PQ difference to the best
holds 0.

:func:`paired_bootstrap` is the fast path; :func:`paired_bootstrap_reference`
loops over resamples and configurations with the protocols' own summaries and
is the slow reference it is tested (and benchmarked) against.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation import cups_scores
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.evaluation.cups_protocol import CUPS, IS_THING_CLASS, NUM_CLASSES as CUPS_NUM_CLASSES, CupsStats

RESAMPLES = 1000
"""Bootstrap resamples of the report."""
SEED = 0
"""Seed of the draws: the report's intervals are reproducible."""
LEVEL = 0.95
"""Coverage of the intervals."""
METRICS = ("PQ", "PQ_stuff", "PQ_things")


def num_classes(protocol: str) -> int:
    """Classes of a protocol's statistics: 19 trainIds, or CUPS' 27."""
    return CUPS_NUM_CLASSES if protocol == CUPS else cs.NUM_CLASSES


def is_thing(protocol: str) -> np.ndarray:
    """(C,) bool thing classes of a protocol's class space."""
    return IS_THING_CLASS[:CUPS_NUM_CLASSES] if protocol == CUPS else cs.IS_THING[: cs.NUM_CLASSES].astype(bool)


def draws(n_images: int, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """(resamples, n_images) int64 image indices drawn with replacement: the resampled image sets."""
    if n_images < 1 or resamples < 1:
        raise ValueError(f"need images and resamples, got {n_images} images and {resamples} resamples")
    return np.random.default_rng(seed).integers(0, n_images, size=(resamples, n_images))


def draw_counts(drawn: np.ndarray) -> np.ndarray:
    """(resamples, n_images) float64: how often each image is in each resample (one ``bincount``)."""
    resamples, n_images = drawn.shape
    offsets = (np.arange(resamples, dtype=np.int64) * n_images)[:, None]
    counts = np.bincount((drawn + offsets).ravel(), minlength=resamples * n_images)
    return counts.reshape(resamples, n_images).astype(np.float64)


def scores(stats: np.ndarray, protocol: str) -> dict[str, np.ndarray]:
    """PQ, PQ_stuff, PQ_things (shape ``...``) in percent and ``per_class`` PQ (``..., C``, NaN where not counted).

    ``stats`` is (..., 4, C) float64: TP, FP, FN and IoU sum per class. A mean
    over no class is 0 for the reference and official protocols (as their
    summaries) and NaN for CUPS (its None).
    """
    tp, fp, fn, iou = stats[..., 0, :], stats[..., 1, :], stats[..., 2, :], stats[..., 3, :]
    if protocol == CUPS:
        pq, _, _, present = cups_scores.class_scores(tp, fp, fn, iou)
        empty = np.nan
    else:
        pq, _, _, present = pan.class_scores(tp, fp, fn, iou, protocol)
        empty = 0.0
    things = is_thing(protocol)
    result = {}
    for name, selection in (("PQ", np.ones_like(things)), ("PQ_stuff", ~things), ("PQ_things", things)):
        chosen = present & selection
        n = chosen.sum(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            result[name] = np.where(n > 0, np.where(chosen, pq, 0.0).sum(axis=-1) / n * 100.0, empty)
    result["per_class"] = np.where(present, pq * 100.0, np.nan)
    return result


def _interval(samples: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval along axis 0, ignoring NaN (samples where a value is undefined)."""
    tail = (1.0 - level) / 2.0 * 100.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, as they should
        low, high = np.nanpercentile(samples, [tail, 100.0 - tail], axis=0)
    return low, high


@dataclass(frozen=True)
class Intervals:
    """A protocol's bootstrap intervals: per configuration (axis 0 of every array) and per class.

    ``low[m]``/``high[m]`` bound metric ``m`` (PQ, PQ_stuff, PQ_things);
    ``diff_low``/``diff_high`` bound PQ(best) - PQ(config) over the same
    resamples; ``class_low``/``class_high`` (configs, C) bound per-class PQ
    (NaN where the class is never counted).
    """

    best: int
    low: dict[str, np.ndarray]
    high: dict[str, np.ndarray]
    diff_low: np.ndarray
    diff_high: np.ndarray
    class_low: np.ndarray
    class_high: np.ndarray
    n_images: int
    resamples: int
    seed: int
    level: float

    def tied_with_best(self) -> np.ndarray:
        """(configs,) bool: the paired difference to the best is not significant (its interval holds 0)."""
        return ~(self.diff_low > 0)


def _intervals(samples: dict[str, np.ndarray], best: int, n_images: int, resamples: int, seed: int,
               level: float) -> Intervals:
    low, high = {}, {}
    for metric in METRICS:
        low[metric], high[metric] = _interval(samples[metric], level)
    diff_low, diff_high = _interval(samples["PQ"][:, best:best + 1] - samples["PQ"], level)
    class_low, class_high = _interval(samples["per_class"], level)
    return Intervals(best, low, high, diff_low, diff_high, class_low, class_high, n_images, resamples, seed, level)


def paired_bootstrap(stats: np.ndarray, protocol: str, best: int, resamples: int = RESAMPLES, seed: int = SEED,
                     level: float = LEVEL) -> Intervals:
    """Intervals of every configuration from per-image ``stats`` (images, configs, 4, C), float64.

    ``best`` is the configuration the differences are taken to. Vectorised:
    one matrix product gives all resampled totals (resamples, configs, 4, C).
    """
    n_images = stats.shape[0]
    weights = draw_counts(draws(n_images, resamples, seed))
    totals = (weights @ stats.reshape(n_images, -1)).reshape((resamples, *stats.shape[1:]))
    return _intervals(scores(totals, protocol), best, n_images, resamples, seed, level)


def _summary_scores(total: np.ndarray, protocol: str) -> tuple[list[float], list[float]]:
    """([PQ, PQ_stuff, PQ_things], per-class PQ with NaN where not counted) through the protocol's own summary."""
    counts = total[:3].astype(np.int64)
    if protocol == CUPS:
        record = cups_scores.summary(CupsStats(counts[0], counts[1], counts[2], total[3].copy()))
        means = [np.nan if record[k] is None else record[k] for k in ("pq", "pq_stuff", "pq_things")]
        per_class = [row["pq"] if row["counted"] else np.nan for row in record["per_class"].values()]
        return means, per_class
    record = pan.summary(pan.PanopticStats(counts[0], counts[1], counts[2], total[3].copy()), protocol)
    per_class = [row["PQ"] if row["evaluated"] else np.nan for row in record["per_class"].values()]
    return [record[k] for k in METRICS], per_class


def paired_bootstrap_reference(stats: np.ndarray, protocol: str, best: int, resamples: int = RESAMPLES,
                               seed: int = SEED, level: float = LEVEL) -> Intervals:
    """:func:`paired_bootstrap` the slow, plain way: per resample and configuration, sum the drawn images and summarise."""
    n_images, n_configs = stats.shape[:2]
    samples: dict[str, list] = {m: [] for m in (*METRICS, "per_class")}
    for drawn in draws(n_images, resamples, seed):
        rows: dict[str, list] = {m: [] for m in samples}
        for config in range(n_configs):
            total = np.zeros(stats.shape[2:])
            for image in drawn:
                total += stats[image, config]
            means, per_class = _summary_scores(total, protocol)
            for metric, value in zip(METRICS, means):
                rows[metric].append(value)
            rows["per_class"].append(per_class)
        for metric in samples:
            samples[metric].append(rows[metric])
    arrays = {m: np.array(v, np.float64) for m, v in samples.items()}
    return _intervals(arrays, best, n_images, resamples, seed, level)

