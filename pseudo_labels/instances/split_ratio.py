"""The original label-free thing/stuff rule: how much depth edges split each cluster (``depth_split_ratio``).

Things (cars, people) stand side by side at different depths, so removing the
depth-edge pixels from a thing cluster's mask cuts it into more connected
pieces than before; stuff (road, sky) stays in one piece. Per cluster, over the
images, :class:`SplitStatistics` collects what the original
``classify_stuff_things.py`` collects (at each semantic map's own size, depth
resized to it): per image the number of 4-connected regions and of regions
after removing depth edges; per region its share of the image, its mean depth
and depth variance; per image the largest region's share of the cluster.
:func:`classify` then

1. forces "big stuff": clusters whose regions average more than 2 % of the
   image *and* that cover more than 5000 pixels per image;
2. ranks the others by ``depth_split_ratio`` (mean split count / max(mean
   region count, 1)) and calls the top ``n_things`` things (ties keep cluster
   order).

Every float is computed as the original computes it (the same numpy
reductions over the same values in the same order), so the statistics and the
decision are bit for bit the original's; :func:`statistics_reference` is the
per-mask transcription the tests compare against. No ground truth is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

BIG_STUFF_RELATIVE_SIZE = 0.02
"""A cluster whose regions average more than this share of the image ..."""
BIG_STUFF_PIXELS_PER_IMAGE = 5000.0
"""... and that covers more than this many pixels per image is forced stuff."""
FORCED_STUFF_SCORE = -500.0
ABSENT_SCORE = -999.0

_EMPTY_ROW = {"avg_region_count": 0.0, "avg_split_count": 0.0, "depth_split_ratio": 1.0, "avg_relative_size": 0.0,
              "depth_spread": 0.0, "intra_depth_var": 0.0, "max_region_fraction": 1.0, "pixel_count": 0}


@dataclass
class SplitStatistics:
    """Per-cluster lists over images, in image order (add images with :meth:`add`)."""

    num_classes: int
    pixels: np.ndarray = field(init=False)
    region_counts: list[list[int]] = field(init=False)
    split_counts: list[list[int]] = field(init=False)
    region_sizes: list[list[float]] = field(init=False)
    mean_depths: list[list[float]] = field(init=False)
    depth_variances: list[list[float]] = field(init=False)
    max_region_fractions: list[list[float]] = field(init=False)

    def __post_init__(self) -> None:
        self.pixels = np.zeros(self.num_classes, np.int64)
        for name in ("region_counts", "split_counts", "region_sizes", "mean_depths", "depth_variances",
                     "max_region_fractions"):
            setattr(self, name, [[] for _ in range(self.num_classes)])

    def add(self, semantic: np.ndarray, depth: np.ndarray, edges: np.ndarray) -> None:
        """One image: HxW integer cluster ids, HxW float64 depth and HxW bool depth edges (same size).

        Ids >= ``num_classes`` (255 = void) are not counted. Each cluster is
        labelled inside its bounding box, which gives the same regions, in the
        same order, as labelling the whole image.
        """
        image_area = semantic.size
        boxes = ndimage.find_objects(semantic.astype(np.int64) + 1, max_label=self.num_classes)
        for k, box in enumerate(boxes):
            if box is None:
                continue
            mask = semantic[box] == k
            n_pixels = int(mask.sum())
            self.pixels[k] += n_pixels
            labeled, num_regions = ndimage.label(mask)
            self.region_counts[k].append(num_regions)
            self.split_counts[k].append(ndimage.label(mask & ~edges[box])[1])
            labels = labeled[mask]  # row-major, as depth[region_mask] lists a region's pixels
            sizes = np.bincount(labels, minlength=num_regions + 1)[1:]
            self.max_region_fractions[k].append(float(sizes.max()) / n_pixels)
            values = depth[box][mask][np.argsort(labels, kind="stable")]
            ends = np.cumsum(sizes)
            for size, end in zip(sizes.tolist(), ends.tolist()):
                self.region_sizes[k].append(size / image_area)
                if size > 1:
                    region = values[end - size:end]
                    self.mean_depths[k].append(float(region.mean()))
                    self.depth_variances[k].append(float(region.var()))

    def table(self) -> dict[int, dict[str, float | int]]:
        """Per cluster 0..num_classes-1 the original's eight statistics (plain floats; ``pixel_count`` int)."""
        rows: dict[int, dict[str, float | int]] = {}
        for k in range(self.num_classes):
            total = int(self.pixels[k])
            if total == 0:
                rows[k] = dict(_EMPTY_ROW)
                continue
            region_count = float(np.mean(self.region_counts[k]))
            split_count = float(np.mean(self.split_counts[k]))
            rows[k] = {
                "avg_region_count": region_count,
                "avg_split_count": split_count,
                "depth_split_ratio": split_count / max(region_count, 1.0),
                "avg_relative_size": float(np.mean(self.region_sizes[k])) if self.region_sizes[k] else 0.0,
                "depth_spread": float(np.std(self.mean_depths[k])) if len(self.mean_depths[k]) > 1 else 0.0,
                "intra_depth_var": float(np.mean(self.depth_variances[k])) if self.depth_variances[k] else 0.0,
                "max_region_fraction": float(np.mean(self.max_region_fractions[k])),
                "pixel_count": total,
            }
        return rows


def classify(rows: dict[int, dict[str, float | int]], n_things: int, num_images: int,
             big_stuff_relative_size: float = BIG_STUFF_RELATIVE_SIZE,
             big_stuff_pixels: float = BIG_STUFF_PIXELS_PER_IMAGE) -> dict[int, dict[str, str | float]]:
    """Per cluster ``{"label": "thing"|"stuff", "score": float}``: forced big stuff, then the top ``n_things``.

    ``score`` is the split ratio, -500.0 for forced stuff and 0.0 for absent
    clusters. ``num_images`` is the number of images listed (the big-stuff
    test divides the pixel count by it).
    """
    scores: dict[int, float] = {}
    for k, row in rows.items():
        per_image = row["pixel_count"] / max(num_images, 1)
        if row["pixel_count"] == 0:
            scores[k] = ABSENT_SCORE
        elif row["avg_relative_size"] > big_stuff_relative_size and per_image > big_stuff_pixels:
            scores[k] = FORCED_STUFF_SCORE
        else:
            scores[k] = float(row["depth_split_ratio"])
    ranked = sorted(((k, s) for k, s in scores.items() if s > ABSENT_SCORE), key=lambda item: -item[1])
    things = {k for rank, (k, s) in enumerate(ranked) if rank < n_things and s > FORCED_STUFF_SCORE}
    return {k: {"label": "stuff", "score": 0.0} if s <= ABSENT_SCORE else
            {"label": "thing" if k in things else "stuff", "score": s} for k, s in scores.items()}


def decision_record(rows: dict[int, dict[str, float | int]], classification: dict[int, dict[str, str | float]]
                    ) -> dict:
    """The original ``stuff_things.json``: ``classification``, ``statistics`` (keys are str ids), sorted id lists."""
    return {
        "classification": {str(k): v for k, v in classification.items()},
        "statistics": {str(k): v for k, v in rows.items()},
        "stuff_ids": sorted(k for k, v in classification.items() if v["label"] == "stuff"),
        "thing_ids": sorted(k for k, v in classification.items() if v["label"] == "thing"),
    }


def statistics_reference(images: list[tuple[np.ndarray, np.ndarray, np.ndarray]], num_classes: int
                         ) -> dict[int, dict[str, float | int]]:
    """Slow oracle: one full-image mask per cluster and per region, as the original loops (tests only)."""
    lists = {name: [[] for _ in range(num_classes)] for name in ("rc", "sc", "rs", "md", "dv", "mf")}
    pixels = [0] * num_classes
    for semantic, depth, edges in images:
        for k in range(num_classes):
            mask = semantic == k
            if not mask.any():
                continue
            pixels[k] += int(mask.sum())
            labeled, num = ndimage.label(mask)
            lists["rc"][k].append(num)
            lists["sc"][k].append(ndimage.label(mask & ~edges)[1])
            sums = ndimage.sum(mask, labeled, range(1, num + 1))
            lists["mf"][k].append(float(max(sums)) / int(mask.sum()))
            for region_id in range(1, num + 1):
                region = labeled == region_id
                lists["rs"][k].append(int(region.sum()) / semantic.size)
                if region.sum() > 1:
                    lists["md"][k].append(float(depth[region].mean()))
                    lists["dv"][k].append(float(depth[region].var()))
    statistics = SplitStatistics(num_classes)
    statistics.pixels[:] = pixels
    for ours, theirs in (("region_counts", "rc"), ("split_counts", "sc"), ("region_sizes", "rs"),
                         ("mean_depths", "md"), ("depth_variances", "dv"), ("max_region_fractions", "mf")):
        setattr(statistics, ours, lists[theirs])
    return statistics.table()
