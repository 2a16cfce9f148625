"""Semantics: CAUSE features, k-means overclustering, the dense CRF and the CAUSE-27 baseline."""
