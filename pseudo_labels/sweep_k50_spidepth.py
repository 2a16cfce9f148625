"""The original script path ``pseudo_labels/sweep_k50_spidepth.py``: the same command as :mod:`pseudo_labels.cli.sweep`."""

from pseudo_labels.cli import sweep

if __name__ == "__main__":
    raise SystemExit(sweep.main())
