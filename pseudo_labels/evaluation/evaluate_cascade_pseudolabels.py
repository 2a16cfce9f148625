"""The original script path ``pseudo_labels/evaluation/evaluate_cascade_pseudolabels.py``: the same command as :mod:`pseudo_labels.cli.evaluate_cascade`."""

from pseudo_labels.cli import evaluate_cascade

if __name__ == "__main__":
    raise SystemExit(evaluate_cascade.main())
