"""Label-free thing/stuff decision per cluster, from the cluster maps and depth alone.

Things are countable objects standing in front of their surroundings: a thing
cluster covers a small share of the images, comes in small pieces, and its
outline runs along depth discontinuities. Per cluster, over a set of images at
the working size, :class:`ClusterStatistics` adds up

* ``area_fraction``: share of all pixels;
* ``median_piece_fraction``: median size of its 4-connected pieces (>= 10 px),
  as a share of the image;
* ``edge_boundary_ratio``: share of its outline pixels (pixels with a
  4-neighbour of another cluster) that are depth edges (gradient > tau);
* ``cut_gain``: pieces after removing depth edges / pieces before -- how much
  depth splits the cluster (reported; not part of the default rule).

:class:`Rule` calls a cluster a thing when it is rare, small-pieced and
depth-bounded. The thresholds were chosen on synthetic data and are flags;
the README reports how the decision changes PQ compared with the GT-derived
thing set. No ground truth is read here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage

from pseudo_labels.instances.splitting import CC_MIN_AREA

_CROSS = ndimage.generate_binary_structure(2, 1)


@dataclass
class ClusterStatistics:
    """Per-cluster sums over images (add images with :meth:`add`)."""

    num_clusters: int
    pixels: np.ndarray = field(init=False)
    outline: np.ndarray = field(init=False)
    outline_on_edges: np.ndarray = field(init=False)
    pieces: np.ndarray = field(init=False)
    pieces_after_cut: np.ndarray = field(init=False)
    piece_sizes: list[list[int]] = field(init=False)
    total_pixels: int = 0
    images: int = 0

    def __post_init__(self) -> None:
        zeros = np.zeros(self.num_clusters, np.int64)
        self.pixels, self.outline, self.outline_on_edges = zeros.copy(), zeros.copy(), zeros.copy()
        self.pieces, self.pieces_after_cut = zeros.copy(), zeros.copy()
        self.piece_sizes = [[] for _ in range(self.num_clusters)]

    def add(self, clusters: np.ndarray, edges: np.ndarray) -> None:
        """One image: HxW cluster ids and its depth-edge map (same size)."""
        self.total_pixels += clusters.size
        self.images += 1
        self.pixels += np.bincount(clusters.ravel(), minlength=self.num_clusters)[: self.num_clusters]
        padded = np.pad(clusters, 1, mode="edge")
        centre = padded[1:-1, 1:-1]
        outline = ((padded[:-2, 1:-1] != centre) | (padded[2:, 1:-1] != centre) |
                   (padded[1:-1, :-2] != centre) | (padded[1:-1, 2:] != centre))
        self.outline += np.bincount(clusters[outline], minlength=self.num_clusters)[: self.num_clusters]
        self.outline_on_edges += np.bincount(clusters[outline & edges], minlength=self.num_clusters)[: self.num_clusters]
        for cluster in np.unique(clusters):
            mask = clusters == cluster
            labels, _ = ndimage.label(mask, structure=_CROSS)
            sizes = np.bincount(labels.ravel())[1:]
            sizes = sizes[sizes >= CC_MIN_AREA]
            self.pieces[cluster] += len(sizes)
            self.piece_sizes[cluster].extend(int(s) for s in sizes)
            cut, _ = ndimage.label(mask & ~edges, structure=_CROSS)
            self.pieces_after_cut[cluster] += int((np.bincount(cut.ravel())[1:] >= CC_MIN_AREA).sum())

    def table(self) -> dict[int, dict[str, float]]:
        """Per present cluster: the four statistics (plain floats)."""
        rows = {}
        image_pixels = self.total_pixels / max(1, self.images)
        for cluster in np.flatnonzero(self.pixels):
            sizes = self.piece_sizes[cluster]
            rows[int(cluster)] = {
                "area_fraction": float(self.pixels[cluster] / self.total_pixels),
                "median_piece_fraction": float(np.median(sizes) / image_pixels) if sizes else 0.0,
                "edge_boundary_ratio": float(self.outline_on_edges[cluster] / max(1, self.outline[cluster])),
                "cut_gain": float(self.pieces_after_cut[cluster] / max(1, self.pieces[cluster])),
            }
        return rows


@dataclass(frozen=True)
class Rule:
    """Thing iff rare, small-pieced and bounded by depth edges."""

    max_area_fraction: float = 0.02
    max_median_piece_fraction: float = 0.01
    min_edge_boundary_ratio: float = 0.2

    def is_thing(self, row: dict[str, float]) -> bool:
        return (row["area_fraction"] < self.max_area_fraction
                and row["median_piece_fraction"] < self.max_median_piece_fraction
                and row["edge_boundary_ratio"] >= self.min_edge_boundary_ratio)

    def describe(self) -> str:
        return (f"thing iff area_fraction < {self.max_area_fraction} and median_piece_fraction < "
                f"{self.max_median_piece_fraction} and edge_boundary_ratio >= {self.min_edge_boundary_ratio}")


def decide(statistics: ClusterStatistics, rule: Rule, num_clusters: int) -> dict:
    """The ``stuff_things.json`` content: thing and stuff ids (absent clusters count as stuff), statistics, rule."""
    rows = statistics.table()
    things = sorted(c for c, row in rows.items() if rule.is_thing(row))
    return {
        "thing_ids": things,
        "stuff_ids": [c for c in range(num_clusters) if c not in set(things)],
        "statistics": {str(c): row for c, row in rows.items()},
        "rule": rule.describe(),
        "thresholds": asdict(rule),
    }
