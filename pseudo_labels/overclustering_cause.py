"""The original script path ``pseudo_labels/overclustering_cause.py``: the same command as :mod:`pseudo_labels.cli.overclustering`."""

from pseudo_labels.cli import overclustering

if __name__ == "__main__":
    raise SystemExit(overclustering.main())
