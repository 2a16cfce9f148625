"""The report's uncertainty: paired bootstrap intervals of every configuration, from the sweep's per-image statistics.

Reads ``{sweep stem}.images.npz`` (:mod:`pseudo_labels.evaluation.sweep_images`),
runs :func:`pseudo_labels.evaluation.bootstrap.paired_bootstrap` per protocol
with one seed (so every configuration and protocol sees the same resampled
image sets), and words the method and the verdicts the report prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pseudo_labels.evaluation import bootstrap as bs
from pseudo_labels.evaluation.cups_protocol import CUPS
from pseudo_labels.evaluation.sweep_images import image_stats_path, read_image_stats

TIED, LOWER, BEST = "n.s.", "lower", "best"
"""The "vs best" verdicts: not significantly different from the best, significantly lower, the best itself."""


@dataclass(frozen=True)
class ReportIntervals:
    """Per protocol, the intervals of its entries (in the record's order), or why there are none."""

    by_protocol: dict[str, bs.Intervals]
    note: str

    def of(self, protocol: str) -> bs.Intervals | None:
        return self.by_protocol.get(protocol)


def compute(sweep_json: Path, record: dict, resamples: int = bs.RESAMPLES, seed: int = bs.SEED) -> ReportIntervals:
    """Bootstrap intervals of every protocol of ``record`` (none when ``resamples`` is 0 or no statistics file)."""
    path = image_stats_path(sweep_json)
    if resamples <= 0:
        return ReportIntervals({}, "Intervals were not computed (`report --resamples 0`).")
    arrays = read_image_stats(sweep_json, record)
    if arrays is None:
        return ReportIntervals({}, f"No intervals: the per-image statistics `{path.name}` are not beside the sweep "
                                   f"JSON (sweeps write them since the report gained intervals); re-run the sweep "
                                   f"to get them.")
    by_protocol = {}
    for protocol, stats in arrays.items():
        entries = [e for e in record["results"] if e["protocol"] == protocol]
        scored = [i for i, e in enumerate(entries) if e["PQ"] is not None]
        if not scored:
            continue
        best = entries.index(record["best"][protocol])
        by_protocol[protocol] = bs.paired_bootstrap(stats, protocol, best, resamples, seed)
    return ReportIntervals(by_protocol, method_text(record, resamples, seed))


def method_text(record: dict, resamples: int, seed: int) -> str:
    """How the intervals are made, in words (the report states it once, before the protocols)."""
    text = (f"**Intervals** are {bs.LEVEL:.0%} percentile bootstrap intervals over the {record['n_images']} images of "
            f"the split: {resamples} resamples of {record['n_images']} images drawn with replacement (seed {seed}), "
            f"the same resampled image sets for every configuration and protocol (paired), each resample scored from "
            f"its summed per-image statistics exactly as the protocol scores the whole split. **n.s.** marks a "
            f"configuration whose paired PQ difference to the best has a {bs.LEVEL:.0%} interval that holds 0: the "
            f"data do not tell it apart from the best. The intervals measure how much the numbers depend on which "
            f"images were drawn, not the spread over k-means seeds, clusterings or other datasets.")
    if CUPS in record["protocols"]:
        text += (" Under the CUPS protocol the pseudo-class-to-class matching is computed once on the whole split "
                 "and held fixed in every resample, so its intervals leave out the variation of the matching itself "
                 "(refitting it per resample would also change which class each number belongs to).")
    return text


def ci(point: float | None, low: float, high: float, digits: int = 2) -> str:
    """``55.05 [39.09, 72.76]``; the point alone when the interval is undefined; n/a without a point."""
    if point is None:
        return "n/a"
    if np.isnan(low) or np.isnan(high):
        return f"{point:.{digits}f}"
    return f"{point:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def verdicts(intervals: bs.Intervals, entries: Sequence[dict]) -> list[str]:
    """Per entry: best, n.s. (paired difference to the best not significant) or lower; n/a when unscored."""
    tied = intervals.tied_with_best()
    return [BEST if i == intervals.best else ("n/a" if e["PQ"] is None else (TIED if tied[i] else LOWER))
            for i, e in enumerate(entries)]


def difference_text(intervals: bs.Intervals, entries: Sequence[dict], index: int) -> str:
    """The paired PQ difference of entry ``index`` to the best, with its interval and verdict."""
    best = entries[intervals.best]
    gap = best["PQ"] - entries[index]["PQ"]
    verdict = "not significant" if intervals.tied_with_best()[index] else "significant"
    return (f"{gap:.2f} below the best [{intervals.diff_low[index]:.2f}, {intervals.diff_high[index]:.2f}], "
            f"{verdict}")
