"""Unsupervised panoptic pseudo-labels for Cityscapes."""

__version__ = "0.1.0"
