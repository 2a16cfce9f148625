"""The original script path ``pseudo_labels/generate_depth_spidepth.py``: the same command as :mod:`pseudo_labels.cli.depth`."""

from pseudo_labels.cli import depth

if __name__ == "__main__":
    raise SystemExit(depth.main())
