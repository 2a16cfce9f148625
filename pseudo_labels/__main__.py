"""``python -m pseudo_labels <stage> ...``: the same entry point as the ``pseudo-labels`` command."""

from pseudo_labels.cli import main

raise SystemExit(main())
