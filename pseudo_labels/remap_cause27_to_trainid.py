"""The original script path ``pseudo_labels/remap_cause27_to_trainid.py``: the same command as :mod:`pseudo_labels.cli.remap_cause27`."""

from pseudo_labels.cli import remap_cause27

if __name__ == "__main__":
    raise SystemExit(remap_cause27.main())
