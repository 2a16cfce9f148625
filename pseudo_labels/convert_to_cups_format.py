"""The original script path ``pseudo_labels/convert_to_cups_format.py``: the same command as :mod:`pseudo_labels.cli.cups`."""

from pseudo_labels.cli import cups

if __name__ == "__main__":
    raise SystemExit(cups.main())
