"""The original script path ``pseudo_labels/classify_stuff_things.py``: the same command as :mod:`pseudo_labels.cli.stuff_things`."""

from pseudo_labels.cli import stuff_things

if __name__ == "__main__":
    raise SystemExit(stuff_things.main())
