"""Training labels: instances for training, CUPS' loader rules, the original panoptic assembly, relabelling."""
