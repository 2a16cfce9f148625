"""Evaluation: the panoptic quality protocols, the (tau, A_min) sweep, per-segment errors, instance metrics.

``evaluate_cascade_pseudolabels.py`` here is the original script's path, a shell over
:mod:`pseudo_labels.cli.evaluate_cascade`.
"""
