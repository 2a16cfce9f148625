"""Help text shared by every stage's command line: each default shown once, usage lines that name the stage."""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``(default: X)`` after an option's help, unless the help already states its default.

    Switches (default False) and options without a default (None) get no
    suffix: "(default: False)" after "--overwrite" says nothing, and after a
    help that explains a computed default it would contradict it.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "(default" in text or action.default in (None, False, argparse.SUPPRESS) or action.required:
            return text
        return f"{text} (default: %(default)s)"
