"""The original script path ``pseudo_labels/extract_dinov2_features.py``: the same command as :mod:`pseudo_labels.cli.dinov2_features`."""

from pseudo_labels.cli import dinov2_features

if __name__ == "__main__":
    raise SystemExit(dinov2_features.main())
