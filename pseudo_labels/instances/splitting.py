"""Thing instances from semantics: depth-gradient splitting and the connected-component baseline.

The published algorithm (reproduced exactly, because these details decide
TP/FP/FN):

1. depth (float64) -> ``gaussian_filter(sigma)`` -> ``sobel`` along axis 1 and 0
   -> magnitude ``sqrt(gx^2 + gy^2)``; ``edges = magnitude > tau`` (strict).
2. For each thing trainId in ascending order: 4-connected components of
   ``class & ~edges``; those with >= ``min_area`` pixels are kept, largest first
   (ties keep label order). A class with fewer than ``min_area`` pixels has none.
3. Each kept component, in that order, is dilated ``dilation_iters`` times with
   the 4-neighbour cross and *reclaims* the class pixels inside the dilation
   that no earlier instance holds; its mask is ``component | reclaimed``.
   A dilation can reclaim pixels of a *later* component of the same class,
   which keeps them too: instances can overlap.
4. All instances are sorted by final area, descending (stable).

Fast path, without a mask per component: iterated cross dilation reaches the
pixels within L1 distance ``dilation_iters`` (a diamond), and by induction a
class pixel ends up in instance ``i``'s reclaimed set exactly when ``i`` is the
first kept component (in processing order) within that distance. So one
minimum filter of the component-rank image over the diamond gives, for every
pixel, the instance that reclaims it. Kept components are a prefix of the
size-sorted list, so the labelling and the filter are computed once per
(image, tau) and reused for every ``min_area``.

Each pixel lies in at most two instances (its own component, and the one that
reclaimed it), so an :class:`Instances` is two index maps, not a mask list.
:func:`pseudo_labels.instances.reference.split_instances_reference` is the straightforward per-mask version kept
as the test oracle.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pseudo_labels.data.cityscapes import THING_TRAIN_IDS
from pseudo_labels.instances.settings import CC_MIN_AREA, DEFAULT_DILATION_ITERS, DEFAULT_SIGMA, SplitSettings


_NONE = np.iinfo(np.int32).max  # rank of "no component"
_CROSS = ndimage.generate_binary_structure(2, 1)


# --------------------------------------------------------------------------- depth edges


def depth_gradient(depth: np.ndarray, sigma: float = DEFAULT_SIGMA,
                   region: tuple[slice, slice] | None = None) -> np.ndarray:
    """Sobel gradient magnitude (HxW float64) of the depth map after a Gaussian blur.

    ``depth``: HxW float, normalised to [0, 1]. ``sigma`` <= 0 skips the blur.
    Compute once per image; threshold it for every tau (:func:`depth_edges`).
    With ``region`` (a box), only that box is computed, bit for bit as on the
    whole image (the filters see the same neighbourhoods); the rest is 0.
    """
    depth = np.asarray(depth, dtype=np.float64)
    if region is None:
        return _gradient(depth, sigma)
    # the blur reaches int(4 sigma + 0.5) px (scipy's truncate=4), Sobel 1 px more
    margin = (int(4.0 * sigma + 0.5) if sigma > 0 else 0) + 1
    rows, cols = region
    outer = (slice(max(rows.start - margin, 0), min(rows.stop + margin, depth.shape[0])),
             slice(max(cols.start - margin, 0), min(cols.stop + margin, depth.shape[1])))
    inner = (slice(rows.start - outer[0].start, rows.stop - outer[0].start),
             slice(cols.start - outer[1].start, cols.stop - outer[1].start))
    gradient = np.zeros(depth.shape, np.float64)
    gradient[region] = _gradient(depth[outer], sigma)[inner]
    return gradient


def _gradient(depth: np.ndarray, sigma: float) -> np.ndarray:
    smoothed = ndimage.gaussian_filter(depth, sigma) if sigma > 0 else depth
    return np.sqrt(ndimage.sobel(smoothed, axis=1) ** 2 + ndimage.sobel(smoothed, axis=0) ** 2)


def depth_edges(gradient: np.ndarray, tau: float) -> np.ndarray:
    """HxW bool: pixels whose depth-gradient magnitude is strictly above ``tau``."""
    return gradient > tau


# --------------------------------------------------------------------------- where the things are


@dataclass(frozen=True)
class ThingPixels:
    """Where each thing class lies in one semantic map; computed once per image, shared by every config.

    ``pixels`` lists the flat indices of all thing-class pixels, class by class
    (ascending trainId), row-major within a class: the *canonical order* in
    which :class:`Instances` stores per-pixel data. ``starts[i]`` is where class
    ``classes[i]`` begins in it; ``boxes``/``crops`` are each class's bounding
    box and mask inside it.
    """

    shape: tuple[int, int]
    classes: tuple[int, ...]
    boxes: tuple[tuple[slice, slice], ...]
    crops: tuple[np.ndarray, ...]
    pixels: np.ndarray
    starts: np.ndarray

    @property
    def region(self) -> tuple[slice, slice] | None:
        """Bounding box of all thing pixels (None when there are none): the only place edges are read."""
        if not self.boxes:
            return None
        return (slice(min(b[0].start for b in self.boxes), max(b[0].stop for b in self.boxes)),
                slice(min(b[1].start for b in self.boxes), max(b[1].stop for b in self.boxes)))


def thing_pixels(semantic: np.ndarray, thing_ids: Iterable[int] = THING_TRAIN_IDS) -> ThingPixels:
    """:class:`ThingPixels` of an HxW uint8 trainId map."""
    classes, boxes, crops, pixels = [], [], [], []
    width = semantic.shape[1]
    for class_id in sorted(thing_ids):
        mask = semantic == class_id
        rows = np.flatnonzero(mask.any(axis=1))
        if len(rows) == 0:
            continue
        cols = np.flatnonzero(mask.any(axis=0))
        box = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
        crop = mask[box]
        local_r, local_c = np.nonzero(crop)
        classes.append(class_id)
        boxes.append(box)
        crops.append(crop)
        pixels.append((local_r + box[0].start).astype(np.int64) * width + (local_c + box[1].start))
    sizes = [len(p) for p in pixels]
    return ThingPixels(
        shape=tuple(semantic.shape),
        classes=tuple(classes),
        boxes=tuple(boxes),
        crops=tuple(crops),
        pixels=np.concatenate(pixels) if pixels else np.zeros(0, np.int64),
        starts=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
    )


# --------------------------------------------------------------------------- result type


def class_array(values: np.ndarray | Sequence[int]) -> np.ndarray:
    """Class (or cluster) ids as uint8, or uint16 when one is above 255 (cluster maps with k > 255)."""
    values = np.asarray(values)
    return values.astype(np.uint8 if values.size == 0 or int(values.max()) < 256 else np.uint16)


@dataclass(frozen=True)
class Instances:
    """Thing instances of one image, in final order (area descending), possibly overlapping.

    ``classes``: (n,) uint8 trainIds (uint16 for cluster ids above 255). ``areas``: (n,) int64 mask areas.
    Per pixel of ``pixels`` (flat indices into an image of size ``shape``):
    ``first`` is the index of the first instance (in order) holding it, -1 for
    none, and ``second`` the index of a later instance that also holds it
    (overlaps only), -1 for none. Pixels not listed belong to no instance.
    """

    classes: np.ndarray
    areas: np.ndarray
    pixels: np.ndarray
    first: np.ndarray
    second: np.ndarray
    shape: tuple[int, int]

    def __len__(self) -> int:
        return len(self.classes)

    def _full(self, values: np.ndarray) -> np.ndarray:
        full = np.full(self.shape[0] * self.shape[1], -1, np.int32)
        full[self.pixels] = values
        return full.reshape(self.shape)

    def first_map(self) -> np.ndarray:
        """HxW int32: :attr:`first` as an image (-1 outside instances)."""
        return self._full(self.first)

    def second_map(self) -> np.ndarray:
        """HxW int32: :attr:`second` as an image (-1 where no second instance)."""
        return self._full(self.second)

    def mask(self, index: int) -> np.ndarray:
        """HxW bool mask of instance ``index``."""
        mask = np.zeros(self.shape[0] * self.shape[1], bool)
        mask[self.pixels[(self.first == index) | (self.second == index)]] = True
        return mask.reshape(self.shape)

    def flat_masks(self) -> Iterator[np.ndarray]:
        """Each mask in order as a flat (H*W,) bool array: one reused buffer, O(pixels) in all.

        For writers that stream masks (2000 dense masks at 512x1024 are 1 GB);
        copy a row to keep it.
        """
        owners = np.concatenate([self.first, self.second])
        pixels = np.concatenate([self.pixels, self.pixels])
        held = owners >= 0
        order = np.argsort(owners[held], kind="stable")
        owners, pixels = owners[held][order], pixels[held][order]
        bounds = np.searchsorted(owners, np.arange(len(self) + 1))
        row = np.zeros(self.shape[0] * self.shape[1], bool)
        for index in range(len(self)):
            members = pixels[bounds[index]:bounds[index + 1]]
            row[members] = True
            yield row
            row[members] = False

    def masks(self) -> list[np.ndarray]:
        """All masks, in order (for tests; writers stream :meth:`flat_masks`)."""
        return [self.mask(i) for i in range(len(self))]

    def subset(self, keep: np.ndarray) -> Instances:
        """The instances where ``keep`` (n,) is True, order kept; pixels of dropped ones are freed."""
        keep = np.asarray(keep, bool)
        new_index = np.full(len(self) + 1, -1, np.int32)  # old index -1 -> -1
        new_index[np.flatnonzero(keep)] = np.arange(int(keep.sum()), dtype=np.int32)
        a, b = new_index[self.first], new_index[self.second]
        first = np.where(a >= 0, a, b)  # a dropped first instance hands the pixel to the second
        second = np.where(a >= 0, b, -1).astype(np.int32)
        return Instances(self.classes[keep], self.areas[keep], self.pixels, first.astype(np.int32), second, self.shape)

    def with_classes(self, classes: np.ndarray) -> Instances:
        """The same instances labelled with other class ids."""
        return Instances(class_array(classes), self.areas, self.pixels, self.first, self.second, self.shape)

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> Instances:
        none = np.zeros(0, np.int32)
        return cls(np.zeros(0, np.uint8), np.zeros(0, np.int64), np.zeros(0, np.int64), none, none, shape)

    @classmethod
    def from_maps(cls, classes: np.ndarray, areas: np.ndarray, first_map: np.ndarray,
                  second_map: np.ndarray) -> Instances:
        """Build from HxW ``first``/``second`` index maps (-1 = none)."""
        pixels = np.flatnonzero(first_map >= 0)
        return cls(class_array(classes), np.asarray(areas, np.int64), pixels,
                   first_map.ravel()[pixels].astype(np.int32), second_map.ravel()[pixels].astype(np.int32),
                   tuple(first_map.shape))


# --------------------------------------------------------------------------- fast path


@dataclass(frozen=True)
class ClassComponents:
    """Components of one thing class for one edge map, reusable for every ``min_area``.

    Per pixel of the class (in :class:`ThingPixels` order): ``own_rank`` is the
    rank (size-descending order) of the component holding it, ``_NONE`` on
    edges; ``reach_rank`` is the smallest rank within its dilation diamond.
    ``sizes`` are the component sizes in rank order.
    """

    class_id: int
    own_rank: np.ndarray
    reach_rank: np.ndarray
    sizes: np.ndarray


def diamond_minimum(values: np.ndarray, radius: int, fill: int = _NONE) -> np.ndarray:
    """Minimum of ``values`` over the L1 ball of ``radius`` around each pixel (outside counts as ``fill``).

    Equal to ``ndimage.minimum_filter`` with the diamond footprint that
    ``radius`` iterated 4-neighbour dilations reach, computed as ``radius``
    passes of a 5-point cross minimum on a padded copy (faster for small radii).
    """
    if radius <= 0:
        return values
    height, width = values.shape
    padded = np.full((height + 2 * radius, width + 2 * radius), fill, values.dtype)
    padded[radius:radius + height, radius:radius + width] = values
    for _ in range(radius):
        centre = padded[1:-1, 1:-1]
        low = np.minimum(np.minimum(padded[:-2, 1:-1], padded[2:, 1:-1]), np.minimum(padded[1:-1, :-2], padded[1:-1, 2:]))
        np.minimum(centre, low, out=centre)
    return padded[radius:radius + height, radius:radius + width]


def class_components(crop: np.ndarray, cut: np.ndarray | None, dilation_iters: int, class_id: int) -> ClassComponents:
    """Label ``crop & ~cut`` (4-connected), rank components by size, find each pixel's reclaiming rank.

    ``crop`` is the class mask inside its bounding box, ``cut`` the edge map on
    the same box (None: no cut, the connected-component baseline). No component
    reaches outside the box, so filtering there is exact.
    """
    region = crop if cut is None else crop & ~cut
    labels, count = ndimage.label(region, structure=_CROSS)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    order = np.argsort(-sizes, kind="stable")  # rank -> label - 1
    rank_of_label = np.empty(count + 1, np.int32)
    rank_of_label[0] = _NONE
    rank_of_label[order + 1] = np.arange(count, dtype=np.int32)
    rank_image = rank_of_label[labels]
    reach = diamond_minimum(rank_image, dilation_iters)
    return ClassComponents(class_id, rank_image[crop], reach[crop], sizes[order])


def components_for_classes(things: ThingPixels, edges: np.ndarray | None,
                           dilation_iters: int) -> list[ClassComponents]:
    """:func:`class_components` for every thing class present (ascending), on one edge map."""
    return [class_components(crop, None if edges is None else edges[box], dilation_iters, class_id)
            for class_id, box, crop in zip(things.classes, things.boxes, things.crops)]


def kept_counts(components: Sequence[ClassComponents], min_area: int) -> tuple[int, ...]:
    """How many components of each class have >= ``min_area`` pixels (a prefix of the size order).

    The instances depend on ``min_area`` only through these counts, so two
    thresholds with equal counts give identical instances.
    """
    return tuple(int(np.searchsorted(-comp.sizes, -min_area, side="right")) for comp in components)


def instances_from_components(components: Sequence[ClassComponents], min_area: int,
                              things: ThingPixels, sort_by_area: bool = True) -> Instances:
    """Instances keeping components of >= ``min_area`` pixels (see the module docstring).

    ``sort_by_area=False`` keeps the processing order (class ascending, then
    component size), which only the legacy exporter uses.
    """
    owners = np.full(len(things.pixels), -1, np.int64)
    reachers = owners.copy()
    classes, areas = [], []
    offset = 0
    for block, (comp, kept) in enumerate(zip(components, kept_counts(components, min_area))):
        if kept == 0:
            continue
        own = np.where(comp.own_rank < kept, comp.own_rank, -1)
        reach = np.where(comp.reach_rank < kept, comp.reach_rank, -1)
        reclaimed = (reach >= 0) & (reach != own)
        area = comp.sizes[:kept] + np.bincount(reach[reclaimed], minlength=kept)
        # area >= component size >= min_area: the reference's final ">= min_area" check never drops one
        span = slice(things.starts[block], things.starts[block + 1])
        owners[span] = np.where(own >= 0, own + offset, -1)
        reachers[span] = np.where(reclaimed, reach + offset, -1)
        classes.append(class_array(np.full(kept, comp.class_id)))
        areas.append(area)
        offset += kept
    if offset == 0:
        return Instances.empty(things.shape)
    all_areas = np.concatenate(areas)
    order = np.argsort(-all_areas, kind="stable") if sort_by_area else np.arange(offset)
    position = np.empty(offset + 1, np.int32)  # processing index -> final index; index -1 -> -1
    position[order] = np.arange(offset, dtype=np.int32)
    position[-1] = -1
    a, b = position[owners], position[reachers]
    both = (a >= 0) & (b >= 0)
    first = np.where(both, np.minimum(a, b), np.maximum(a, b))
    second = np.where(both, np.maximum(a, b), -1).astype(np.int32)
    return Instances(np.concatenate(classes)[order], all_areas[order].astype(np.int64), things.pixels,
                     first, second, things.shape)


def split_instances(semantic: np.ndarray, gradient: np.ndarray, tau: float, min_area: int,
                    dilation_iters: int = DEFAULT_DILATION_ITERS,
                    thing_ids: Iterable[int] = THING_TRAIN_IDS) -> Instances:
    """Depth-guided instances of one image for one (tau, min_area).

    ``semantic``: HxW uint8 trainIds. ``gradient``: :func:`depth_gradient` of the depth map.
    """
    things = thing_pixels(semantic, thing_ids)
    components = components_for_classes(things, depth_edges(gradient, tau), dilation_iters)
    return instances_from_components(components, min_area, things)


def cc_instances(semantic: np.ndarray, min_area: int = CC_MIN_AREA,
                 thing_ids: Iterable[int] = THING_TRAIN_IDS) -> Instances:
    """Connected-component baseline: 4-connected components of each thing class, >= ``min_area`` px."""
    things = thing_pixels(semantic, thing_ids)
    return instances_from_components(components_for_classes(things, None, 0), min_area, things)


def split(units_map: np.ndarray, things: Iterable[int], depth: np.ndarray | None,
          settings: SplitSettings, gradient: np.ndarray | None = None) -> Instances:
    """The instances of the thing units of one image under ``settings``: the one split every stage calls.

    ``units_map``: HxW ids at the working size (trainIds, or the units of
    :class:`pseudo_labels.instances.units.Units`); ``depth``: HxW float at the
    same size, unused (may be None) when ``settings.tau`` is None, which gives
    the connected components of each unit. ``gradient``: :func:`depth_gradient`
    of ``depth`` at ``settings.sigma`` when the caller already has it (several
    splits of one image), so it is computed once.
    """
    if not settings.uses_depth:
        return cc_instances(units_map, settings.min_area, things)
    if gradient is None:
        if depth is None:
            raise ValueError("a depth-guided split needs a depth map")
        gradient = depth_gradient(depth, settings.sigma)
    return split_instances(units_map, gradient, settings.tau, settings.min_area, settings.dilation_iters, things)
