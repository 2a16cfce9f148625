"""The original exporter's instance split (``--legacy_split``), kept for comparison with published CUPS runs.

The evaluated algorithm -- the one the sweep scores and the exports write by
default -- is :func:`pseudo_labels.instances.splitting.split` painted by
:func:`pseudo_labels.instances.painting.instance_id_map`.
"""

from __future__ import annotations

import numpy as np

from pseudo_labels.instances import splitting as inst
from pseudo_labels.instances.settings import SplitSettings
from pseudo_labels.instances.painting import drawn_instance_map



def legacy_instance_map(clusters: np.ndarray, thing_clusters: tuple[int, ...], depth: np.ndarray | None,
                        settings: SplitSettings) -> np.ndarray:
    """The original exporter's instance map: split per raw thing cluster at the size given.

    ``depth`` (bilinearly upsampled to that size by the caller) is min-max
    normalised first; instance ids are 1..N in processing order (cluster
    ascending, then component size), and where instances overlap the later one
    wins. Kept for comparison with published CUPS runs; the evaluated algorithm
    is :func:`pseudo_labels.instances.splitting.split` + :func:`pseudo_labels.instances.painting.instance_id_map`.
    """
    things = inst.thing_pixels(clusters, thing_clusters)
    if not settings.uses_depth:
        components = inst.components_for_classes(things, None, 0)
    else:
        low, high = float(depth.min()), float(depth.max())
        normalised = (depth - low) / (high - low) if high - low > 0 else np.zeros_like(depth)
        edges = inst.depth_edges(inst.depth_gradient(normalised, settings.sigma), settings.tau)
        components = inst.components_for_classes(things, edges, settings.dilation_iters)
    found = inst.instances_from_components(components, settings.min_area, things, sort_by_area=False)
    return drawn_instance_map(found)
