"""Evaluation front ends (the original tools' paths under ``pseudo_labels/evaluation/``)."""
