"""DINOv2 ViT-B/14 backbone, CAUSE Segment_TR inference head and codebook (issue: CAUSE-TR features)."""
