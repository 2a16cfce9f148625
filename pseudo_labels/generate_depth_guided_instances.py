"""The original script path ``pseudo_labels/generate_depth_guided_instances.py``: the same command as :mod:`pseudo_labels.cli.instances`."""

from pseudo_labels.cli import instances

if __name__ == "__main__":
    raise SystemExit(instances.main())
