"""Datasets: the Cityscapes label table, layout and ground-truth readers, synthetic scenes, the published centroids."""
