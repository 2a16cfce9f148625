"""The original script path ``pseudo_labels/generate_panoptic_pseudolabels.py``: the same command as :mod:`pseudo_labels.cli.panoptic`."""

from pseudo_labels.cli import panoptic

if __name__ == "__main__":
    raise SystemExit(panoptic.main())
