"""The original script path ``pseudo_labels/restore_centroids_k80.py``: the same command as :mod:`pseudo_labels.cli.restore_centroids`."""

from pseudo_labels.cli import restore_centroids

if __name__ == "__main__":
    raise SystemExit(restore_centroids.main())
