"""CAUSE: DINOv2 ViT-B/14 backbone, Segment_TR inference head, modularity codebook.

Our own implementation; parameter names are the official checkpoint keys.
"""

from refs.cause.model import CauseFeatures, load_cause

__all__ = ["CauseFeatures", "load_cause"]
