"""The original script path ``pseudo_labels/generate_overclustered_semantics.py``: the same command as :mod:`pseudo_labels.cli.semantics`."""

from pseudo_labels.cli import semantics

if __name__ == "__main__":
    raise SystemExit(semantics.main())
