"""The original script path ``pseudo_labels/generate_semantic_pseudolabels_cause.py``: the same command as :mod:`pseudo_labels.cli.cause27`."""

from pseudo_labels.cli import cause27

if __name__ == "__main__":
    raise SystemExit(cause27.main())
