"""The original script path ``pseudo_labels/remap_raw_clusters_to_trainid.py``: the same command as :mod:`pseudo_labels.cli.remap_clusters`."""

from pseudo_labels.cli import remap_clusters

if __name__ == "__main__":
    raise SystemExit(remap_clusters.main())
