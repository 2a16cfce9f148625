"""The straightforward per-mask split: the slow reference that :func:`pseudo_labels.instances.splitting.split` is
tested against (one boolean mask per component, the published steps written out literally)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy import ndimage

from pseudo_labels.data.cityscapes import THING_TRAIN_IDS
from pseudo_labels.instances.settings import DEFAULT_DILATION_ITERS, DEFAULT_SIGMA
from pseudo_labels.instances.splitting import depth_gradient


def split_instances_reference(semantic: np.ndarray, depth: np.ndarray | None, tau: float | None, min_area: int,
                              dilation_iters: int = DEFAULT_DILATION_ITERS, sigma: float = DEFAULT_SIGMA,
                              thing_ids: Iterable[int] = THING_TRAIN_IDS) -> list[tuple[np.ndarray, int, int]]:
    """Straightforward per-mask implementation: ``[(mask, trainId, area), ...]`` in final order.

    ``depth=None`` or ``tau=None`` gives the connected-component baseline (no
    cut, no dilation). Slow; the test oracle for :func:`split_instances`.
    """
    if depth is None or tau is None:
        edges = np.zeros(semantic.shape, bool)
        dilation_iters = 0
    else:
        edges = depth_gradient(depth, sigma) > tau
    taken = np.zeros(semantic.shape, bool)
    found: list[tuple[np.ndarray, int, int]] = []
    for class_id in sorted(thing_ids):
        class_mask = semantic == class_id
        if class_mask.sum() < min_area:
            continue
        labels, count = ndimage.label(class_mask & ~edges)
        components = [labels == i for i in range(1, count + 1)]
        components = [m for m in components if m.sum() >= min_area]
        components.sort(key=lambda m: -int(m.sum()))
        for component in components:
            mask = component
            if dilation_iters > 0:
                grown = ndimage.binary_dilation(component, iterations=dilation_iters)
                mask = component | (grown & class_mask & ~taken)
            if mask.sum() < min_area:
                continue
            taken |= mask
            found.append((mask, class_id, int(mask.sum())))
    found.sort(key=lambda item: -item[2])
    return found
